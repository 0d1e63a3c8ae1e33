"""Impacts and IPMA on 0-100 construct scores.

Tolerances:
- importance and performance (constructs and items), impacts: against a direct loop
  implementation written here from the published formulas (fit_pls once, normalised
  unstandardized weights, 0-100 scores, OLS of each outcome's 0-100 score on its
  predictors, total effects by path tracing): 1e-8;
- each bootstrap replicate against the same reference on the resampled rows refitted
  with fit_pls: 1e-8;
- intervals against numpy's type-7 quantiles of the draws: 1e-12;
- same seed: identical draws (exact).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from models.fit import fit_model
from models.pls import fit_pls
from models.syntax import parse_model
from scoring.impacts import IMPACT_COLUMNS, impacts
from scoring.ipma import CONSTRUCT_COLUMNS, ITEM_COLUMNS, ipma

TOL = 1e-8
DRIVERS = ("image", "network", "billing", "hall", "new_services", "complaint")


@pytest.fixture(scope="module")
def survey(sample_scores):
    """The sample model, its item scores ("6" = cannot answer as NaN) and its PLS fit."""
    spec, _, frame = sample_scores
    return spec, frame, fit_pls(spec, frame)


@pytest.fixture(scope="module")
def sample_map(survey):
    spec, frame, result = survey
    return ipma(result, frame, (1, 5), "satisfaction", n_boot=500, random_state=7)


# --- the independent reference ----------------------------------------------------------


def loop_reference(result, frame, low=1.0, high=5.0):
    """0-100 scores, OLS paths between them, total effects by path tracing, IPMA inputs."""
    spec = result.spec
    w_std = {(r.lhs, r.rhs): r.estimate for r in result.weights.itertuples()}
    scores, weight, item_perf = {}, {}, {}
    for construct in spec.constructs:
        u, columns = {}, {}
        for item in spec.blocks[construct]:
            x = ((frame[item] - low) / (high - low) * 100.0).to_numpy()
            seen = ~np.isnan(x)
            item_perf[item] = x[seen].mean()
            filled = np.where(seen, x, item_perf[item])  # the model's mean replacement
            columns[item] = filled
            u[item] = w_std[(construct, item)] / filled.std(ddof=1)
        score = np.zeros(len(frame))
        for item in spec.blocks[construct]:
            weight[(construct, item)] = u[item] / sum(u.values())
            score += weight[(construct, item)] * columns[item]
        scores[construct] = score
    direct = {}
    for outcome in spec.endogenous:
        preds = list(spec.predictors(outcome))
        design = np.column_stack([np.ones(len(frame))] + [scores[p] for p in preds])
        coef = np.linalg.lstsq(design, scores[outcome], rcond=None)[0]
        for p, b in zip(preds, coef[1:], strict=True):
            direct[(outcome, p)] = b

    def total(outcome, predictor):
        value = 0.0
        for (o, m), b in direct.items():
            if o != outcome:
                continue
            value += b if m == predictor else b * total(m, predictor)
        return value

    return {
        "scores": scores,
        "weight": weight,
        "item_performance": item_perf,
        "performance": {c: s.mean() for c, s in scores.items()},
        "direct": direct,
        "total": total,
    }


def reference_map(result, frame, target):
    ref = loop_reference(result, frame)
    spec = result.spec
    constructs = [c for c in spec.constructs if c != target and ref["total"](target, c) != 0]
    items = [(c, i) for c in constructs for i in spec.blocks[c]]
    return {
        "construct_importance": np.array([ref["total"](target, c) for c in constructs]),
        "construct_performance": np.array([ref["performance"][c] for c in constructs]),
        "item_importance": np.array(
            [ref["weight"][(c, i)] * ref["total"](target, c) for c, i in items]
        ),
        "item_performance": np.array([ref["item_performance"][i] for _, i in items]),
        "target_performance": ref["performance"][target],
        "constructs": constructs,
        "items": items,
    }


# --- point estimates against the reference ----------------------------------------------


@pytest.mark.parametrize("target", ["satisfaction", "loyalty"])
def test_ipma_sample_matches_loop_reference_within_1e8(survey, target) -> None:
    spec, frame, result = survey
    out = ipma(result, frame, (1, 5), target, n_boot=0)
    ref = reference_map(result, frame, target)
    assert list(out.constructs.columns) == list(CONSTRUCT_COLUMNS)
    assert list(out.items.columns) == list(ITEM_COLUMNS)
    assert list(out.constructs["construct"]) == ref["constructs"]
    assert list(zip(out.items["construct"], out.items["item"], strict=True)) == ref["items"]
    gaps = [
        np.abs(out.constructs["importance"] - ref["construct_importance"]).max(),
        np.abs(out.constructs["performance"] - ref["construct_performance"]).max(),
        np.abs(out.items["importance"] - ref["item_importance"]).max(),
        np.abs(out.items["performance"] - ref["item_performance"]).max(),
        abs(out.target_performance - ref["target_performance"]),
    ]
    assert max(gaps) < TOL
    assert out.constructs["importance_ci_low"].isna().all()  # no bootstrap, no interval


def test_ipma_loyalty_maps_indirect_drivers_through_satisfaction(survey) -> None:
    spec, frame, result = survey
    out = ipma(result, frame, (1, 5), "loyalty", n_boot=0)
    assert set(out.constructs["construct"]) == set(DRIVERS) | {"satisfaction"}


def test_impacts_match_ols_paths_and_traced_totals_on_0_100_scores_within_1e8(survey) -> None:
    spec, frame, result = survey
    out = impacts(result, frame, (1, 5), n_boot=0)
    ref = loop_reference(result, frame)
    assert list(out.impacts.columns) == list(IMPACT_COLUMNS)
    assert len(out.impacts) == len(result.effects)
    for row in out.impacts.itertuples():
        assert abs(row.impact - ref["total"](row.lhs, row.rhs)) < TOL
        assert abs(row.impact_direct - ref["direct"].get((row.lhs, row.rhs), 0.0)) < TOL
    assert out.impact("loyalty", "satisfaction") == pytest.approx(
        ref["total"]("loyalty", "satisfaction"), abs=TOL
    )


def test_impacts_equal_standardized_total_times_ratio_of_0_100_score_sds(survey) -> None:
    spec, frame, result = survey
    out = impacts(result, frame, (1, 5), n_boot=0)
    sd = {c: s.std(ddof=1) for c, s in loop_reference(result, frame)["scores"].items()}
    effects = result.effects.set_index(["lhs", "rhs"])["total"]
    for row in out.impacts.itertuples():
        beta = effects[(row.lhs, row.rhs)]
        assert row.std_total == pytest.approx(beta, abs=1e-12)
        assert abs(row.impact - beta * sd[row.lhs] / sd[row.rhs]) < TOL


# --- the sample survey's story ----------------------------------------------------------


def test_ipma_sample_network_is_weakest_and_most_important_driver_of_satisfaction(
    sample_map,
) -> None:
    table = sample_map.constructs.set_index("construct")
    assert set(table.index) == set(DRIVERS)
    assert table["performance"].idxmin() == "network"
    assert table["importance"].idxmax() == "network"
    assert table["importance"].idxmin() == "new_services"
    # The intervals separate the most and the least important driver.
    assert (
        table.loc["network", "importance_ci_low"] > table.loc["new_services", "importance_ci_high"]
    )
    # Every point estimate lies inside its own interval.
    for axis in ("importance", "performance"):
        assert (table[f"{axis}_ci_low"] < table[axis]).all()
        assert (table[axis] < table[f"{axis}_ci_high"]).all()


# --- bootstrap --------------------------------------------------------------------------


def test_ipma_intervals_are_percentiles_of_the_kept_draws(sample_map) -> None:
    d = sample_map.draws
    assert d.n_kept == 500 and d.n_failed == 0 and d.seed == 7
    assert d.construct_importance.shape == (500, len(sample_map.constructs))
    assert d.item_performance.shape == (500, len(sample_map.items))
    low, high = np.quantile(d.item_importance, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(sample_map.items["importance_ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(sample_map.items["importance_ci_high"], high, atol=1e-12)
    low, high = np.quantile(d.construct_performance, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(sample_map.constructs["performance_ci_low"], low, atol=1e-12)
    assert d.constructs == tuple(sample_map.constructs["construct"])
    with pytest.raises(ValueError):
        d.construct_importance[0, 0] = 0.0


def test_ipma_bootstrap_same_seed_reproduces_draws_exactly(survey, sample_map) -> None:
    spec, frame, result = survey
    again = ipma(result, frame, (1, 5), "satisfaction", n_boot=500, random_state=7)
    for name in ("construct_importance", "construct_performance", "item_importance"):
        np.testing.assert_array_equal(getattr(again.draws, name), getattr(sample_map.draws, name))
    pd.testing.assert_frame_equal(again.items, sample_map.items)
    other = ipma(result, frame, (1, 5), "satisfaction", n_boot=20, random_state=8)
    assert not np.array_equal(
        other.draws.construct_importance, again.draws.construct_importance[:20]
    )


def test_ipma_bootstrap_without_seed_records_one_that_reproduces_it(survey) -> None:
    spec, frame, result = survey
    first = ipma(result, frame, (1, 5), "satisfaction", n_boot=10)
    seed = first.provenance["seed"]
    assert isinstance(seed, int)
    again = ipma(result, frame, (1, 5), "satisfaction", n_boot=10, random_state=seed)
    np.testing.assert_array_equal(first.draws.item_importance, again.draws.item_importance)
    from_generator = ipma(
        result, frame, (1, 5), "satisfaction", n_boot=10, random_state=np.random.default_rng(seed)
    )
    np.testing.assert_array_equal(first.draws.item_importance, from_generator.draws.item_importance)


def test_ipma_bootstrap_replicates_equal_loop_reference_on_refitted_resamples_1e8(
    survey,
) -> None:
    spec, frame, result = survey
    n_boot, seed = 2, 99
    out = ipma(result, frame, (1, 5), "satisfaction", n_boot=n_boot, random_state=seed)
    rows = np.random.default_rng(seed).integers(0, len(frame), size=(n_boot, len(frame)))
    for b in range(n_boot):
        resample = frame.iloc[rows[b]].reset_index(drop=True)
        ref = reference_map(fit_pls(spec, resample), resample, "satisfaction")
        for name in ("construct_importance", "construct_performance", "item_importance",
                     "item_performance"):  # fmt: skip
            assert np.abs(getattr(out.draws, name)[b] - ref[name]).max() < TOL
        assert abs(out.draws.target_performance[b] - ref["target_performance"]) < TOL


def test_ipma_bootstrap_discards_and_counts_resamples_with_a_constant_item() -> None:
    rng = np.random.default_rng(4)
    n = 30
    f = rng.normal(size=n)
    g = 0.6 * f + 0.8 * rng.normal(size=n)

    def item(latent):
        return np.clip(np.round(3 + latent + 0.7 * rng.normal(size=n)), 1, 5)

    frame = pd.DataFrame({"a1": item(f), "a2": item(f), "b1": item(g), "b2": item(g)})
    frame["a3"] = 1.0
    frame.loc[0, "a3"] = 2.0  # a resample without row 0 has a3 constant
    result = fit_pls("A =~ a1 + a2 + a3\nB =~ b1 + b2\nB ~ A", frame)
    out = ipma(result, frame, (1, 5), "B", n_boot=200, random_state=1)
    assert 40 < out.draws.n_failed < 120  # (29/30)^30 = 36% of resamples expected
    assert out.draws.n_kept == 200 - out.draws.n_failed
    assert "bootstrap-failed-resamples" in {w.code for w in out.warnings}


# --- weights, warnings, errors, the result object ---------------------------------------


def test_ipma_respondent_weights_move_performance_not_importance(survey) -> None:
    spec, frame, result = survey
    weights = np.where(frame["net_moving"] >= 4, 3.0, 1.0)  # over-weight happy customers
    plain = ipma(result, frame, (1, 5), "satisfaction", n_boot=0)
    weighted = ipma(result, frame, (1, 5), "satisfaction", weights=weights, n_boot=0)
    np.testing.assert_allclose(
        weighted.constructs["importance"], plain.constructs["importance"], atol=1e-12
    )
    seen = frame["net_moving"].notna()
    want = np.average((frame.loc[seen, "net_moving"] - 1) / 4 * 100, weights=weights[seen])
    got = weighted.items.set_index("item").loc["net_moving", "performance"]
    assert abs(got - want) < TOL
    assert got > plain.items.set_index("item").loc["net_moving", "performance"] + 1.0


def test_ipma_bad_measurement_model_warnings_travel_onto_the_map(survey) -> None:
    spec, frame, _ = survey
    noisy = frame.assign(noise=np.random.default_rng(0).integers(1, 6, len(frame)).astype(float))
    model = parse_model(spec.to_lavaan().replace("new_ease", "new_ease + noise", 1))
    fit = fit_model(model, noisy)
    out = ipma(fit, noisy, (1, 5), "satisfaction", n_boot=0)
    assert {"low-ave", "low-alpha"} <= {w.code for w in out.warnings}
    codes = [w["code"] for w in out.to_dict()["warnings"]]
    assert "low-ave" in codes
    assert "low-ave" in out.summary()
    imp = impacts(fit, noisy, (1, 5), n_boot=0)
    assert "low-ave" in {w.code for w in imp.warnings}


def test_ipma_not_converged_model_carries_its_error_warning(survey) -> None:
    spec, frame, _ = survey
    result = fit_pls(spec, frame, max_iter=1)
    out = ipma(result, frame, (1, 5), "satisfaction", n_boot=0)
    errors = [w for w in out.warnings if w.severity == "error"]
    assert [w.code for w in errors] == ["not-converged"]


@pytest.mark.parametrize(
    ("target", "match"), [("image", "no predictors"), ("nps", "not a construct")]
)
def test_ipma_exogenous_or_unknown_target_raises(survey, target, match) -> None:
    spec, frame, result = survey
    with pytest.raises(ValueError, match=match):
        ipma(result, frame, (1, 5), target, n_boot=0)


def test_ipma_sem_fit_raises_type_error() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(300, 1))
    frame = pd.DataFrame(
        np.clip(np.round(3 + f + rng.normal(size=(300, 4))), 1, 5), columns=["a1", "a2", "b1", "b2"]
    )
    fit = fit_model("A =~ a1 + a2\nB =~ b1 + b2\nB ~ A", frame, engine="sem")
    with pytest.raises(TypeError, match="PLS"):
        ipma(fit, frame, (1, 5), "B", n_boot=0)


def test_ipma_result_is_frozen_and_reports_as_text_html_and_json(survey) -> None:
    spec, frame, result = survey
    out = ipma(result, frame, (1, 5), "satisfaction", n_boot=20, random_state=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.target = "loyalty"  # type: ignore[misc]
    text = out.summary()
    assert "IPMA for satisfaction" in text and "net_data_speed" in text
    assert "<table" in out._repr_html_()
    data = json.loads(json.dumps(out.to_dict(include_draws=True)))
    assert data["target"] == "satisfaction"
    assert len(data["draws"]["construct_importance"]) == 20
    assert data["draws"]["constructs"] == list(DRIVERS)
    assert data["provenance"]["seed"] == 3
    assert "draws" not in out.to_dict()
    imp = impacts(result, frame, (1, 5), n_boot=20, random_state=3)
    assert "loyalty" in imp.summary()
    assert json.loads(json.dumps(imp.to_dict()))["impacts"][0]["lhs"] == "satisfaction"
