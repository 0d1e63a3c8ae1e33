"""Ordinal CB-SEM (WLSMV) against lavaan 0.6-14: thresholds, polychoric correlations and
their ``NACOV``, DWLS estimates with robust.sem standard errors, std.all, and the
scaled-and-shifted fit measures, on HolzingerSwineford1939 cut into 3 and 4 ordered
categories. Numbers from ``tests/reference/lavaan_wlsmv.R`` (``lavaan_wlsmv.json``), data
from ``hs39_ordered.csv`` (the same rows). Agreement reached is about 1e-7; tolerances are
1e-8 on thresholds, 1e-6 on polychorics and ``NACOV`` (lavaan's optimiser stops there),
1e-5 relative on estimates, standard errors and fit measures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.polychoric import bivariate_normal_cdf, ordinal_moments
from models.sem_ordinal import MAX_CATEGORIES, fit_ordinal

HERE = Path(__file__).parents[2] / "reference"
REFERENCE = json.loads((HERE / "lavaan_wlsmv.json").read_text())
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
ESTIMATE_KEYS = {"est": "estimate", "se": "se", "std_all": "std_estimate"}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(HERE / "hs39_ordered.csv")


@pytest.fixture(scope="module")
def result(data):
    return fit_ordinal(MODEL, data, REFERENCE["items"])


def test_moments_of_hs39_ordered_match_lavaan_sampstat_and_gamma(data):
    codes = data[REFERENCE["items"]].to_numpy() - 1
    moments = ordinal_moments(codes, codes.max(axis=0) + 1)
    np.testing.assert_allclose(
        np.concatenate(moments.thresholds), REFERENCE["thresholds"]["values"], atol=1e-8
    )
    np.testing.assert_allclose(moments.correlation, REFERENCE["polychoric"], atol=1e-6)
    np.testing.assert_allclose(moments.nacov, REFERENCE["gamma"], atol=1e-6)


def test_cfa_of_hs39_ordered_fit_measures_match_lavaan(result):
    assert result.converged and result.proper
    assert result.n_obs == REFERENCE["n_obs"]
    rename = {
        "chisq.scaling.factor": "scaling_factor", "chisq.shift.parameter": "shift_parameter",
        "rmsea.ci.lower": "rmsea_ci_low", "rmsea.ci.upper": "rmsea_ci_high",
        "rmsea.ci.lower.scaled": "rmsea_ci_low_scaled",
        "rmsea.ci.upper.scaled": "rmsea_ci_high_scaled",
    }  # fmt: skip
    for theirs, value in REFERENCE["fit"].items():
        ours = result.fit[rename.get(theirs, theirs.replace(".", "_"))]
        assert ours == pytest.approx(value, rel=1e-5), theirs


def test_cfa_of_hs39_ordered_estimates_ses_and_std_all_match_lavaan(result):
    table = result.estimates.set_index(["lhs", "op", "rhs"])
    compared = 0
    for row in REFERENCE["estimates"]:
        key = (row["lhs"], row["op"], row["rhs"])
        if row["op"] in ("|", "~*~", "~1"):
            continue
        ours = table.loc[key]
        for theirs, column in ESTIMATE_KEYS.items():
            if theirs == "se" and row["se"] == 0:  # fixed: lavaan prints 0, we NaN
                assert math.isnan(ours["se"])
                continue
            assert ours[column] == pytest.approx(row[theirs], rel=1e-5, abs=1e-9), (key, column)
            compared += 1
    assert compared == 3 * 6 + 9 * 2 + 6 * 3 + 3 * 2  # free loadings, markers, psi, theta


def test_thresholds_and_their_ses_match_lavaan(result):
    lavaan = [row for row in REFERENCE["estimates"] if row["op"] == "|"]
    assert list(result.thresholds["lhs"]) == [row["lhs"] for row in lavaan]
    assert list(result.thresholds["rhs"]) == [row["rhs"] for row in lavaan]
    np.testing.assert_allclose(result.thresholds["estimate"], [r["est"] for r in lavaan], atol=1e-8)
    np.testing.assert_allclose(result.thresholds["se"], [r["se"] for r in lavaan], rtol=1e-6)


def test_result_to_dict_is_strict_json(result):
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert '"scaling_factor"' in text
    assert "Ordinal SEM (WLSMV" in result.summary()


def test_bivariate_normal_cdf_agrees_with_scipy_including_zero_and_infinite_bounds():
    rng = np.random.default_rng(7)
    h, k = rng.normal(size=40), rng.normal(size=40)
    rho = rng.uniform(-0.99, 0.99, size=40)
    h[:4], k[2:6] = 0.0, 0.0
    expected = [
        stats.multivariate_normal([0, 0], [[1, r], [r, 1]]).cdf([a, b])
        for a, b, r in zip(h, k, rho, strict=True)
    ]
    np.testing.assert_allclose(bivariate_normal_cdf(h, k, rho), expected, atol=1e-7)
    assert bivariate_normal_cdf(np.inf, 0.3, 0.5) == pytest.approx(stats.norm.cdf(0.3))
    assert bivariate_normal_cdf(-np.inf, 0.3, 0.5) == 0.0


def test_rows_with_a_missing_item_are_dropped_and_reported(data):
    holed = data.astype(float).copy()
    holed.loc[:4, "x1"] = np.nan
    fitted = fit_ordinal(MODEL, holed)
    assert fitted.n_obs == len(data) - 5 and fitted.dropped == 5
    assert any(w.code == "listwise-deletion" for w in fitted.warnings)


def test_item_with_one_category_is_refused_naming_it_and_the_fix(data):
    flat = data.assign(x5=3)
    with pytest.raises(ValueError, match=r"x5 has one category only .*drop it from the model"):
        fit_ordinal(MODEL, flat)


def test_item_with_too_many_categories_is_refused_naming_it_and_the_fix(data):
    wide = data.assign(x7=np.arange(len(data)) % (MAX_CATEGORIES + 5))
    with pytest.raises(ValueError, match=r"x7 has 15 distinct answers.*continuous.*recode"):
        fit_ordinal(MODEL, wide)


def test_missing_column_is_refused_naming_it(data):
    with pytest.raises(ValueError, match=r"no column\(s\) x9 .*add the column"):
        fit_ordinal(MODEL, data.drop(columns="x9"))


def test_model_variable_left_out_of_ordered_is_refused_with_the_fix(data):
    with pytest.raises(ValueError, match=r"x9 are model variables not listed in ordered"):
        fit_ordinal(MODEL, data, [f"x{i}" for i in range(1, 9)])


def test_structural_model_with_labels_na_fixed_values_and_regressions_matches_lavaan(data):
    reference = REFERENCE["structural"]
    fitted = fit_ordinal(reference["model"], data)
    for theirs, value in reference["fit"].items():
        assert fitted.fit[theirs.replace(".", "_")] == pytest.approx(value, rel=1e-5), theirs
    table = fitted.estimates.set_index(["lhs", "op", "rhs"])
    assert len(table) == len(reference["estimates"])
    for row in reference["estimates"]:
        ours = table.loc[(row["lhs"], row["op"], row["rhs"])]
        for theirs, column in ESTIMATE_KEYS.items():
            if theirs == "se" and row["se"] == 0:
                continue
            assert ours[column] == pytest.approx(row[theirs], rel=1e-5, abs=1e-8), (row, column)
    # x9's residual variance is negative, as lavaan warns: an improper solution.
    assert not fitted.proper
    assert any(w.code == "heywood-case" and w.subject == "x9 ~~ x9" for w in fitted.warnings)


# --- two-category items with an empty cell (tests/reference/lavaan_wlsmv_binary.R) ---


BINARY = json.loads((HERE / "lavaan_wlsmv_binary.json").read_text())


@pytest.fixture(scope="module")
def binary():
    return pd.read_csv(HERE / "hs39_binary.csv")


def test_an_empty_cell_of_a_two_by_two_table_gets_lavaans_half(binary):
    # No respondent has x1 = 2 and x2 = 1: without lavaan's 0.5 (kept margins) the
    # tetrachoric correlation runs to its bound, 0.999.
    assert not ((binary["x1"] == 2) & (binary["x2"] == 1)).any()
    moments = ordinal_moments(binary.to_numpy() - 1, [2] * 9)
    assert moments.correlation[0, 1] == pytest.approx(BINARY["polychoric_x1_x2"], abs=1e-6)
    lower = [moments.correlation[i, j] for j in range(9) for i in range(j + 1, 9)]
    np.testing.assert_allclose(lower, BINARY["polychoric"], atol=1e-6)


def test_wlsmv_on_two_category_items_with_an_empty_cell_matches_lavaan(binary):
    fitted = fit_ordinal(MODEL, binary)
    for theirs, value in BINARY["fit"].items():
        assert fitted.fit[theirs.replace(".", "_")] == pytest.approx(value, rel=1e-5), theirs
    loadings = fitted.estimates[fitted.estimates["op"] == "=~"]
    np.testing.assert_allclose(loadings["estimate"], BINARY["loadings"], rtol=1e-5)
    np.testing.assert_allclose(loadings["se"].fillna(0.0), BINARY["loading_ses"], atol=1e-5)


def test_two_items_that_determine_each_other_are_refused_naming_both(binary):
    twin = binary.assign(x3=binary["x2"])
    with pytest.raises(ValueError, match=r"x2 and x3 have two categories each .*drop x3"):
        fit_ordinal(MODEL, twin)
