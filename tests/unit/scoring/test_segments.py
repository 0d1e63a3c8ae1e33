"""Weighted means, segment summaries, unit rankings and trends.

References: scipy's Student interval (unweighted case), the delta method on the two
estimated totals (weighted case), coverage on simulated with-replacement PPS samples,
``statsmodels.stats.multitest.multipletests`` (Holm, BH), and hand computations.
"""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from scoring.rankings import adjust_p_values, compact_letter_display, rank_units
from scoring.segments import (
    STATUS_OK,
    STATUS_TOO_FEW,
    SUMMARY_COLUMNS,
    segment_summary,
    weighted_mean_ci,
)
from scoring.trends import FIRST_PERIOD, TREND_COLUMNS, trend

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "samples"


# --------------------------------------------------------------------------- weighted mean


def test_weighted_mean_ci_equal_weights_equals_scipy_student_interval():
    values = np.random.default_rng(1).integers(1, 6, 57).astype(float)
    estimate = weighted_mean_ci(values, np.full(57, 2.5), level=0.90)
    low, high = stats.t.interval(0.90, df=56, loc=values.mean(), scale=stats.sem(values))
    assert estimate.mean == pytest.approx(values.mean(), rel=1e-12)
    assert estimate.se == pytest.approx(stats.sem(values), rel=1e-12)
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert estimate.n == 57
    assert estimate.effective_n == pytest.approx(57.0, rel=1e-12)
    assert estimate.deff == pytest.approx(1.0, rel=1e-12)


def test_weighted_mean_ci_se_equals_delta_method_on_estimated_totals():
    rng = np.random.default_rng(2)
    y = rng.normal(70, 15, 120)
    w = rng.lognormal(0, 0.6, 120)
    n = len(y)
    # Ratio R = Y / W of the totals Y = sum w y, W = sum w; with-replacement covariance of
    # the totals, then V(R) = (V(Y) - 2 R C(Y, W) + R^2 V(W)) / W^2.
    ratio = np.sum(w * y) / np.sum(w)
    cov = n * np.cov(np.vstack([w * y, w]), ddof=1)
    variance = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / np.sum(w) ** 2
    estimate = weighted_mean_ci(y, w)
    assert estimate.mean == pytest.approx(ratio, rel=1e-12)
    assert estimate.se == pytest.approx(math.sqrt(variance), rel=1e-10)
    assert estimate.effective_n == pytest.approx(np.sum(w) ** 2 / np.sum(w**2), rel=1e-12)


def test_weighted_mean_ci_nan_values_and_zero_weights_are_left_out():
    estimate = weighted_mean_ci([4.0, np.nan, 2.0, 5.0], [1.0, 1.0, 1.0, 0.0])
    assert estimate.n == 2
    assert estimate.mean == pytest.approx(3.0, rel=1e-12)


def test_weighted_mean_ci_pps_samples_95pct_coverage_between_093_and_097():
    # Population of 20,000 customers, two tiers with different satisfaction; samples of
    # 300 drawn with replacement, tier-2 customers 4 times as likely to be drawn; weights
    # 1 / (n p_i). 2,000 samples: the binomial sd of the coverage is 0.005.
    rng = np.random.default_rng(20240612)
    size = 20_000
    tier2 = rng.random(size) < 0.2
    scores = np.where(
        tier2,
        rng.choice([1, 2, 3, 4, 5], size, p=[0.02, 0.05, 0.13, 0.40, 0.40]),
        rng.choice([1, 2, 3, 4, 5], size, p=[0.10, 0.15, 0.30, 0.30, 0.15]),
    ).astype(float)
    truth = scores.mean()
    draw = np.where(tier2, 4.0, 1.0)
    draw /= draw.sum()
    n = 300
    covered = 0
    for _ in range(2000):
        chosen = rng.choice(size, n, replace=True, p=draw)
        estimate = weighted_mean_ci(scores[chosen], 1.0 / (n * draw[chosen]))
        covered += estimate.ci_low <= truth <= estimate.ci_high
    assert 0.93 <= covered / 2000 <= 0.97
    assert estimate.deff > 1.2  # the weights do vary: the test exercises weighting


def test_weighted_mean_ci_single_value_has_mean_but_no_interval():
    estimate = weighted_mean_ci([4.0])
    assert estimate.mean == 4.0 and math.isnan(estimate.se) and math.isnan(estimate.ci_low)


# --------------------------------------------------------------------------- summaries


