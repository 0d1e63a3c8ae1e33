"""Raking and Kish's design effect, checked against closed forms and an independent solve.

References used here:

- the 2 x 2 closed form: raking preserves the sample odds ratio, so the raked table is fixed
  by the margins and one quadratic (Deming and Stephan 1940; Bishop, Fienberg and Holland
  1975, section 3.5);
- the calibration dual: raking weights are ``d_k exp(x_k' lambda)`` with ``lambda`` solving
  the margin equations (Deville and Särndal 1992), solved here by a plain Newton iteration
  that shares no code with :func:`scoring.weights.rake`;
- post-stratification: a single joint margin gives ``N_c / n_c`` exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.weights import RakingError, design_effect, kish_effective_n, rake

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "samples"


@pytest.fixture(scope="module")
def responses() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "responses.csv")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "frame.csv")


def _achieved(sample: pd.DataFrame, weights: pd.Series, columns: list[str]) -> pd.Series:
    return weights.groupby([sample[c] for c in columns]).sum()


# --------------------------------------------------------------------------- raking


def test_rake_sample_data_tier_and_region_margins_reproduced_to_1e8(responses, frame):
    margins = {"tier": frame.groupby("tier").size(), "region": frame.groupby("region").size()}
    result = rake(responses, margins)
    for column, target in margins.items():
        achieved = _achieved(responses, result.weights, [column]).reindex(target.index)
        np.testing.assert_allclose(achieved, target, rtol=1e-8, atol=0)
    assert result.weights.sum() == pytest.approx(len(frame), rel=1e-10)
    assert result.max_relative_error <= 1e-8
    assert result.weights.index.equals(responses.index)
    table = result.margins.set_index(["margin", "category"])
    assert table.loc[("tier", 1), "n"] == int((responses["tier"] == 1).sum())


def test_rake_two_by_two_textbook_example_equals_closed_form_quadratic():
    # Constructed example: 100 respondents by sex (rows) x age group (columns),
    # n = [[30, 20], [10, 40]]; population rows R = (600, 400), columns C = (450, 550).
    # Raking keeps the sample odds ratio theta = 30*40 / (20*10) = 6, so the raked cell
    # x = m11 solves x (R2 - C1 + x) = theta (R1 - x)(C1 - x), i.e.
    # x^2 - 1250 x + 324000 = 0, x = 625 - sqrt(66625) = 366.8818...;
    # m12 = 600 - x = 233.1182, m21 = 450 - x = 83.1182, m22 = 400 - 450 + x = 316.8818.
    counts = {("f", "young"): 30, ("f", "old"): 20, ("m", "young"): 10, ("m", "old"): 40}
    rows = [cell for cell, count in counts.items() for _ in range(count)]
    sample = pd.DataFrame(rows, columns=["sex", "age"])
    margins = {"sex": pd.Series({"f": 600, "m": 400}), "age": pd.Series({"young": 450, "old": 550})}

    result = rake(sample, margins, tol=1e-12, max_iter=1000)

    x = 625 - math.sqrt(66625)
    assert x == pytest.approx(366.8818, abs=1e-4)
    expected = {
        ("f", "young"): x,
        ("f", "old"): 600 - x,
        ("m", "young"): 450 - x,
        ("m", "old"): x - 50,
    }
    cells = result.weights.groupby([sample["sex"], sample["age"]]).sum()
    for cell, total in expected.items():
        assert cells[cell] == pytest.approx(total, rel=1e-10)
        # Every respondent of a cell gets the same weight m_ij / n_ij.
        in_cell = (sample["sex"] == cell[0]) & (sample["age"] == cell[1])
        np.testing.assert_allclose(result.weights[in_cell], total / counts[cell], rtol=1e-10)
    odds_ratio = (
        cells[("f", "young")] * cells[("m", "old")] / (cells[("f", "old")] * cells[("m", "young")])
    )
    assert odds_ratio == pytest.approx(6.0, rel=1e-10)


def _calibration_newton(design: np.ndarray, base: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Raking weights by Newton on the calibration dual (independent of rake())."""
    lam = np.zeros(design.shape[1])
    for _ in range(100):
        w = base * np.exp(design @ lam)
        gradient = design.T @ w - totals
        if np.max(np.abs(gradient) / totals) < 1e-13:
            break
        hessian = design.T @ (design * w[:, None])
        # The margins share one total, so the Hessian is singular; the step in its range
        # space (least squares) is the Newton step of the identified problem.
        lam -= np.linalg.lstsq(hessian, gradient, rcond=None)[0]
    return base * np.exp(design @ lam)


