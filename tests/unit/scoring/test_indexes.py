"""0-100 rescaling and ACSI-style construct indexes.

Tolerances:
- indexes, normalised weights, item means and respondent scores against the direct loop
  implementation below (published formulas: Fornell et al. 1996): 1e-8;
- invariance of the index to a linear recoding of raw item codes (bounds recoded too):
  1e-8;
- each bootstrap replicate against the loop reference on the resampled rows refitted
  with fit_pls: 1e-8;
- same seed: draws identical (exact).
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
from scoring.indexes import INDEX_COLUMNS, construct_indexes, rescale

TOL = 1e-8


@pytest.fixture(scope="module")
def survey(sample_scores):
    """The sample model, its item scores ("6" = cannot answer as NaN) and its PLS fit."""
    spec, _, frame = sample_scores
    return spec, frame, fit_pls(spec, frame)


# --- the independent reference: loops over the published formulas ---------------------


def loop_reference(result, frame, bounds, weights=None):
    """Index, normalised weights, item means and scores from the formulas, item by item."""
    spec = result.spec
    std_weight = {(r.lhs, r.rhs): r.estimate for r in result.weights.itertuples()}
    out = {"index": {}, "weight": {}, "item_mean": {}, "scores": {}}
    v = np.ones(len(frame)) if weights is None else np.asarray(weights, float)
    for construct in spec.constructs:
        items = spec.blocks[construct]
        u = {}
        for item in items:
            low, high = bounds[item]
            x = ((frame[item] - low) / (high - low) * 100.0).to_numpy()
            seen = ~np.isnan(x)
            # mean replacement with the plain mean (the model's) for the sd ...
            plain = np.where(seen, x, x[seen].mean())
            sd = np.sqrt(((plain - plain.mean()) ** 2).sum() / (len(plain) - 1))
            u[item] = std_weight[(construct, item)] / sd
            # ... and the respondent-weighted mean for performance.
            out["item_mean"][item] = (v[seen] * x[seen]).sum() / v[seen].sum()
        total = sum(u.values())
        score = np.zeros(len(frame))
        index = 0.0
        for item in items:
            w = u[item] / total
            out["weight"][(construct, item)] = w
            index += w * out["item_mean"][item]
            low, high = bounds[item]
            x = ((frame[item] - low) / (high - low) * 100.0).to_numpy()
            score += w * np.where(np.isnan(x), out["item_mean"][item], x)
        out["index"][construct] = index
        out["scores"][construct] = score
    return out


def five_point(items):
    return {item: (1.0, 5.0) for item in items}


# --- rescale ----------------------------------------------------------------------------


def test_rescale_observed_2_to_4_still_maps_scale_ends_1_to_0_and_5_to_100() -> None:
    frame = pd.DataFrame({"a": [2.0, 3.0, 4.0, np.nan]})
    out = rescale(frame, (1, 5))
    np.testing.assert_allclose(out["a"].to_numpy()[:3], [25.0, 50.0, 75.0], atol=1e-12)
    assert np.isnan(out["a"].iloc[3])
    ends = rescale(pd.DataFrame({"a": [1.0, 5.0]}), (1, 5))
    assert ends["a"].tolist() == [0.0, 100.0]


def test_rescale_mapping_uses_each_items_bounds_and_keeps_the_index() -> None:
    frame = pd.DataFrame({"a": [1.0, 5.0], "nps": [0.0, 7.0], "other": ["x", "y"]}, index=[7, 9])
    out = rescale(frame, {"a": (1, 5), "nps": (0, 10)})
    assert list(out.columns) == ["a", "nps"] and list(out.index) == [7, 9]
    assert out["nps"].tolist() == [0.0, 70.0]


def test_rescale_questionnaire_bounds_come_from_the_choice_list(sample_questionnaire) -> None:
    frame = pd.DataFrame({"net_moving": [1.0, 4.0], "sat_overall": [5.0, 2.0]})
    out = rescale(frame, sample_questionnaire)
    assert out.to_numpy().tolist() == [[0.0, 100.0], [75.0, 25.0]]


def test_rescale_cannot_answer_code_6_left_as_a_number_raises() -> None:
    with pytest.raises(ValueError, match="outside its scale"):
        rescale(pd.DataFrame({"a": [1.0, 6.0]}), (1, 5))


@pytest.mark.parametrize("bounds", [(5, 1), (3, 3), {"b": (1, 5)}])
def test_rescale_invalid_or_missing_bounds_raise(bounds) -> None:
    with pytest.raises(ValueError):
        rescale(pd.DataFrame({"a": [1.0, 2.0]}), bounds)


# --- the PLS-weighted index -------------------------------------------------------------


def test_pls_weighted_index_sample_matches_loop_reference_within_1e8(survey) -> None:
    spec, frame, result = survey
    bounds = five_point(spec.observed)
    ref = loop_reference(result, frame, bounds)
    out = construct_indexes(result, frame, bounds, n_boot=0)
    assert list(out.indexes.columns) == list(INDEX_COLUMNS)
    assert (out.indexes["method"] == "pls-weighted").all()
    got = dict(zip(out.indexes["construct"], out.indexes["index"], strict=True))
    assert max(abs(got[c] - ref["index"][c]) for c in spec.constructs) < TOL
    for row in out.items.itertuples():
        assert abs(row.weight - ref["weight"][(row.construct, row.item)]) < TOL
        assert abs(row.performance - ref["item_mean"][row.item]) < TOL
    ref_scores = pd.DataFrame(ref["scores"])
    assert np.abs(out.scores.to_numpy() - ref_scores[list(spec.constructs)].to_numpy()).max() < TOL
    # The mean 0-100 score is the index; scores are an affine map of the model's scores.
    np.testing.assert_allclose(out.scores.mean().to_numpy(), out.indexes["index"], atol=TOL)
    corr = np.corrcoef(out.scores["network"], result.scores["network"])[0, 1]
    assert corr == pytest.approx(1.0, abs=1e-12)


def test_pls_weighted_index_equal_scale_items_use_models_unstandardized_weights(survey) -> None:
    spec, frame, result = survey
    out = construct_indexes(result, frame, five_point(spec.observed), n_boot=0)
    uw = result.unstandardized_weights
    expected = uw["weight"] / uw.groupby("lhs")["weight"].transform("sum")
    np.testing.assert_allclose(out.items["weight"].to_numpy(), expected.to_numpy(), atol=TOL)


def test_mean_index_is_labelled_mean_and_matches_mean_of_item_means_within_1e8(survey) -> None:
    spec, frame, result = survey
    out = construct_indexes(result, frame, five_point(spec.observed), method="mean", n_boot=0)
    assert (out.indexes["method"] == "mean").all()
    for construct in spec.constructs:
        items = list(spec.blocks[construct])
        expected = np.mean([((frame[i].dropna() - 1) / 4 * 100).mean() for i in items])
        assert abs(out.index(construct) - expected) < TOL
    # A plain block mapping needs no model.
    blocks = {c: list(spec.blocks[c]) for c in spec.constructs}
    plain = construct_indexes(blocks, frame, five_point(spec.observed), method="mean", n_boot=0)
    np.testing.assert_allclose(plain.indexes["index"], out.indexes["index"], atol=TOL)


def test_pls_weighted_index_from_a_block_mapping_raises_type_error(survey) -> None:
    spec, frame, _ = survey
    with pytest.raises(TypeError, match="PLSResult"):
        construct_indexes({"network": ["net_moving"]}, frame, (1, 5), n_boot=0)


def test_index_invariant_to_linear_recoding_of_items_with_bounds_recoded_within_1e8(
    survey,
) -> None:
    spec, frame, result = survey
    # Recode 1..5 as 10, 12.5, ..., 20 (and one block on its own 0..10 scale).
    recoded, bounds = frame.copy(), {}
    for item in spec.observed:
        a, b = (0.0, 2.5) if item.startswith("net_") else (7.5, 2.5)
        recoded[item] = a + b * frame[item]
        bounds[item] = (a + b * 1.0, a + b * 5.0)
    refit = fit_pls(spec, recoded)
    for method in ("pls-weighted", "mean"):
        got = construct_indexes(refit, recoded, bounds, method=method, n_boot=0)
        want = construct_indexes(result, frame, five_point(spec.observed), method=method, n_boot=0)
        assert np.abs(got.indexes["index"] - want.indexes["index"]).max() < TOL


def test_index_mixed_scales_in_a_block_weights_use_0_100_sds_within_1e8(survey) -> None:
    spec, frame, _ = survey
    # One network item on a 0-10 scale: normalisation must use the 0-100 sds.
    mixed = frame.copy()
    mixed["net_coverage"] = (frame["net_coverage"] - 1.0) * 2.5
    bounds = five_point(spec.observed) | {"net_coverage": (0.0, 10.0)}
    result = fit_pls(spec, mixed)
    ref = loop_reference(result, mixed, bounds)
    out = construct_indexes(result, mixed, bounds, n_boot=0)
    assert abs(out.index("network") - ref["index"]["network"]) < TOL
    # A linear recoding of one item with its bounds leaves the index unchanged.
    same_scale = construct_indexes(fit_pls(spec, frame), frame, five_point(spec.observed), n_boot=0)
    assert abs(out.index("network") - same_scale.index("network")) < TOL


def test_respondent_weights_weight_the_item_means_within_1e8(survey) -> None:
    spec, frame, result = survey
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.2, 3.0, len(frame))
    weighted = frame.assign(w=weights)
    bounds = five_point(spec.observed)
    ref = loop_reference(result, frame, bounds, weights=weights)
    by_column = construct_indexes(result, weighted, bounds, weights="w", n_boot=0)
    by_array = construct_indexes(result, frame, bounds, weights=weights, n_boot=0)
    for out in (by_column, by_array):
        for c in spec.constructs:
            assert abs(out.index(c) - ref["index"][c]) < TOL
        np.testing.assert_allclose(
            np.average(out.scores.to_numpy(), axis=0, weights=weights),
            out.indexes["index"],
            atol=TOL,
        )
    assert by_column.provenance["weighted"] is True
    unweighted = construct_indexes(result, frame, bounds, n_boot=0)
    assert np.abs(unweighted.indexes["index"] - by_array.indexes["index"]).max() > 0.01


@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_respondent_weights_negative_or_nan_raise(survey, bad) -> None:
    spec, frame, result = survey
    weights = np.ones(len(frame))
    weights[3] = bad
    with pytest.raises(ValueError, match="weights"):
        construct_indexes(result, frame, (1, 5), weights=weights, n_boot=0)


def test_index_frame_other_than_the_fitted_data_raises(survey) -> None:
    spec, frame, result = survey
    with pytest.raises(ValueError, match="not the data the model was fitted to"):
        construct_indexes(result, frame.iloc[:-1], (1, 5), n_boot=0)


def test_index_casewise_model_uses_complete_rows_only(survey) -> None:
    spec, frame, _ = survey
    result = fit_pls(spec, frame, missing="casewise")
    out = construct_indexes(result, frame, (1, 5), n_boot=0)
    complete = frame.dropna()
    ref = loop_reference(result, complete, five_point(spec.observed))
    assert out.provenance["n_obs"] == len(complete)
    assert max(abs(out.index(c) - ref["index"][c]) for c in spec.constructs) < TOL
    assert list(out.scores.index) == list(complete.index)


# --- bootstrap --------------------------------------------------------------------------


def test_index_bootstrap_same_seed_reproduces_draws_and_intervals_exactly(survey) -> None:
    spec, frame, result = survey
    a = construct_indexes(result, frame, (1, 5), n_boot=60, random_state=11)
    b = construct_indexes(result, frame, (1, 5), n_boot=60, random_state=11)
    c = construct_indexes(result, frame, (1, 5), n_boot=60, random_state=12)
    assert a.draws.shape == (60, len(spec.constructs))
    np.testing.assert_array_equal(a.draws, b.draws)
    pd.testing.assert_frame_equal(a.indexes, b.indexes)
    assert not np.array_equal(a.draws, c.draws)
    assert (a.indexes["ci_low"] < a.indexes["index"]).all()
    assert (a.indexes["index"] < a.indexes["ci_high"]).all()
    assert a.provenance["seed"] == 11


def test_index_bootstrap_replicates_equal_loop_reference_on_refitted_resamples_1e8(
    survey,
) -> None:
    spec, frame, result = survey
    n_boot, seed = 3, 2026
    out = construct_indexes(result, frame, (1, 5), n_boot=n_boot, random_state=seed)
    # fit_pls's resample stream: rng.integers(0, n, n) per resample.
    rows = np.random.default_rng(seed).integers(0, len(frame), size=(n_boot, len(frame)))
    bounds = five_point(spec.observed)
    for b in range(n_boot):
        resample = frame.iloc[rows[b]].reset_index(drop=True)
        ref = loop_reference(fit_pls(spec, resample), resample, bounds)
        want = np.array([ref["index"][c] for c in spec.constructs])
        assert np.abs(out.draws[b] - want).max() < TOL


def test_mean_index_bootstrap_resamples_only_means(survey) -> None:
    spec, frame, result = survey
    out = construct_indexes(result, frame, (1, 5), method="mean", n_boot=40, random_state=3)
    rows = np.random.default_rng(3).integers(0, len(frame), size=(40, len(frame)))
    resample = frame.iloc[rows[7]]
    want = np.mean([((resample[i].dropna() - 1) / 4 * 100).mean() for i in spec.blocks["hall"]])
    assert abs(out.draws[7, list(spec.constructs).index("hall")] - want) < TOL


# --- warnings, result object ------------------------------------------------------------


def test_index_bad_measurement_model_warnings_travel_onto_the_index(survey) -> None:
    spec, frame, _ = survey
    noisy = frame.assign(noise=np.random.default_rng(0).integers(1, 6, len(frame)).astype(float))
    model = parse_model(spec.to_lavaan().replace("new_ease", "new_ease + noise", 1))
    fit = fit_model(model, noisy)
    out = construct_indexes(fit, noisy, (1, 5), n_boot=0)
    codes = {w.code for w in out.warnings}
    assert {"low-ave", "low-alpha", "missing-data"} <= codes
    assert [w.code for w in out.warnings[: len(fit.warnings)]] == [w.code for w in fit.warnings]


def test_index_reverse_coded_item_gives_negative_outer_weight_warning(survey) -> None:
    spec, frame, _ = survey
    flipped = frame.assign(net_dropped=6.0 - frame["net_dropped"])
    out = construct_indexes(fit_pls(spec, flipped), flipped, (1, 5), n_boot=0)
    bad = [w for w in out.warnings if w.code == "negative-outer-weight"]
    assert [w.subject for w in bad] == ["net_dropped"]


def test_index_result_is_frozen_and_reports_as_text_html_and_json(survey) -> None:
    spec, frame, result = survey
    out = construct_indexes(result, frame, (1, 5), n_boot=20, random_state=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.method = "mean"  # type: ignore[misc]
    with pytest.raises(ValueError):
        out.draws[0, 0] = 1.0
    text = out.summary()
    assert "pls-weighted" in text and "network" in text and "missing-data" in text
    assert "<table" in out._repr_html_()
    data = json.loads(json.dumps(out.to_dict(include_draws=True)))
    assert data["method"] == "pls-weighted" and len(data["draws"]) == 20
    assert data["provenance"]["model"]["data_sha256"] == result.provenance["data_sha256"]
    assert data["provenance"]["bounds"]["net_moving"] == [1.0, 5.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"method": "median"}, "method"), ({"n_boot": 1}, "n_boot"), ({"level": 1.0}, "level")],
)
def test_index_invalid_settings_raise(survey, kwargs, match) -> None:
    spec, frame, result = survey
    with pytest.raises(ValueError, match=match):
        construct_indexes(result, frame, (1, 5), **kwargs)