def _units_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    sizes = {"H1": 80, "H2": 45, "H3": 12}
    rows = [(unit, rng.integers(1, 6)) for unit, count in sizes.items() for _ in range(count)]
    frame = pd.DataFrame(rows, columns=["service_hall", "hall_waiting"]).astype(
        {"hall_waiting": float}
    )
    frame.loc[[0, 5], "hall_waiting"] = np.nan  # "cannot answer"
    frame["weight"] = rng.uniform(0.5, 2.0, len(frame))
    return frame


def test_segment_summary_unit_below_min_n_is_too_few_responses_without_mean_or_ci():
    summary = segment_summary(_units_frame(), "hall_waiting", "service_hall", "weight")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    h3 = summary.loc["H3"]
    assert h3["status"] == STATUS_TOO_FEW and h3["n"] == 12
    assert all(math.isnan(h3[c]) for c in ("mean", "se", "ci_low", "ci_high"))
    assert (summary.loc[["H1", "H2"], "status"] == STATUS_OK).all()


def test_segment_summary_ok_unit_equals_weighted_mean_ci_of_its_rows():
    frame = _units_frame()
    summary = segment_summary(frame, "hall_waiting", "service_hall", "weight", level=0.9)
    rows = frame[frame["service_hall"] == "H1"]
    estimate = weighted_mean_ci(rows["hall_waiting"], rows["weight"], level=0.9)
    h1 = summary.loc["H1"]
    assert h1["n"] == 78 and h1["n_missing"] == 2
    for column in ("mean", "se", "ci_low", "ci_high", "effective_n", "deff"):
        assert h1[column] == pytest.approx(getattr(estimate, column), rel=1e-12)


def test_segment_summary_unobserved_categorical_unit_listed_with_zero_responses():
    frame = _units_frame()
    frame["service_hall"] = pd.Categorical(frame["service_hall"], ["H1", "H2", "H3", "H4"])
    summary = segment_summary(frame, "hall_waiting", "service_hall")
    assert summary.loc["H4", "n"] == 0 and summary.loc["H4", "status"] == STATUS_TOO_FEW


def test_segment_summary_two_by_columns_gives_multiindex_on_sample_data():
    responses = pd.read_csv(SAMPLES / "responses.csv")
    summary = segment_summary(responses, "hall_waiting", ["region", "tier"])
    assert summary.index.names == ["region", "tier"]
    assert summary["n"].sum() + summary["n_missing"].sum() == len(responses)


def test_segment_summary_text_value_column_raises():
    frame = pd.DataFrame({"unit": ["a"] * 3, "answer": ["good", "bad", "good"]})
    with pytest.raises(ValueError, match="not numeric"):
        segment_summary(frame, "answer", "unit")


# --------------------------------------------------------------------------- rankings


def _simulated_summary(true_means: dict[str, float], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(unit, value) for unit, mu in true_means.items() for value in rng.normal(mu, 1.0, n)]
    frame = pd.DataFrame(rows, columns=["service_hall", "score"])
    return segment_summary(frame, "score", "service_hall")


def _shares_letter(ranking: pd.DataFrame, a: str, b: str) -> bool:
    return bool(set(ranking.loc[a, "group"]) & set(ranking.loc[b, "group"]))


def test_rank_units_clearly_different_means_are_all_separated():
    # Means 1 apart with se ~ 0.07: every z > 9.
    summary = _simulated_summary({"H1": 2.0, "H2": 3.0, "H3": 4.0, "H4": 5.0}, 200, seed=4)
    ranking = rank_units(summary).ranking
    assert list(ranking.index) == ["H4", "H3", "H2", "H1"]
    assert ranking["rank"].tolist() == [1, 2, 3, 4]
    assert (ranking["rank_low"] == ranking["rank_high"]).all()
    assert ranking["group"].tolist() == ["a", "b", "c", "d"]
    assert all(len(peers) == 0 for peers in ranking["indistinguishable_from"])


def test_rank_units_equal_true_means_form_one_indistinguishable_group():
    true = {"H1": 3.5, "H2": 3.5, "H3": 3.5, "H4": 3.5, "H5": 3.5, "Top": 5.0, "Low": 2.0}
    # One fixed draw (seed 6); how often any draw splits equal units is tested below.
    summary = _simulated_summary(true, 100, seed=6)
    result = rank_units(summary, correction="holm")
    ranking = result.ranking
    equal = ["H1", "H2", "H3", "H4", "H5"]
    for a, b in combinations(equal, 2):
        assert _shares_letter(ranking, a, b)
    for unit in equal:
        assert set(equal) - {unit} <= set(ranking.loc[unit, "indistinguishable_from"])
        assert (ranking.loc[unit, "rank_low"], ranking.loc[unit, "rank_high"]) == (2, 6)
        assert not _shares_letter(ranking, unit, "Top")
        assert not _shares_letter(ranking, unit, "Low")
    assert ranking.index[0] == "Top" and ranking.index[-1] == "Low"


