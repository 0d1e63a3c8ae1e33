"""Covariance-based SEM checked against lavaan's published results and built-to-fail data.

Reference numbers: lavaan 0.6 tutorial output (Rosseel 2012), quoted to three decimals,
so estimates and fit measures are compared with an absolute tolerance of 1e-3 (rounding
of the published value plus optimizer tolerance) unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import semopy
from semopy.examples import holzinger39, political_democracy

from models import sem_fit_measures
from models.sem import ESTIMATORS, SEMResult, fit_sem
from models.sem_moments import fingerprint
from models.syntax import parse_model
from models.vocabulary import ESTIMATE_COLUMNS

HS_MODEL = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
HS_ITEMS = [f"x{i}" for i in range(1, 10)]

# The lavaan tutorial's model, written out here rather than taken from semopy's examples.
PD_MODEL = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""

LAVAAN_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def hs_data() -> pd.DataFrame:
    return holzinger39.get_data()


@pytest.fixture(scope="module")
def hs_result(hs_data) -> SEMResult:
    return fit_sem(HS_MODEL, hs_data)


@pytest.fixture(scope="module")
def pd_result() -> SEMResult:
    return fit_sem(PD_MODEL, political_democracy.get_data())


def _estimate(result: SEMResult, lhs: str, op: str, rhs: str, column: str = "estimate"):
    table = result.estimates
    row = table[(table["lhs"] == lhs) & (table["op"] == op) & (table["rhs"] == rhs)]
    assert len(row) == 1, f"{lhs} {op} {rhs} not found exactly once"
    return float(row[column].iloc[0])


def _cov_frame(matrix, names) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=names, columns=names)


def _codes(result: SEMResult) -> set[str]:
    return {w.code for w in result.warnings}


# --- lavaan reference: Holzinger & Swineford ----------------------------------------


@pytest.mark.parametrize(
    ("measure", "lavaan"),
    [
        ("chisq", 85.306),
        ("cfi", 0.931),
        ("tli", 0.896),
        ("rmsea", 0.092),
        ("rmsea_ci_low", 0.071),
        ("rmsea_ci_high", 0.114),
        ("srmr", 0.065),
        ("loglik", -3737.745),
        ("aic", 7517.490),
        ("bic", 7595.339),
    ],
)
def test_hs_cfa_fit_measure_matches_lavaan_to_three_decimals(hs_result, measure, lavaan):
    # Published values are rounded to 3 decimals: allow half a unit of the last digit plus
    # optimizer tolerance.
    assert hs_result.fit[measure] == pytest.approx(lavaan, abs=LAVAAN_TOLERANCE)


def test_hs_cfa_degrees_of_freedom_are_lavaans_24_and_36(hs_result):
    assert hs_result.fit["df"] == 24
    assert hs_result.fit["baseline_df"] == 36


@pytest.mark.parametrize(
    ("factor", "item", "lavaan"),
    [
        ("visual", "x2", 0.554),
        ("visual", "x3", 0.729),
        ("textual", "x5", 1.113),
        ("textual", "x6", 0.926),
        ("speed", "x8", 1.180),
        ("speed", "x9", 1.082),
    ],
)
def test_hs_cfa_loading_matches_lavaan(hs_result, factor, item, lavaan):
    assert _estimate(hs_result, factor, "=~", item) == pytest.approx(lavaan, abs=LAVAAN_TOLERANCE)


@pytest.mark.parametrize(
    ("item", "se", "std_all"),
    [("x2", 0.100, 0.424), ("x3", 0.109, 0.581), ("x8", 0.165, 0.723), ("x9", 0.151, 0.665)],
)
def test_hs_cfa_standard_errors_and_std_all_match_lavaan(hs_result, item, se, std_all):
    factor = {"x2": "visual", "x3": "visual", "x8": "speed", "x9": "speed"}[item]
    assert _estimate(hs_result, factor, "=~", item, "se") == pytest.approx(se, abs=1e-3)
    assert _estimate(hs_result, factor, "=~", item, "std_estimate") == pytest.approx(
        std_all, abs=1e-3
    )


def test_hs_cfa_marker_loading_is_fixed_with_nan_standard_error(hs_result):
    assert _estimate(hs_result, "visual", "=~", "x1") == 1.0
    assert math.isnan(_estimate(hs_result, "visual", "=~", "x1", "se"))


def test_hs_cfa_r2_is_one_minus_standardized_residual_variance(hs_result):
    # lavaan: R² of x1 is 0.596; it must also equal 1 − std.all of the residual variance.
    assert hs_result.r2["x1"] == pytest.approx(0.596, abs=1e-3)
    residual = _estimate(hs_result, "x1", "~~", "x1", "std_estimate")
    assert hs_result.r2["x1"] == pytest.approx(1.0 - residual, abs=1e-12)


def test_hs_cfa_is_converged_and_proper(hs_result):
    assert hs_result.converged and hs_result.proper
    assert hs_result.warnings == ()


# --- lavaan reference: Bollen's political democracy ---------------------------------


def test_political_democracy_chisq_matches_lavaan_tutorial(pd_result):
    assert pd_result.fit["chisq"] == pytest.approx(38.125, abs=LAVAAN_TOLERANCE)
    assert pd_result.fit["df"] == 35
    assert pd_result.fit["pvalue"] == pytest.approx(0.329, abs=LAVAAN_TOLERANCE)


@pytest.mark.parametrize(
    ("lhs", "rhs", "estimate", "std_all"),
    [
        ("dem60", "ind60", 1.483, 0.447),
        ("dem65", "ind60", 0.572, 0.182),
        ("dem65", "dem60", 0.837, 0.885),
    ],
)
def test_political_democracy_path_matches_lavaan_tutorial(pd_result, lhs, rhs, estimate, std_all):
    assert _estimate(pd_result, lhs, "~", rhs) == pytest.approx(estimate, abs=LAVAAN_TOLERANCE)
    assert _estimate(pd_result, lhs, "~", rhs, "std_estimate") == pytest.approx(
        std_all, abs=LAVAAN_TOLERANCE
    )


def test_political_democracy_residual_variance_of_y4_is_tutorials_not_semopys_file(pd_result):
    # semopy's shipped parameter file says 2.981; the lavaan tutorial says 3.148.
    assert _estimate(pd_result, "y4", "~~", "y4") == pytest.approx(3.148, abs=LAVAAN_TOLERANCE)


def test_political_democracy_residual_covariance_keeps_lavaan_lhs_rhs_order(pd_result):
    assert _estimate(pd_result, "y2", "~~", "y6") == pytest.approx(2.153, abs=LAVAAN_TOLERANCE)


# --- the estimates table and the result object --------------------------------------


def test_estimates_have_exactly_the_shared_vocabulary_columns(hs_result):
    assert tuple(hs_result.estimates.columns) == ESTIMATE_COLUMNS


def test_estimates_wald_interval_is_estimate_plus_minus_1_96_se(hs_result):
    table = hs_result.estimates.dropna(subset=["se"])
    half_width = 1.959963984540054 * table["se"]
    np.testing.assert_allclose(table["ci_high"] - table["estimate"], half_width, rtol=1e-12)
    np.testing.assert_allclose(table["z"], table["estimate"] / table["se"], rtol=1e-12)


def test_result_to_dict_is_strict_json(hs_result):
    text = json.dumps(hs_result.to_dict(), allow_nan=False)
    assert '"engine": "sem"' in text


def test_result_provenance_names_engine_estimator_versions_and_data_hash(hs_result):
    provenance = hs_result.provenance
    assert provenance["engine"] == "sem" and provenance["estimator"] == "ML"
    # ML is fitted by Manyi's own Fisher scoring (models.sem_groups), no semopy.
    assert provenance["optimizer"] == "Fisher scoring" and "semopy" not in provenance
    assert provenance["n_free_parameters"] == 21 and provenance["iterations"] > 0
    assert len(provenance["data_sha256"]) == 64


def test_semopy_provenance_names_its_version(hs_data):
    result = fit_sem(HS_MODEL, hs_data, estimator="GLS")
    assert result.provenance["semopy"] == semopy.__version__
    assert result.provenance["optimizer"] == "SLSQP"


def test_result_summary_and_html_show_fit_and_warnings(hs_result):
    assert "85.306" in hs_result.summary()
    assert "<table" in hs_result._repr_html_()


def test_result_is_frozen(hs_result):
    with pytest.raises(AttributeError):
        hs_result.converged = False  # type: ignore[misc]


def test_provenance_hash_identifies_values_not_storage_and_changes_with_one_cell(hs_data):
    answers = hs_data[HS_ITEMS].round().clip(-128, 127).astype("int64")
    as_ints = fit_sem(HS_MODEL, answers).provenance["data_sha256"]
    as_floats = fit_sem(HS_MODEL, answers.astype("float64")).provenance["data_sha256"]
    assert as_ints == as_floats
    changed = answers.copy()
    changed.iloc[0, changed.columns.get_loc("x5")] += 1
    assert fit_sem(HS_MODEL, changed).provenance["data_sha256"] != as_ints


def test_fingerprint_is_sha256_of_the_documented_canonical_stream():
    rows = np.array([[1.0, 0.5], [-2.0, 1e6], [127.0, -0.25]])
    columns = ["likert", "amount"]
    # Independent spelling of the stream in fingerprint's Notes: names as JSON, n, then a
    # tag and the values per column (one byte for small integers, else float64).
    stream = (
        b'["likert", "amount"]'
        + (3).to_bytes(8, "little")
        + b"\x01" + np.array([1, -2, 127], dtype=np.int8).tobytes()
        + b"\x08" + np.array([0.5, 1e6, -0.25], dtype="<f8").tobytes()
    )  # fmt: skip
    assert fingerprint(rows, columns) == hashlib.sha256(stream).hexdigest()
    assert fingerprint(np.asfortranarray(rows), columns) == fingerprint(rows, columns)
    # 128 does not fit a signed byte: the column falls back to float64 and hashes differently.
    widened = rows.copy()
    widened[2, 0] = 128.0
    assert fingerprint(widened, columns) != fingerprint(rows, columns)
    assert fingerprint(rows, ["likert", "other"]) != fingerprint(rows, columns)


def test_fingerprint_keeps_missing_cells_as_float64_without_warnings():
    rows = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # casting NaN to int8 must not leak a RuntimeWarning
        with_nan = fingerprint(rows, ["a", "b"])
    filled = rows.copy()
    filled[1, 0] = 0.0
    assert with_nan != fingerprint(filled, ["a", "b"])


# --- a parsed spec instead of text --------------------------------------------------


@pytest.mark.parametrize("which", ["hs", "pd"])
def test_fit_from_parsed_spec_equals_fit_from_text(which, hs_data, hs_result, pd_result):
    text, data, expected = {
        "hs": (HS_MODEL, hs_data, hs_result),
        "pd": (PD_MODEL, political_democracy.get_data(), pd_result),
    }[which]
    spec = parse_model(text)
    result = fit_sem(spec, data)
    assert result.model == spec.to_lavaan()
    pd.testing.assert_frame_equal(result.estimates, expected.estimates)
    assert result.fit == expected.fit
    assert result.r2 == expected.r2
    assert result.provenance["data_sha256"] == expected.provenance["data_sha256"]


def test_model_that_is_neither_text_nor_spec_is_rejected(hs_data):
    with pytest.raises(TypeError, match="PathSpec"):
        fit_sem(["visual =~ x1 + x2 + x3"], hs_data)  # type: ignore[arg-type]


# --- summary statistics instead of rows ---------------------------------------------


def test_fit_from_biased_covariance_equals_fit_from_raw_rows(hs_data, hs_result):
    cov = hs_data[HS_ITEMS].cov(ddof=0)
    from_cov = fit_sem(HS_MODEL, cov=cov, n_obs=len(hs_data))
    # Same moments up to summation order: estimates agree to 1e-6.
    np.testing.assert_allclose(
        from_cov.estimates["estimate"], hs_result.estimates["estimate"], atol=1e-6
    )
    assert from_cov.fit["chisq"] == pytest.approx(hs_result.fit["chisq"], abs=1e-6)
    assert from_cov.provenance["data_sha256"] == "covariance"


def test_fit_from_unbiased_covariance_differs_so_divisor_matters(hs_data, hs_result):
    # Guards the N divisor: with the N − 1 matrix chi-square changes in the 2nd decimal.
    unbiased = fit_sem(HS_MODEL, cov=hs_data[HS_ITEMS].cov(), n_obs=len(hs_data))
    assert abs(unbiased.fit["loglik"] - hs_result.fit["loglik"]) > 0.1


def test_raw_rows_with_missing_values_are_dropped_listwise_with_info(hs_data):
    data = hs_data.copy()
    data.loc[data.index[:10], "x1"] = np.nan
    result = fit_sem(HS_MODEL, data)
    assert result.n_obs == len(hs_data) - 10
    assert "listwise-deletion" in _codes(result)
    assert result.proper  # info does not make a solution improper


def test_regression_on_observed_covariates_equals_ols_with_zero_df():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 2))
    y = 0.2 + x @ np.array([0.5, -0.3]) + rng.normal(size=400)
    data = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": y})
    result = fit_sem("y ~ x1 + x2", data)
    ols = np.linalg.lstsq(np.c_[np.ones(400), x], y, rcond=None)[0]
    # ML regression slopes are the OLS slopes (optimizer tolerance 1e-6).
    assert _estimate(result, "y", "~", "x1") == pytest.approx(ols[1], abs=1e-6)
    assert _estimate(result, "y", "~", "x2") == pytest.approx(ols[2], abs=1e-6)
    # lavaan's fixed.x: covariate moments are not counted, so the saturated model has df 0.
    assert result.fit["df"] == 0
    assert result.fit["cfi"] == pytest.approx(1.0, abs=1e-9)


# --- other estimators ---------------------------------------------------------------


def _simulated_cfa(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    rng = np.random.default_rng(seed)
    loadings = {"a2": 0.8, "a3": 1.2, "b2": 0.9, "b3": 1.1}
    factors = rng.multivariate_normal([0, 0], [[1.0, 0.4], [0.4, 1.0]], size=n)
    columns = {
        "a1": factors[:, 0],
        "a2": loadings["a2"] * factors[:, 0],
        "a3": loadings["a3"] * factors[:, 0],
        "b1": factors[:, 1],
        "b2": loadings["b2"] * factors[:, 1],
        "b3": loadings["b3"] * factors[:, 1],
    }
    data = pd.DataFrame({k: v + rng.normal(scale=0.6, size=n) for k, v in columns.items()})
    return data, loadings


SIM_MODEL = "fa =~ a1 + a2 + a3\nfb =~ b1 + b2 + b3"


@pytest.mark.parametrize("estimator", ["GLS", "ULS"])
def test_least_squares_estimators_recover_simulated_loadings(estimator):
    data, truth = _simulated_cfa(4000, seed=3)
    result = fit_sem(SIM_MODEL, data, estimator=estimator)
    assert result.converged and result.proper
    for item, value in truth.items():
        factor = "fa" if item.startswith("a") else "fb"
        # n = 4000: SEs are about 0.02, so 0.08 is four standard errors.
        assert _estimate(result, factor, "=~", item) == pytest.approx(value, abs=0.08)
        assert 0.005 < _estimate(result, factor, "=~", item, "se") < 0.05


def test_gls_chisq_is_close_to_ml_chisq_for_a_correct_model():
    data, _ = _simulated_cfa(4000, seed=4)
    ml = fit_sem(SIM_MODEL, data)
    gls = fit_sem(SIM_MODEL, data, estimator="GLS")
    # Both are asymptotically χ²(8) under a correct model and differ by O(1/sqrt(N)).
    assert gls.fit["df"] == ml.fit["df"] == 8
    assert gls.fit["chisq"] == pytest.approx(ml.fit["chisq"], abs=1.0)


def test_uls_reports_no_chisq_and_says_so(hs_data):
    result = fit_sem(HS_MODEL, hs_data, estimator="ULS")
    assert math.isnan(result.fit["chisq"]) and math.isnan(result.fit["cfi"])
    assert 0 < result.fit["srmr"] < 0.2
    assert "no-test-statistic" in _codes(result)


def test_fiml_on_complete_rows_reproduces_ml_estimates_and_loglik(hs_data, hs_result):
    result = fit_sem(HS_MODEL, hs_data, estimator="FIML")
    ml = hs_result.estimates.set_index(["lhs", "op", "rhs"])["estimate"]
    fiml = result.estimates.set_index(["lhs", "op", "rhs"])["estimate"]
    np.testing.assert_allclose(fiml.loc[ml.index], ml, atol=1e-4)
    assert result.fit["loglik"] == pytest.approx(-3737.745, abs=LAVAAN_TOLERANCE)
    assert result.fit["chisq"] == pytest.approx(85.306, abs=LAVAAN_TOLERANCE)
    # lavaan with a mean structure counts 9 intercepts more: AIC 7517.490 + 18.
    assert result.fit["aic"] == pytest.approx(7535.490, abs=LAVAAN_TOLERANCE)
    assert _estimate(result, "x1", "~1", "") == pytest.approx(hs_data["x1"].mean(), abs=1e-4)


def test_fiml_with_missing_cells_recovers_loadings_and_differs_from_listwise():
    data, truth = _simulated_cfa(1500, seed=5)
    rng = np.random.default_rng(6)
    # Missing at random: a2 and b3 go missing more often when a1 is high.
    high = data["a1"] > data["a1"].median()
    for column in ("a2", "b3"):
        drop = rng.random(len(data)) < np.where(high, 0.4, 0.05)
        data.loc[drop, column] = np.nan
    fiml = fit_sem(SIM_MODEL, data, estimator="FIML")
    listwise = fit_sem(SIM_MODEL, data)
    assert fiml.converged and fiml.proper and fiml.n_obs == 1500
    for item, value in truth.items():
        factor = "fa" if item.startswith("a") else "fb"
        assert _estimate(fiml, factor, "=~", item) == pytest.approx(value, abs=0.1)
    assert listwise.n_obs < 1500
    assert fiml.fit["chisq"] >= 0 and fiml.fit["df"] == 8


def test_fiml_pattern_objective_equals_semopys_rowwise_objective(hs_data):
    data = hs_data[HS_ITEMS].to_numpy(copy=True)
    data[np.random.default_rng(2).random(data.shape) < 0.1] = np.nan
    frame = pd.DataFrame(data, columns=HS_ITEMS)
    model = semopy.ModelMeans(HS_MODEL)
    model.load(frame)
    # semopy's load() means to prepare the FIML row groups but compares bound methods
    # with `is`, which is never true; fit() prepares them, so do it by hand here.
    model.prepare_fiml()
    sigma, (m, _) = model.calc_sigma()
    mu = (m @ model.mx_gamma1 + model.mx_gamma2)[:, model.names_gamma1[1].index("1")]
    ours = sem_fit_measures.fiml_discrepancy(sem_fit_measures.pattern_moments(data), sigma, mu)
    assert ours == pytest.approx(model.obj_fiml(model.param_vals), rel=1e-10)


# --- improper solutions are never silent --------------------------------------------


def test_three_indicator_factor_with_implied_loading_above_one_is_a_heywood_case():
    # r12·r13/r23 = 0.81/0.70 > 1: the just-identified solution needs a negative
    # residual variance for a and a standardized loading above 1.
    cov = _cov_frame([[1, 0.9, 0.9], [0.9, 1, 0.7], [0.9, 0.7, 1]], ["a", "b", "c"])
    result = fit_sem("f =~ a + b + c", cov=cov, n_obs=200)
    assert _estimate(result, "a", "~~", "a") < 0
    assert {"heywood-case", "std-beyond-one"} <= _codes(result)
    assert not result.proper


def test_iteration_cap_reports_not_converged(hs_data):
    result = fit_sem(HS_MODEL, hs_data, max_iter=2)
    assert not result.converged and not result.proper
    assert "not-converged" in _codes(result)


def test_two_indicator_single_factor_has_negative_df_and_is_under_identified(hs_data):
    result = fit_sem("f =~ x1 + x2", hs_data)
    assert result.fit["df"] == -1
    assert "under-identified" in _codes(result)
    assert not result.proper


def test_uncorrelated_two_indicator_factor_is_empirically_under_identified():
    # f2 has two indicators and no covariance with f1: λ5 and ψ22 trade off exactly, so
    # the information matrix is singular although df = 4.
    loadings = np.zeros((5, 2))
    loadings[:3, 0] = 0.7
    loadings[3:, 1] = 0.7
    names = [f"v{i}" for i in range(1, 6)]
    cov = _cov_frame(loadings @ loadings.T + np.diag([0.51] * 5), names)
    result = fit_sem("f1 =~ v1 + v2 + v3\nf2 =~ v4 + v5", cov=cov, n_obs=300)
    assert result.fit["df"] == 4
    assert "under-identified" in _codes(result)
    assert not result.proper


def test_cross_factor_correlations_above_within_give_latent_correlation_above_one():
    # Items correlate 0.49 within and 0.55 across factors: implied latent r = 1.12.
    matrix = np.full((6, 6), 0.55)
    matrix[:3, :3] = matrix[3:, 3:] = 0.49
    np.fill_diagonal(matrix, 1.0)
    names = [f"v{i}" for i in range(1, 7)]
    result = fit_sem(
        "f1 =~ v1 + v2 + v3\nf2 =~ v4 + v5 + v6", cov=_cov_frame(matrix, names), n_obs=500
    )
    assert _estimate(result, "f1", "~~", "f2", "std_estimate") == pytest.approx(
        0.55 / 0.49, abs=1e-3
    )
    assert {"latent-cov-not-pd", "std-beyond-one"} <= _codes(result)
    assert not result.proper


# --- input checks -------------------------------------------------------------------


def test_data_and_cov_together_are_rejected(hs_data):
    with pytest.raises(ValueError, match="exactly one"):
        fit_sem(HS_MODEL, hs_data, cov=hs_data[HS_ITEMS].cov(ddof=0), n_obs=301)


def test_cov_without_n_obs_is_rejected(hs_data):
    with pytest.raises(ValueError, match="n_obs"):
        fit_sem(HS_MODEL, cov=hs_data[HS_ITEMS].cov(ddof=0))


def test_singular_covariance_is_rejected_not_silently_smoothed(hs_data):
    data = hs_data.copy()
    data["x3"] = data["x1"] + data["x2"]
    with pytest.raises(ValueError, match="not positive definite"):
        fit_sem(HS_MODEL, data)


def test_missing_variable_is_named_in_the_error(hs_data):
    with pytest.raises(ValueError, match="x9"):
        fit_sem(HS_MODEL, hs_data.drop(columns="x9"))


def test_unknown_estimator_is_rejected(hs_data):
    with pytest.raises(ValueError, match="estimator"):
        fit_sem(HS_MODEL, hs_data, estimator="WLSMV")
    assert set(ESTIMATORS) == {"ML", "GLS", "ULS", "FIML", "MLR"}


def test_fiml_from_covariance_is_rejected(hs_data):
    with pytest.raises(ValueError, match="FIML"):
        fit_sem(HS_MODEL, cov=hs_data[HS_ITEMS].cov(ddof=0), n_obs=301, estimator="FIML")


# --- fit-measure formulas on their own ----------------------------------------------


def test_rmsea_interval_bounds_hit_the_noncentral_chi_square_quantiles():
    from scipy import stats

    chisq, df, n = 85.306, 24, 301
    low, high = sem_fit_measures.rmsea_ci(chisq, df, n)
    # By construction F(χ²; df, λ) is 0.95 at the lower and 0.05 at the upper bound.
    assert stats.ncx2.cdf(chisq, df, low**2 * n * df) == pytest.approx(0.95, abs=1e-8)
    assert stats.ncx2.cdf(chisq, df, high**2 * n * df) == pytest.approx(0.05, abs=1e-8)


def test_rmsea_interval_lower_bound_is_zero_when_chisq_below_df():
    low, high = sem_fit_measures.rmsea_ci(10.0, 20, 500)
    assert low == 0.0 and 0.0 <= high < 0.05


def test_em_saturated_on_complete_rows_gives_sample_moments(hs_data):
    rows = hs_data[HS_ITEMS].to_numpy()
    mean, cov, loglik = sem_fit_measures.em_saturated(rows)
    np.testing.assert_allclose(mean, rows.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(cov, np.cov(rows.T, bias=True), atol=1e-10)
    assert loglik == pytest.approx(sem_fit_measures.saturated_loglik(cov, len(rows)), abs=1e-6)


# --- semopy's class-level state -----------------------------------------------------


def test_concurrent_fits_in_threads_equal_sequential_fits(hs_data, hs_result, pd_result):
    jobs = [(HS_MODEL, hs_data), (PD_MODEL, political_democracy.get_data())] * 4
    start = threading.Barrier(4)

    def run(job):
        start.wait()
        return fit_sem(*job)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, jobs))
    for (model, _), result in zip(jobs, results, strict=True):
        expected = hs_result if model is HS_MODEL else pd_result
        np.testing.assert_allclose(
            result.estimates["estimate"], expected.estimates["estimate"], atol=1e-10
        )


@pytest.mark.parametrize("estimator", ["ML", "FIML"])
def test_column_order_of_the_data_changes_nothing(estimator):
    # The implied matrices follow the model's variable order; the data's column order must
    # not leak into SRMR, the FIML patterns or any estimate.
    from semopy.examples import holzinger39

    data = holzinger39.get_data()[[f"x{i}" for i in range(1, 10)]]
    shuffled = data[["x9", "x5", "x1", "x7", "x3", "x2", "x8", "x6", "x4"]]
    model = holzinger39.get_model()
    a = fit_sem(model, data, estimator=estimator)
    b = fit_sem(model, shuffled, estimator=estimator)
    for key, value in a.fit.items():
        assert b.fit[key] == pytest.approx(value, rel=1e-8, abs=1e-10, nan_ok=True), key
    pd.testing.assert_frame_equal(a.estimates, b.estimates, rtol=1e-6)
    if estimator == "ML":  # with FIML's mean structure the mean residuals enter SRMR too
        assert a.fit["srmr"] == pytest.approx(0.065, abs=1e-3)


def test_gls_follows_lavaan_fit_and_standard_errors(hs_data):
    """lavaan 0.6-14, estimator="GLS" on HS39 (tests/reference/lavaan_gls.R): the statistic
    and the information use N - 1 (77.471, where N would give 77.729, a p-value 9% off)."""
    result = fit_sem(HS_MODEL, hs_data, estimator="GLS")
    lavaan = {"chisq": 77.470723, "cfi": 0.779039, "tli": 0.668558, "rmsea": 0.086177,
              "rmsea_ci_low": 0.065156, "rmsea_ci_high": 0.108003, "srmr": 0.087545,
              "baseline_chisq": 277.991188}  # fmt: skip
    for key, value in lavaan.items():
        assert result.fit[key] == pytest.approx(value, rel=1e-4), key
    assert (result.fit["df"], result.fit["baseline_df"]) == (24, 36)
    table = result.estimates.set_index(["lhs", "op", "rhs"])
    for rhs, (estimate, se) in {"x2": (0.481127, 0.110118), "x3": (0.702249, 0.115484)}.items():
        assert table.loc[("visual", "=~", rhs), "estimate"] == pytest.approx(estimate, abs=1e-4)
        assert table.loc[("visual", "=~", rhs), "se"] == pytest.approx(se, abs=1e-4)