def test_rake_overlapping_joint_and_oneway_margins_match_newton_calibration_solve():
    rng = np.random.default_rng(20240611)
    n = 600
    sample = pd.DataFrame(
        {
            "tier": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["hz", "nb", "wz", "jx"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "channel": rng.choice(["sms", "cati"], n, p=[0.7, 0.3]),
        }
    )
    base = rng.uniform(0.5, 2.0, n)
    margins = {
        "tier": pd.Series({1: 5000.0, 2: 3500.0, 3: 1500.0}),
        "region": pd.Series({"hz": 3000.0, "nb": 2500.0, "wz": 2500.0, "jx": 2000.0}),
        ("tier", "channel"): pd.Series(
            {
                (1, "sms"): 3000.0,
                (1, "cati"): 2000.0,
                (2, "sms"): 2000.0,
                (2, "cati"): 1500.0,
                (3, "sms"): 1000.0,
                (3, "cati"): 500.0,
            }
        ),
    }
    result = rake(sample, margins, base_weights=base, tol=1e-12, max_iter=2000)

    blocks, totals = [], []
    for key, target in margins.items():
        columns = [key] if isinstance(key, str) else list(key)
        cells = list(zip(*(sample[c] for c in columns), strict=True))
        labels = list(target.index) if len(columns) > 1 else [(c,) for c in target.index]
        blocks.append(np.array([[cell == label for label in labels] for cell in cells], float))
        totals.extend(target.to_numpy())
    reference = _calibration_newton(np.hstack(blocks), base, np.array(totals))

    np.testing.assert_allclose(result.weights.to_numpy(), reference, rtol=1e-9)


def test_rake_single_joint_margin_equals_post_stratification(responses, frame):
    target = frame.groupby(["tier", "region"]).size()
    result = rake(responses, {("tier", "region"): target})
    cell_n = responses.groupby(["tier", "region"]).size()
    expected = (target / cell_n).reindex(pd.MultiIndex.from_frame(responses[["tier", "region"]]))
    np.testing.assert_allclose(result.weights.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert result.iterations == 1


def test_rake_share_margins_only_weights_sum_to_sample_size(responses):
    shares = pd.Series({"sms_link": 0.4, "cati": 0.3, "web": 0.15, "intercept": 0.15})
    result = rake(responses, {"channel": shares})
    assert result.weights.sum() == pytest.approx(len(responses), rel=1e-12)
    achieved = _achieved(responses, result.weights, ["channel"]) / len(responses)
    np.testing.assert_allclose(achieved.reindex(shares.index), shares, rtol=1e-8)


def test_rake_shares_mixed_with_counts_scaled_to_count_total(responses, frame):
    shares = pd.Series({"sms_link": 0.4, "cati": 0.3, "web": 0.15, "intercept": 0.15})
    result = rake(responses, {"tier": frame.groupby("tier").size(), "channel": shares})
    achieved = _achieved(responses, result.weights, ["channel"]).reindex(shares.index)
    np.testing.assert_allclose(achieved, shares * len(frame), rtol=1e-8)


def test_rake_with_cap_keeps_weights_below_cap_and_margins_hold():
    # Tier 3 in region c is under-represented: its uncapped raked weight is 6.1 x the mean.
    rng = np.random.default_rng(7)
    n = 1000
    sample = pd.DataFrame(
        {
            "tier": rng.choice([1, 2, 3], n, p=[0.7, 0.2, 0.1]),
            "region": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    margins = {
        "tier": pd.Series({1: 5000, 2: 3000, 3: 2000}),
        "region": pd.Series({"a": 4000, "b": 3000, "c": 3000}),
    }
    free = rake(sample, margins)
    assert free.weights.max() / free.weights.mean() > 6

    result = rake(sample, margins, cap=4.0, max_iter=1000)

    assert result.weights.max() <= 4.0 * result.weights.mean() * (1 + 1e-8)
    assert result.n_trimmed >= 1
    assert result.max_relative_error <= 1e-8
    for column, target in margins.items():
        achieved = _achieved(sample, result.weights, [column]).reindex(target.index)
        np.testing.assert_allclose(achieved, target, rtol=1e-8)
    assert result.design_effect < free.design_effect


def test_rake_cap_tighter_than_margins_allow_raises_not_converged():
    sample = pd.DataFrame({"tier": [1] * 90 + [2] * 10})
    # Tier 2 needs weight 5 per respondent against 0.56 for tier 1: a cap of 2 x mean fails.
    with pytest.raises(RakingError) as caught:
        rake(sample, {"tier": pd.Series({1: 50, 2: 50})}, cap=2.0, max_iter=200)
    assert caught.value.code == "not-converged"
    assert "cap" in str(caught.value)


def test_rake_too_few_sweeps_raises_not_converged_with_code(responses, frame):
    margins = {"tier": frame.groupby("tier").size(), "region": frame.groupby("region").size()}
    with pytest.raises(RakingError) as caught:
        rake(responses, margins, max_iter=1)
    assert caught.value.code == "not-converged"


def test_rake_category_without_respondents_but_positive_margin_raises_empty_cell():
    sample = pd.DataFrame({"tier": [1, 1, 2, 2]})
    with pytest.raises(RakingError) as caught:
        rake(sample, {"tier": pd.Series({1: 10, 2: 10, 3: 5})})
    assert caught.value.code == "empty-cell"
    assert "3" in caught.value.message


def test_rake_category_without_respondents_and_zero_margin_is_accepted():
    sample = pd.DataFrame({"tier": [1, 1, 2, 2]})
    result = rake(sample, {"tier": pd.Series({1: 10, 2: 10, 3: 0})})
    assert result.weights.tolist() == pytest.approx([5.0] * 4)


def test_rake_respondent_category_absent_from_margin_raises_unknown_category():
    sample = pd.DataFrame({"tier": [1, 2, 6]})
    with pytest.raises(RakingError) as caught:
        rake(sample, {"tier": pd.Series({1: 10, 2: 10})})
    assert caught.value.code == "unknown-category"
    assert "6" in caught.value.message


def test_rake_category_type_mismatch_raises_unknown_category():
    sample = pd.DataFrame({"tier": [1, 2]})
    with pytest.raises(RakingError) as caught:
        rake(sample, {"tier": pd.Series({"1": 10, "2": 10})})
    assert caught.value.code == "unknown-category"


def test_rake_missing_category_value_raises_missing_category():
    sample = pd.DataFrame({"tier": [1.0, 2.0, np.nan]})
    with pytest.raises(RakingError) as caught:
        rake(sample, {"tier": pd.Series({1.0: 10, 2.0: 10})})
    assert caught.value.code == "missing-category"


def test_rake_count_margins_with_different_totals_raise_inconsistent_totals():
    sample = pd.DataFrame({"tier": [1, 2], "region": ["a", "b"]})
    margins = {"tier": pd.Series({1: 10, 2: 10}), "region": pd.Series({"a": 10, "b": 11})}
    with pytest.raises(RakingError) as caught:
        rake(sample, margins)
    assert caught.value.code == "inconsistent-totals"


def test_rake_margin_on_absent_column_raises_unknown_column():
    with pytest.raises(RakingError) as caught:
        rake(pd.DataFrame({"tier": [1]}), {"region": pd.Series({"a": 1.0})})
    assert caught.value.code == "unknown-column"


def test_rake_negative_margin_raises_invalid_margin():
    with pytest.raises(RakingError) as caught:
        rake(pd.DataFrame({"tier": [1, 2]}), {"tier": pd.Series({1: 10, 2: -1})})
    assert caught.value.code == "invalid-margin"


def test_rake_respondents_in_zero_population_category_get_zero_weight_and_a_warning():
    sample = pd.DataFrame({"tier": [1, 1, 2]})
    result = rake(sample, {"tier": pd.Series({1: 10.0, 2: 0.0})})
    assert result.weights.tolist() == pytest.approx([5.0, 5.0, 0.0])
    assert result.warnings and "weight 0" in result.warnings[0]


# --------------------------------------------------------------------------- Kish


def test_design_effect_equal_weights_is_one_and_effective_n_is_n():
    weights = np.full(250, 3.7)
    assert design_effect(weights) == pytest.approx(1.0, abs=1e-12)
    assert kish_effective_n(weights) == pytest.approx(250.0, rel=1e-12)


@pytest.mark.parametrize(("n1", "a", "n2", "b"), [(3, 1.0, 1, 3.0), (80, 0.5, 20, 4.0)])
def test_design_effect_two_valued_weights_equals_closed_form(n1, a, n2, b):
    # n1 weights equal to a and n2 equal to b: deff = (n1+n2)(n1 a^2 + n2 b^2) / (n1 a + n2 b)^2.
    weights = np.r_[np.full(n1, a), np.full(n2, b)]
    expected = (n1 + n2) * (n1 * a**2 + n2 * b**2) / (n1 * a + n2 * b) ** 2
    assert design_effect(weights) == pytest.approx(expected, rel=1e-12)
    assert kish_effective_n(weights) == pytest.approx((n1 + n2) / expected, rel=1e-12)


def test_design_effect_hand_value_three_ones_and_a_three_is_four_thirds():
    assert design_effect([1, 1, 1, 3]) == pytest.approx(4 / 3, rel=1e-12)
    assert kish_effective_n([1, 1, 1, 3]) == pytest.approx(3.0, rel=1e-12)


def test_design_effect_negative_or_nan_weights_raise():
    with pytest.raises(ValueError, match="negative"):
        design_effect([1.0, -1.0])
    with pytest.raises(ValueError, match="NaN"):
        kish_effective_n([1.0, float("nan")])


def test_rake_result_reports_kish_effective_n_of_its_weights(responses, frame):
    result = rake(responses, {"tier": frame.groupby("tier").size()})
    assert result.effective_n == pytest.approx(kish_effective_n(result.weights), rel=1e-12)
    assert result.design_effect * result.effective_n == pytest.approx(len(responses), rel=1e-12)