def test_rank_units_holm_splits_equal_true_means_in_at_most_8pct_of_simulations():
    # Holm controls the familywise error: equal units are split in <= 5% of samples.
    # 400 simulations, binomial sd 0.011 at 0.05: the bound 0.08 is 2.7 sd above.
    rng = np.random.default_rng(12)
    true = np.array([5.0, 3.5, 3.5, 3.5, 3.5, 3.5, 2.0])
    units = pd.Index(["Top", "H1", "H2", "H3", "H4", "H5", "Low"], name="service_hall")
    equal = set(units[1:6])
    split = 0
    for _ in range(400):
        data = rng.normal(true[:, None], 1.0, (len(true), 100))
        summary = pd.DataFrame(
            {"mean": data.mean(axis=1), "se": data.std(axis=1, ddof=1) / 10.0}, index=units
        )
        pairwise = rank_units(summary, correction="holm").pairwise
        among = pairwise["unit_a"].isin(equal) & pairwise["unit_b"].isin(equal)
        split += bool(pairwise.loc[among, "significant"].any())
        assert pairwise.loc[~among, "significant"].all()  # Top and Low always separated
    assert split / 400 <= 0.08


def test_rank_units_top_and_bottom_not_significant_after_holm_share_a_letter():
    # Five units 0.1 apart, se 0.1: top vs bottom z = 0.4 / 0.1414 = 2.83, raw p = 0.0047,
    # Holm over 10 pairs: 0.047 < 0.05 would separate them; with se 0.115 z = 2.46,
    # raw p = 0.014 < 0.05 but Holm-corrected 0.14: not different.
    summary = pd.DataFrame(
        {"mean": [4.0, 3.9, 3.8, 3.7, 3.6], "se": [0.115] * 5},
        index=pd.Index(["A", "B", "C", "D", "E"], name="service_hall"),
    )
    result = rank_units(summary, correction="holm")
    top_bottom = result.pairwise.query("unit_a == 'A' and unit_b == 'E'").iloc[0]
    assert top_bottom["p_value"] < 0.05
    assert not top_bottom["significant"]
    assert _shares_letter(result.ranking, "A", "E")
    assert "E" in result.ranking.loc["A", "indistinguishable_from"]
    assert (result.ranking["rank_low"] == 1).all() and (result.ranking["rank_high"] == 5).all()


def test_rank_units_too_few_responses_unit_listed_last_unranked_and_not_compared():
    summary = _simulated_summary({"H1": 3.0, "H2": 4.0}, 60, seed=6)
    small = segment_summary(
        pd.DataFrame({"service_hall": ["H9"] * 5, "score": [5.0] * 5}), "score", "service_hall"
    )
    result = rank_units(pd.concat([summary, small]))
    assert result.ranking.index[-1] == "H9"
    assert pd.isna(result.ranking.loc["H9", "rank"]) and result.ranking.loc["H9", "group"] == ""
    assert "H9" not in set(result.pairwise["unit_a"]) | set(result.pairwise["unit_b"])
    assert len(result.pairwise) == 1


def test_rank_units_lower_is_better_puts_smallest_mean_first():
    summary = _simulated_summary({"H1": 1.0, "H2": 3.0}, 60, seed=7)
    assert rank_units(summary, higher_is_better=False).ranking.index[0] == "H1"


def test_rank_units_bh_separates_every_pair_holm_separates_and_more_here():
    true = {f"H{k}": 3.0 + 0.08 * k for k in range(8)}
    summary = _simulated_summary(true, 150, seed=8)
    holm = rank_units(summary, correction="holm").pairwise
    bh = rank_units(summary, correction="bh").pairwise
    assert (bh["p_adjusted"] <= holm["p_adjusted"] + 1e-15).all()
    assert set(holm.index[holm["significant"]]) <= set(bh.index[bh["significant"]])
    assert bh["significant"].sum() > holm["significant"].sum()


# Constructed so that Holm rejects 1 and BH rejects 2 at 0.05: Holm 10 x 0.001 = 0.01,
# 9 x 0.008 = 0.072; BH 10 x 0.008 / 2 = 0.04, 10 x 0.039 / 3 = 0.13.
P_VALUES = np.array([0.042, 0.001, 0.216, 0.008, 0.039, 0.06, 0.205, 0.041, 0.074, 0.212])


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_p_values_matches_statsmodels_multipletests_to_1e12(ours, theirs):
    expected = multipletests(P_VALUES, alpha=0.05, method=theirs)[1]
    np.testing.assert_allclose(adjust_p_values(P_VALUES, ours), expected, rtol=0, atol=1e-12)


