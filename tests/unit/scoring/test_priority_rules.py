"""The rules of a priority matrix on hand-made draws whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.priority_rules import (
    QUADRANTS,
    crosshairs,
    iso_priority_curve,
    p_concentrate,
    priority_score,
    priority_tiers,
    quadrant_codes,
    rank_draws,
    rank_intervals,
)


def test_quadrants_follow_martilla_james_with_points_on_a_line_counted_high() -> None:
    imp = np.array([0.4, 0.4, 0.1, 0.1, 0.25])
    perf = np.array([40.0, 80.0, 40.0, 80.0, 60.0])
    codes = quadrant_codes(imp, perf, 0.25, 60.0)
    assert codes == [
        "concentrate-here",
        "keep-up-the-good-work",
        "low-priority",
        "possible-overkill",
        "keep-up-the-good-work",  # on both lines: high on both
    ]
    names = {q.code: (q.zh, q.en) for q in QUADRANTS}
    assert names["concentrate-here"] == ("重点改进区", "Concentrate here")


def test_crosshairs_are_driver_means_or_the_scale_midpoint() -> None:
    imp = np.array([[0.1, 0.3], [0.2, 0.4]])
    perf = np.array([[40.0, 60.0], [50.0, 70.0]])
    i, p = crosshairs(imp, perf, "mean")
    np.testing.assert_allclose(i, [0.2, 0.3], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p, [50.0, 60.0], rtol=0, atol=1e-15)
    assert crosshairs(imp, perf, "midpoint")[1].tolist() == [50.0, 50.0]
    with pytest.raises(ValueError, match="crosshair must be one of"):
        crosshairs(imp, perf, "median")


def test_p_concentrate_counts_resamples_against_their_own_crosshairs() -> None:
    # Driver 0 is in "concentrate here" in 3 of 4 resamples, driver 1 in none.
    imp = np.array([[0.5, 0.1], [0.5, 0.1], [0.5, 0.1], [0.1, 0.5]])
    perf = np.array([[40.0, 60.0], [40.0, 60.0], [40.0, 60.0], [40.0, 60.0]])
    assert p_concentrate(imp, perf).tolist() == [0.75, 0.0]
    assert np.isnan(p_concentrate(np.empty((0, 2)), np.empty((0, 2)))).all()


def test_priority_score_is_the_target_gain_of_closing_the_gap() -> None:
    # 0.3 target points per driver point, 40 points short of 100: 12 target points.
    assert priority_score(np.array([0.3]), np.array([60.0]))[0] == pytest.approx(12.0, abs=1e-12)


def test_rank_draws_and_rank_intervals_take_outer_whole_ranks() -> None:
    draws = np.array([[3.0, 2.0, 1.0]] * 18 + [[2.0, 3.0, 1.0]] * 2)
    assert rank_draws(draws[:1]).tolist() == [[1, 2, 3]]
    low, high = rank_intervals(draws, 0.95)
    assert low.tolist() == [1.0, 1.0, 3.0]
    assert high.tolist() == [2.0, 2.0, 3.0]
    assert np.isnan(rank_intervals(draws[:1], 0.95)[0]).all()


def test_tiers_split_only_where_the_bootstrap_is_decisive() -> None:
    rng = np.random.default_rng(3)
    k = 2000
    # A clearly first; B and C indistinguishable; D clearly last.
    draws = np.column_stack([
        rng.normal(10.0, 0.5, k), rng.normal(6.0, 0.5, k), rng.normal(5.9, 0.5, k),
        rng.normal(1.0, 0.5, k),
    ])  # fmt: skip
    point = draws.mean(axis=0)
    tiers, above = priority_tiers(point, draws, ["A", "B", "C", "D"], 0.95)
    assert tiers == [1, 2, 2, 3]
    assert above[0, 1] == 1.0 and 0.4 < above[1, 2] < 0.7
    np.testing.assert_allclose(above + above.T, 1.0, atol=1e-12)  # ties split in halves


def test_tiers_never_split_identical_drivers_and_refuse_unpaired_draws() -> None:
    draws = np.tile(np.array([[2.0, 2.0]]), (10, 1))
    assert priority_tiers(np.array([2.0, 2.0]), draws, ["a", "b"])[0] == [1, 1]
    with pytest.raises(ValueError, match="paired draws"):
        priority_tiers(np.array([1.0, 2.0]), draws[:1], ["a", "b"])


def test_iso_priority_curve_keeps_the_crosshair_priority() -> None:
    curve = iso_priority_curve(0.2, 60.0, (0.0, 0.6))
    assert curve, "the curve has points inside 0-100"
    for imp, perf in curve:
        assert imp * (100.0 - perf) == pytest.approx(0.2 * 40.0, rel=1e-12)
        assert 0.0 <= perf <= 100.0
