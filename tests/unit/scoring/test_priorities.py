"""Priority matrices on the sample data, whose true parameters are known.

Truth (data/samples/csi_truth.yaml): network has the largest path to satisfaction (0.38)
and new_services the smallest (0.04); the generator also puts network's items lowest, so
network is the true most important low-performing driver. Regional effects lower network
in Wenzhou (-0.45) and Taizhou (-0.30) and raise it in Hangzhou (+0.15).

Tolerances: matrix axes equal the IPMA they come from exactly (1e-12); the plain-text,
JSON and spec forms carry the same numbers; statements about the truth are checked with
the bootstrap's own decision rule (tiers at P >= 0.95).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.fit import fit_model
from models.syntax import parse_model
from scoring.ipma import ipma
from scoring.priorities import (
    DRIVER_KEYS,
    priority_matrix,
    segment_priorities,
    segment_priority_views,
)

N_BOOT = 300
ISSUE_KEYS = (
    "name", "construct", "importance", "importance_ci_low", "importance_ci_high",
    "performance", "performance_ci_low", "performance_ci_high", "quadrant",
    "p_concentrate", "rank", "tier",
)  # fmt: skip


@pytest.fixture(scope="module")
def survey(sample_scores):
    """The sample model, its scores with region and submission time, and its PLS fit."""
    spec, raw, scores = sample_scores
    frame = scores.assign(region=raw["region"], submitted_at=raw["submitted_at"])
    return spec, frame, fit_model(spec, scores)


@pytest.fixture(scope="module")
def satisfaction(survey, sample_questionnaire):
    spec, frame, fit = survey
    return priority_matrix(fit, frame, sample_questionnaire, "satisfaction", n_boot=N_BOOT,
                           random_state=11)  # fmt: skip


def test_true_most_important_low_performer_comes_first_in_its_own_tier(satisfaction) -> None:
    first = satisfaction.driver("network")
    assert first["rank"] == 1 and first["tier"] == 1
    assert first["rank_ci_low"] == first["rank_ci_high"] == 1
    assert first["quadrant"] == "concentrate-here"
    assert first["p_concentrate"] >= 0.95
    least = satisfaction.driver("new_services")
    # Separated: the least important driver's tier lies below the first one's.
    assert least["tier"] > first["tier"]
    assert least["importance"] < first["importance"]
    assert satisfaction.drivers["name"].tolist()[0] == "network"


@pytest.mark.parametrize("method", ["relative-weights", "shapley", "correlation"])
def test_every_importance_method_puts_network_first(survey, sample_questionnaire, method):
    spec, frame, fit = survey
    m = priority_matrix(fit, frame, sample_questionnaire, "satisfaction", method=method,
                        n_boot=100, random_state=2)  # fmt: skip
    assert m.method == method
    assert m.driver("network")["rank"] == 1
    assert m.driver("network")["tier"] < m.driver("new_services")["tier"]


def test_matrix_axes_are_the_ipma_exactly(survey, sample_questionnaire, satisfaction) -> None:
    spec, frame, fit = survey
    reference = ipma(fit, frame, sample_questionnaire, "satisfaction", n_boot=N_BOOT,
                     random_state=11)  # fmt: skip
    table = reference.constructs.set_index("construct")
    for row in satisfaction.drivers.itertuples():
        assert row.importance == pytest.approx(table.loc[row.name, "importance"], abs=1e-12)
        assert row.performance == pytest.approx(table.loc[row.name, "performance"], abs=1e-12)
    # The crosshair is the mean of the drivers; the priority is importance x (100 - perf).
    drivers = satisfaction.drivers
    assert satisfaction.crosshair["importance"] == pytest.approx(drivers["importance"].mean())
    assert satisfaction.crosshair["performance"] == pytest.approx(drivers["performance"].mean())
    np.testing.assert_allclose(
        drivers["priority"], drivers["importance"] * (100 - drivers["performance"]), atol=1e-12
    )
    assert drivers["rank"].tolist() == list(range(1, len(drivers) + 1))


def test_json_has_the_issue_shape_and_round_trips(satisfaction) -> None:
    out = json.loads(json.dumps(satisfaction.to_dict(), allow_nan=False))
    assert {"target", "target_performance", "method", "level", "crosshair", "drivers",
            "warnings"} <= set(out)  # fmt: skip
    assert set(out["crosshair"]) == {"importance", "performance"}
    assert tuple(out["drivers"][0])[: len(ISSUE_KEYS)] == ISSUE_KEYS
    assert tuple(out["drivers"][0]) == DRIVER_KEYS
    assert all(set(w) >= {"code", "message"} for w in out["warnings"])
    assert isinstance(out["drivers"][0]["tier"], int)
    assert out["quadrants"]["concentrate-here"]["zh"] == "重点改进区"


def test_item_level_ranks_the_items_of_one_dimension(survey, sample_questionnaire) -> None:
    spec, frame, fit = survey
    m = priority_matrix(fit, frame, sample_questionnaire, "satisfaction", level="item",
                        dimension="network", n_boot=100, random_state=3)  # fmt: skip
    assert set(m.drivers["name"]) == set(spec.blocks["network"])
    assert set(m.drivers["construct"]) == {"network"}
    with pytest.raises(ValueError, match="not a driver"):
        priority_matrix(fit, frame, sample_questionnaire, "satisfaction", level="item",
                        dimension="loyalty", n_boot=0)  # fmt: skip


def test_without_bootstrap_the_matrix_says_the_ranking_overstates_precision(
    survey, sample_questionnaire
) -> None:
    spec, frame, fit = survey
    m = priority_matrix(fit, frame, sample_questionnaire, "satisfaction", n_boot=0)
    assert "no-bootstrap" in {w.code for w in m.warnings}
    assert m.drivers["tier"].isna().all()
    assert m.drivers["p_concentrate"].isna().all()


def test_midpoint_crosshair_puts_performance_at_50(survey, sample_questionnaire) -> None:
    spec, frame, fit = survey
    m = priority_matrix(fit, frame, sample_questionnaire, "satisfaction", n_boot=0,
                        crosshair="midpoint")  # fmt: skip
    assert m.crosshair["performance"] == 50.0
    low = m.drivers[m.drivers["performance"] < 50]["name"].tolist()
    assert all(m.driver(n)["quadrant"] in ("concentrate-here", "low-priority") for n in low)


def test_bad_model_warnings_travel_onto_the_matrix(survey) -> None:
    """Low reliability (a noise item) and HTMT above 0.9 (two near-copies of a block)."""
    spec, frame, _ = survey
    rng = np.random.default_rng(5)
    bad = frame.assign(
        noise=rng.integers(1, 6, len(frame)).astype(float),
        # a second "network" construct measured by near-copies of the network items
        **{f"dup_{i}": np.clip(frame[i] + rng.normal(0, 0.3, len(frame)), 1, 5)
           for i in spec.blocks["network"]},
    )  # fmt: skip
    syntax = spec.to_lavaan().replace("new_ease", "new_ease + noise", 1)
    dup_items = " + ".join(f"dup_{i}" for i in spec.blocks["network"])
    syntax = syntax.replace("satisfaction ~ ", "satisfaction ~ network2 + ", 1)
    syntax += f"\nnetwork2 =~ {dup_items}\n"
    fit = fit_model(parse_model(syntax), bad)
    m = priority_matrix(fit, bad, (1, 5), "satisfaction", n_boot=50, random_state=1)
    codes = {w.code for w in m.warnings}
    assert {"low-ave", "low-alpha"} <= codes
    assert "htmt-above-0.90" in codes
    assert "htmt-above-0.90" in m.summary()
    assert "htmt-above-0.90" in {w["code"] for w in m.to_dict()["warnings"]}


def test_respondent_weights_report_effective_n_and_design_effect(
    survey, sample_questionnaire
) -> None:
    spec, frame, fit = survey
    weights = np.where(np.arange(len(frame)) % 2 == 0, 1.0, 3.0)
    m = priority_matrix(fit, frame.assign(w=weights), sample_questionnaire, "satisfaction",
                        weights="w", n_boot=0)  # fmt: skip
    kish = weights.sum() ** 2 / (weights**2).sum()
    assert m.effective_n == pytest.approx(kish, rel=1e-12)
    assert m.design_effect == pytest.approx(len(frame) / kish, rel=1e-12)


def test_segments_follow_the_true_regional_effects_and_small_ones_are_flagged(
    survey, sample_questionnaire
) -> None:
    spec, frame, fit = survey
    seg = segment_priorities(fit, frame, sample_questionnaire, "satisfaction", by="region",
                             min_n=400, n_boot=0)  # fmt: skip
    network = {b.segment: b.matrix.driver("network")["performance"]
               for b in seg.blocks if b.matrix is not None}  # fmt: skip
    assert network["Wenzhou"] < network["Hangzhou"]
    assert min(network, key=network.get) == "Wenzhou"
    small = [b for b in seg.blocks if b.status == "too-few-responses"]
    assert [b.segment for b in small] == ["Taizhou"]  # 346 responses < 400
    assert "fewer than the 400" in small[0].message
    out = seg.to_dict()
    assert out["by"] == "region" and len(out["segments"]) == frame["region"].nunique()
    assert out["segments"][0]["drivers"][0]["name"]


def test_views_fit_each_segment_once_and_equal_one_call_per_view(
    survey, sample_questionnaire
) -> None:
    spec, frame, fit = survey
    views = {"constructs": {}, "network": {"level": "item", "dimension": "network"}}
    together = segment_priority_views(fit, frame, sample_questionnaire, "satisfaction",
                                      by="region", views=views, min_n=400, n_boot=30,
                                      random_state=3)  # fmt: skip
    assert list(together) == ["constructs", "network"]
    for name, view in views.items():
        alone = segment_priorities(fit, frame, sample_questionnaire, "satisfaction", by="region",
                                   min_n=400, n_boot=30, random_state=3, **view)  # fmt: skip
        assert [(b.segment, b.status, b.n) for b in together[name].blocks] == [
            (b.segment, b.status, b.n) for b in alone.blocks
        ]
        for mine, theirs in zip(together[name].blocks, alone.blocks, strict=True):
            if theirs.matrix is None:
                assert mine.matrix is None and mine.message == theirs.message
                continue
            pd.testing.assert_frame_equal(mine.matrix.drivers, theirs.matrix.drivers,
                                          rtol=1e-12, atol=1e-12)  # fmt: skip
    item_names = together["network"].blocks[0].matrix.drivers["name"].tolist()
    assert set(item_names) == set(sample_questionnaire.construct_items()["network"])


def test_periods_cut_dates_into_quarters(survey, sample_questionnaire) -> None:
    spec, frame, fit = survey
    seg = segment_priorities(fit, frame, sample_questionnaire, "satisfaction",
                             by="submitted_at", period="quarter", n_boot=0)  # fmt: skip
    assert [b.segment for b in seg.blocks] == ["2026Q1", "2026Q2"]
    assert all(b.matrix is not None for b in seg.blocks)
