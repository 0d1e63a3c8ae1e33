"""Multi-group CB-SEM and the invariance sequence against lavaan 0.6-14.

The reference numbers are in ``tests/reference/lavaan_multigroup.json``, written by
``tests/reference/lavaan_multigroup.R`` (HS39 by ``school``: configural, metric, scalar and
strict, their difference tests, and a structural model with a label, a fixed residual
covariance and equal regressions). Tolerances: 1e-4 relative on fit measures, 1e-3 on
estimates, standard errors and std.all (lavaan stops its optimiser at a looser
tolerance than these fits are solved to).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from semopy.examples import holzinger39

from models.invariance import invariance
from models.sem_groups import fit_multigroup
from models.syntax import ModelSyntaxError

REFERENCE = json.loads(
    (Path(__file__).parents[2] / "reference" / "lavaan_multigroup.json").read_text()
)
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
STRUCTURAL = """
  visual  =~ x1 + a*x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
  textual ~ visual
  speed ~ visual
  x3 ~~ 0.2*x5
"""
LEVELS = {
    "configural": [],
    "metric": ["loadings"],
    "scalar": ["loadings", "intercepts"],
    "strict": ["loadings", "intercepts", "residuals"],
}
FIT_KEYS = {
    "chisq": "chisq", "df": "df", "pvalue": "pvalue", "cfi": "cfi", "tli": "tli",
    "rmsea": "rmsea", "rmsea.ci.lower": "rmsea_ci_low", "rmsea.ci.upper": "rmsea_ci_high",
    "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "loglik",
    "baseline.chisq": "baseline_chisq", "baseline.df": "baseline_df", "npar": "npar",
}  # fmt: skip


@pytest.fixture(scope="module")
def hs():
    return holzinger39.get_data()


def assert_matches_lavaan(result, reference):
    lavaan = dict(zip(REFERENCE["measures"], reference["fit"], strict=True))
    for theirs, ours in FIT_KEYS.items():
        assert result.fit[ours] == pytest.approx(lavaan[theirs], rel=1e-4), theirs
    table = result.estimates.set_index(["group", "lhs", "op", "rhs"])
    assert len(table) == len(reference["estimates"])
    for row in reference["estimates"]:
        ours = table.loc[(result.groups[row["group"] - 1], row["lhs"], row["op"], row["rhs"])]
        assert ours["estimate"] == pytest.approx(row["est"], rel=1e-3, abs=1e-6), row
        assert ours["std_estimate"] == pytest.approx(row["std_all"], rel=1e-3, abs=1e-6), row
        if row["se"]:
            assert ours["se"] == pytest.approx(row["se"], rel=1e-3), row
        else:  # fixed: lavaan's se 0, ours NaN
            assert math.isnan(ours["se"]), row


@pytest.mark.parametrize("level", LEVELS)
def test_each_invariance_level_reproduces_lavaan(hs, level):
    result = fit_multigroup(HS_MODEL, hs, "school", group_equal=LEVELS[level])
    assert result.groups == tuple(REFERENCE["groups"])  # order of first appearance
    assert [result.n_obs[g] for g in result.groups] == REFERENCE["n"]
    assert result.converged and result.proper
    assert_matches_lavaan(result, REFERENCE["levels"][level])


def test_labels_fixed_values_and_equal_regressions_reproduce_lavaan(hs):
    result = fit_multigroup(STRUCTURAL, hs, "school", group_equal=["loadings", "regressions"])
    assert_matches_lavaan(result, REFERENCE["structural"])
    # auto.cov.y: the residuals of the two pure outcomes covary, freely in each group.
    residual = result.estimates.query("lhs == 'textual' and op == '~~' and rhs == 'speed'")
    assert len(residual) == 2 and residual["se"].notna().all()


def test_invariance_sequence_reproduces_lavaans_difference_tests(hs):
    result = invariance(HS_MODEL, hs, "school")
    lrt = REFERENCE["lrt"]
    assert [s.level for s in result.steps] == list(LEVELS)
    for step, chisq, df, p in zip(
        result.steps[1:],
        lrt["chisq_diff"][1:],
        lrt["df_diff"][1:],
        lrt["p_value"][1:],
        strict=True,
    ):
        assert step.delta_chisq == pytest.approx(chisq, rel=1e-4)
        assert step.delta_df == df
        assert step.p_value == pytest.approx(p, rel=1e-3)
    # metric holds (p .224, delta CFI -.002); scalar fails (p 4e-7, delta CFI -.038).
    assert [s.holds for s in result.steps] == [None, True, False, False]
    assert result.highest_level == "metric"
    assert result.latent_means is None and "scalar invariance does not hold" in (
        result.latent_means_note
    )
    report = result.to_dict()
    assert set(report["steps"][1]) >= {"level", "chisq", "df", "cfi", "rmsea", "delta_chisq",
                                       "delta_df", "p_value", "delta_cfi"}  # fmt: skip
    assert report["highest_level"] == "metric" and "delta CFI >= -.01" in report["rule"]


def simulated(shift: dict[str, float], intercept_shift: float = 0.0, n: int = 2000, seed: int = 7):
    """Two factors, three groups; ``shift`` moves a group's factor mean, and
    ``intercept_shift`` the third group's intercept of y2 (a non-invariant item)."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in ("north", "south", "east"):
        eta = rng.multivariate_normal([shift.get(group, 0.0)] * 2, [[1, 0.4], [0.4, 1]], n)
        loadings = np.array([1.0, 0.8, 0.9])
        rows = {}
        for f, name in enumerate(("x", "y")):
            for i, lam in enumerate(loadings):
                rows[f"{name}{i + 1}"] = 3 + lam * eta[:, f] + rng.normal(0, 0.6, n)
        if group == "east":
            rows["y2"] = rows["y2"] + intercept_shift
        frames.append(pd.DataFrame(rows).assign(region=group))
    return pd.concat(frames, ignore_index=True)


