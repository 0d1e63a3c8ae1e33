"""Driver importance: exact LMG, Johnson's relative weights, zero-order correlations.

References: pingouin's exact LMG (``linear_regression(relimp=True)``), a direct average
over all orderings of least-squares fits, closed forms for orthogonal drivers, and data
with integer weights expanded into repeated rows. Tolerances are stated per test.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy.stats import spearmanr

from scoring.importance import (
    MAX_LMG_PREDICTORS,
    correlation_importance,
    lmg,
    relative_weights,
)

METHODS = [lmg, relative_weights, correlation_importance]


def simulate(n: int, p: int, seed: int, rho: float = 0.4):
    """Drivers with pairwise correlation ``rho`` and decreasing true effects on y."""
    rng = np.random.default_rng(seed)
    cov = rho + (1 - rho) * np.eye(p)
    X = rng.multivariate_normal(np.zeros(p), cov, size=n) * rng.uniform(0.5, 3, p) + 3
    beta = np.linspace(0.6, 0.02, p)
    y = (X - 3) / X.std(axis=0) @ beta + rng.normal(size=n)
    return pd.DataFrame(X, columns=[f"d{j}" for j in range(p)]), pd.Series(y, name="sat")


def r2_lstsq(X: np.ndarray, y: np.ndarray) -> float:
    """R² of an ordinary least-squares fit with intercept, from the raw data."""
    design = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))


def test_lmg_ten_drivers_matches_pingouin_relimp_to_1e10_and_sums_to_r2():
    X, y = simulate(n=300, p=10, seed=1)
    result = lmg(X, y)
    reference = pg.linear_regression(X, y, relimp=True)
    reference = reference.set_index("names").loc[X.columns]
    np.testing.assert_allclose(result["importance"], reference["relimp"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(result["importance"].sum(), reference["r2"].iloc[0], atol=1e-10)
    assert result.attrs["r2"] == pytest.approx(r2_lstsq(X.to_numpy(), y.to_numpy()), abs=1e-12)
    np.testing.assert_allclose(result["share"].sum(), 1.0, atol=1e-12)
    assert list(result["driver"]) == list(X.columns)


def test_lmg_five_drivers_matches_average_over_all_orderings_to_1e12():
    X, y = simulate(n=120, p=5, seed=2, rho=0.6)
    x, target = X.to_numpy(), y.to_numpy()
    increments = np.zeros(5)
    orderings = list(permutations(range(5)))
    for order in orderings:
        previous = 0.0
        for k, j in enumerate(order):
            current = r2_lstsq(x[:, list(order[: k + 1])], target)
            increments[j] += current - previous
            previous = current
    reference = increments / len(orderings)
    np.testing.assert_allclose(lmg(X, y)["importance"], reference, rtol=0, atol=1e-12)


def test_lmg_and_relative_weights_orthogonal_drivers_equal_squared_correlations_1e12():
    # Exactly uncorrelated centred drivers: every R² increment of driver j is r_j², so
    # LMG, relative weights and squared correlations coincide.
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(80, 4))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    X = pd.DataFrame(q * [1, 2, 3, 4] + 10, columns=list("abcd"))
    y = q @ [0.5, 0.3, -0.2, 0.0] + rng.normal(size=80) * 0.05
    expected = correlation_importance(X, y)["correlation_squared"].to_numpy()
    np.testing.assert_allclose(lmg(X, y)["importance"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(relative_weights(X, y)["importance"], expected, rtol=0, atol=1e-12)


def test_relative_weights_simulated_data_sum_to_least_squares_r2_to_1e12():
    X, y = simulate(n=500, p=12, seed=4, rho=0.5)
    result = relative_weights(X, y)
    r2 = r2_lstsq(X.to_numpy(), y.to_numpy())
    assert result["importance"].sum() == pytest.approx(r2, abs=1e-12)
    assert result.attrs["r2"] == pytest.approx(r2, abs=1e-12)
    assert result["share"].sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_relative_weights_correlated_drivers_rank_like_lmg_spearman_at_least_095(seed):
    X, y = simulate(n=1000, p=10, seed=seed, rho=0.5)
    rho, _ = spearmanr(relative_weights(X, y)["importance"], lmg(X, y)["importance"])
    assert rho >= 0.95


def test_lmg_scale_and_shift_of_drivers_and_target_leave_importance_unchanged_1e12():
    X, y = simulate(n=200, p=6, seed=8)
    moved = X * [1, 10, 0.1, -2, 5, 1] + 7
    np.testing.assert_allclose(
        lmg(moved, 3 * y - 1)["importance"], lmg(X, y)["importance"], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_weighted_integer_frequency_weights_equal_rows_repeated_to_1e10(method):
    X, y = simulate(n=150, p=6, seed=9)
    counts = np.random.default_rng(10).integers(0, 5, size=len(X))
    weighted = method(X, y, weights=counts)
    repeated = np.repeat(np.arange(len(X)), counts)
    expanded = method(X.iloc[repeated].reset_index(drop=True), y.to_numpy()[repeated])
    numeric = weighted.columns.drop("driver")
    np.testing.assert_allclose(weighted[numeric], expanded[numeric], rtol=0, atol=1e-10)
    assert weighted.attrs["weighted"] and weighted.attrs["n_obs"] == np.count_nonzero(counts)


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_weighted_scaling_all_weights_leaves_result_unchanged_1e12(method):
    X, y = simulate(n=100, p=5, seed=11)
    w = np.random.default_rng(12).uniform(0.2, 3, size=len(X))
    numeric = ["importance"]
    np.testing.assert_allclose(
        method(X, y, weights=w)[numeric], method(X, y, weights=1000 * w)[numeric], atol=1e-12
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_rows_with_nan_are_dropped_casewise_by_default(method):
    X, y = simulate(n=120, p=5, seed=13)
    X.iloc[[3, 10], 1] = np.nan
    y.iloc[[10, 20]] = np.nan
    result = method(X, y)
    keep = X.notna().all(axis=1) & y.notna()
    expected = method(X[keep], y[keep])
    np.testing.assert_allclose(result["importance"], expected["importance"], atol=1e-14)
    assert result.attrs["n_dropped"] == 3 and result.attrs["n_obs"] == 117


def test_nullable_integer_answers_with_pd_na_are_dropped_like_nan_1e14():
    rng = np.random.default_rng(23)
    X = pd.DataFrame(rng.integers(1, 6, size=(80, 3)), columns=list("abc")).astype("Int64")
    y = (X.sum(axis=1) + rng.integers(0, 3, size=80)).astype("Int64")
    X.iloc[0, 0], y.iloc[5] = pd.NA, pd.NA
    result = lmg(X, y)
    expected = lmg(X.astype(float), y.astype(float))
    np.testing.assert_allclose(result["importance"], expected["importance"], atol=1e-14)
    assert result.attrs["n_dropped"] == 2


def test_nan_policy_raise_rows_with_nan_raise_with_column_counts():
    X, y = simulate(n=50, p=3, seed=14)
    X.iloc[0, 2] = np.nan
    with pytest.raises(ValueError, match=r"rows with missing values: 1 .*'d2': 1"):
        lmg(X, y, nan_policy="raise")


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_constant_driver_column_raises_naming_it(method):
    X, y = simulate(n=50, p=3, seed=15)
    X["d1"] = 4.0
    with pytest.raises(ValueError, match=r"constant columns.*: d1$"):
        method(X, y)


def test_constant_after_dropping_missing_rows_raises_naming_target():
    X, y = simulate(n=50, p=3, seed=16)
    y[:] = 2.0
    y.iloc[0] = np.nan
    with pytest.raises(ValueError, match=r"constant columns.*: y$"):
        lmg(X, y)


@pytest.mark.parametrize("method", [lmg, relative_weights], ids=lambda f: f.__name__)
def test_fewer_rows_than_drivers_plus_two_raises(method):
    X, y = simulate(n=6, p=5, seed=17)
    with pytest.raises(ValueError, match="6 usable rows .* 5 drivers; at least 7"):
        method(X, y)


@pytest.mark.parametrize("method", [lmg, relative_weights], ids=lambda f: f.__name__)
def test_collinear_drivers_raise_naming_only_those_involved(method):
    X, y = simulate(n=100, p=4, seed=18)
    X["d3"] = X["d0"] + 2 * X["d2"]
    with pytest.raises(ValueError, match=r"collinear drivers: d0, d2, d3 \("):
        method(X, y)


def test_correlation_importance_collinear_drivers_allowed_and_match_pandas_1e12():
    X, y = simulate(n=100, p=4, seed=19)
    X["d3"] = X["d0"] + 2 * X["d2"]
    result = correlation_importance(X, y)
    expected = X.corrwith(y).to_numpy()
    np.testing.assert_allclose(result["importance"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["correlation_squared"], expected**2, rtol=0, atol=1e-12)
    assert result.attrs["method"] == "zero-order correlation"


def test_lmg_more_than_max_drivers_raises_pointing_to_relative_weights():
    X = pd.DataFrame(np.random.default_rng(20).normal(size=(60, MAX_LMG_PREDICTORS + 1)))
    with pytest.raises(ValueError, match=r"23 drivers .* At most 22 .*relative_weights"):
        lmg(X, X.sum(axis=1))
    assert len(relative_weights(X, X.sum(axis=1) + X.iloc[:, 0] ** 2)) == 23


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (-np.ones(30), "finite and non-negative"),
        (np.ones(29), "one value per row of X"),
        (pd.Series(np.ones(30), index=np.arange(1, 31)), "index differs from X's"),
    ],
    ids=["negative", "wrong-length", "misaligned-series"],
)
def test_bad_weights_raise(weights, message):
    X, y = simulate(n=30, p=3, seed=21)
    with pytest.raises(ValueError, match=message):
        lmg(X, y, weights=weights)


def test_bad_inputs_raise_clear_errors():
    X, y = simulate(n=30, p=3, seed=22)
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        lmg(X, y, nan_policy="propagate")
    with pytest.raises(ValueError, match="driver columns must be numeric: label"):
        lmg(X.assign(label="a"), y)
    with pytest.raises(ValueError, match="infinite values in: d1"):
        lmg(X.assign(d1=np.inf), y)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        lmg(X.to_numpy(), y)