def test_adjust_p_values_bh_rejects_more_than_holm_on_constructed_set():
    holm = adjust_p_values(P_VALUES, "holm")
    bh = adjust_p_values(P_VALUES, "bh")
    assert (bh <= holm).all()
    assert (holm <= 0.05).sum() == 1 and (bh <= 0.05).sum() == 2


def test_adjust_p_values_nan_stays_nan_and_is_not_counted():
    adjusted = adjust_p_values([0.01, np.nan, 0.02], "holm")
    assert math.isnan(adjusted[1])
    assert adjusted[[0, 2]] == pytest.approx([0.02, 0.02], abs=1e-15)


def test_compact_letter_display_shares_letter_iff_not_different_on_random_patterns():
    rng = np.random.default_rng(9)
    for _ in range(60):
        k = int(rng.integers(2, 9))
        pairs = [p for p in combinations(range(k), 2) if rng.random() < 0.4]
        letters = compact_letter_display(k, pairs)
        assert all(letters)
        for i, j in combinations(range(k), 2):
            assert bool(set(letters[i]) & set(letters[j])) == ((i, j) not in pairs)


# --------------------------------------------------------------------------- trends


def _trend_frame() -> pd.DataFrame:
    jan = [1, 2, 3, 4, 5]  # mean 3, s^2 = 2.5, se = sqrt(0.5)
    feb = [2, 4, 4, 5, 5, 4]  # mean 4, s^2 = 1.2, se = sqrt(0.2)
    apr = [5, 5, 4]  # too few with min_n = 4
    stamps = (
        ["2026-01-05T10:00:00+08:00"] * 4
        + ["2026-01-31T23:30:00+08:00"]  # 15:30 UTC, still January in local time
        + ["2026-02-10T09:00:00+08:00"] * 6
        + ["2026-04-02T12:00:00+08:00"] * 3
    )
    return pd.DataFrame({"submitted_at": stamps, "sat": [float(v) for v in jan + feb + apr]})


def test_trend_change_equals_hand_computation_of_independent_z_test():
    result = trend(_trend_frame(), "sat", "submitted_at", freq="M", min_n=4)
    assert list(result.columns) == list(TREND_COLUMNS)
    assert [str(p) for p in result.index] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    feb = result.loc[pd.Period("2026-02", "M")]
    # By hand: change 4 - 3 = 1, se = sqrt(0.5 + 0.2) = 0.83666, z = 1.19523,
    # p = erfc(z / sqrt 2) = 0.23199, 95% CI 1 -/+ 1.959964 x 0.83666.
    se = math.sqrt(0.7)
    z = 1.0 / se
    assert result.loc[pd.Period("2026-01", "M"), "mean"] == pytest.approx(3.0, rel=1e-12)
    assert feb["change"] == pytest.approx(1.0, rel=1e-12)
    assert feb["change_se"] == pytest.approx(se, rel=1e-12)
    assert feb["change_p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-10)
    assert feb["change_p_value"] == pytest.approx(0.23199, abs=1e-5)
    assert feb["change_ci_low"] == pytest.approx(1 - 1.959963984540054 * se, rel=1e-10)
    assert feb["change_ci_high"] == pytest.approx(1 + 1.959963984540054 * se, rel=1e-10)
    assert feb["change_status"] == STATUS_OK


def test_trend_empty_and_small_periods_flagged_too_few_responses_without_change():
    result = trend(_trend_frame(), "sat", "submitted_at", min_n=4)
    march, april = result.loc[pd.Period("2026-03", "M")], result.loc[pd.Period("2026-04", "M")]
    assert march["n"] == 0 and march["status"] == STATUS_TOO_FEW
    assert april["n"] == 3 and april["status"] == STATUS_TOO_FEW and math.isnan(april["mean"])
    assert march["change_status"] == STATUS_TOO_FEW and math.isnan(march["change"])
    assert result["change_status"].iloc[0] == FIRST_PERIOD


def test_trend_quarterly_on_sample_data_periods_and_counts_add_up():
    responses = pd.read_csv(SAMPLES / "responses.csv")
    result = trend(responses, "hall_waiting", "submitted_at", freq="Q")
    assert result.index.freqstr.startswith("Q")
    assert result["n"].sum() + result["n_missing"].sum() == len(responses)
    assert (result["status"] == STATUS_OK).all()


def test_trend_unknown_frequency_raises():
    with pytest.raises(ValueError, match="freq"):
        trend(_trend_frame(), "sat", "submitted_at", freq="W")