TWO_FACTORS = "fx =~ x1 + x2 + x3\nfy =~ y1 + y2 + y3\n"


def test_invariant_groups_reach_strict_and_recover_the_latent_mean_shift():
    result = invariance(TWO_FACTORS, simulated({"south": 0.5}), "region")
    assert result.highest_level == "strict"
    means = result.latent_means.set_index(["group", "factor"])["estimate"]
    assert means[("south", "fx")] == pytest.approx(0.5, abs=0.1)
    assert means[("east", "fy")] == pytest.approx(0.0, abs=0.1)


def test_a_shifted_intercept_stops_the_sequence_at_metric():
    result = invariance(TWO_FACTORS, simulated({}, intercept_shift=0.5), "region")
    scalar = result.steps[2]
    assert scalar.level == "scalar" and scalar.holds is False and scalar.p_value < 1e-6
    assert result.highest_level == "metric" and result.latent_means is None


def test_intercepts_equal_free_the_latent_means_of_later_groups(hs):
    result = fit_multigroup(HS_MODEL, hs, "school", group_equal=["loadings", "intercepts"])
    means = result.estimates.query("op == '~1' and lhs == 'visual'").set_index("group")
    assert means.loc["Pasteur", "estimate"] == 0 and math.isnan(means.loc["Pasteur", "se"])
    assert means.loc["Grant-White", "se"] > 0
    both = fit_multigroup(HS_MODEL, hs, "school", group_equal=["loadings", "intercepts", "means"])
    assert both.fit["df"] == result.fit["df"] + 3


@pytest.mark.parametrize(
    ("model", "data_change", "kwargs", "words"),
    [
        (HS_MODEL, None, {"group_equal": ["loading"]}, "unknown group.equal constraint 'loading'"),
        (HS_MODEL, "one group", {}, "needs at least two"),
        (HS_MODEL, "tiny group", {}, "group 'tiny'"),
        (HS_MODEL, "no column", {}, "no column(s) school"),
        ("f <~ x1 + x2 + x3", None, {}, "composite"),
        ("visual =~ x1 + x2 + x3\nvisual ~ x4", None, {}, "observed and exogenous"),
        ("visual =~ x1 + x2 +", None, {}, "line 1"),
    ],
)
def test_what_it_cannot_fit_is_refused_with_the_reason(hs, model, data_change, kwargs, words):
    data = hs.copy()
    if data_change == "one group":
        data["school"] = "Pasteur"
    elif data_change == "tiny group":
        data.loc[data.index[:5], "school"] = "tiny"
    elif data_change == "no column":
        data = data.drop(columns="school")
    with pytest.raises((ValueError, ModelSyntaxError)) as error:
        fit_multigroup(model, data, "school", **kwargs)
    assert words in str(error.value)


def test_rows_with_a_missing_value_or_group_are_dropped_and_counted(hs):
    data = hs.copy()
    data.loc[data.index[:3], "x1"] = np.nan
    data.loc[data.index[3:5], "school"] = None
    result = fit_multigroup(HS_MODEL, data, "school")
    assert result.dropped == 5 and sum(result.n_obs.values()) == 296
    assert any(w.code == "listwise-deletion" for w in result.warnings)


def test_the_engine_imports_no_semopy():
    import subprocess
    import sys

    code = "import sys, models.sem_groups, models.invariance; print('semopy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
