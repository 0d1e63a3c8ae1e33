"""Robust ML (MLR) against lavaan 0.6-14: Huber-White standard errors, the Yuan-Bentler
scaled chi-square and the robust CFI, TLI and RMSEA, for one group and for a multi-group
model with equal loadings and intercepts. Numbers from ``tests/reference/lavaan_mlr.R``
(``lavaan_mlr.json``); tolerances 1e-5 relative on fit measures, 1e-4 on standard errors
(the observed information is a central difference of the analytic gradient).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from semopy.examples import holzinger39

from models.sem import fit_sem
from models.sem_groups import fit_multigroup

REFERENCE = json.loads((Path(__file__).parents[2] / "reference" / "lavaan_mlr.json").read_text())
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
KEYS = {
    "chisq": "chisq", "df": "df", "chisq.scaled": "chisq_scaled",
    "chisq.scaling.factor": "scaling_factor", "baseline.chisq": "baseline_chisq",
    "baseline.chisq.scaled": "baseline_chisq_scaled",
    "baseline.chisq.scaling.factor": "baseline_scaling_factor", "cfi": "cfi", "tli": "tli",
    "rmsea": "rmsea", "srmr": "srmr", "aic": "aic", "bic": "bic", "cfi.robust": "cfi_robust",
    "tli.robust": "tli_robust", "rmsea.robust": "rmsea_robust",
}  # fmt: skip


@pytest.fixture(scope="module")
def hs():
    return holzinger39.get_data()


def check(fit, estimates, groups, reference):
    lavaan = dict(zip(REFERENCE["measures"], reference["fit"], strict=True))
    for theirs, ours in KEYS.items():
        assert fit[ours] == pytest.approx(lavaan[theirs], rel=1e-5), theirs
    table = estimates.set_index(["group", "lhs", "op", "rhs"])
    assert len(table) == len(reference["estimates"])
    for row in reference["estimates"]:
        ours = table.loc[(groups[row["group"] - 1], row["lhs"], row["op"], row["rhs"])]
        assert ours["estimate"] == pytest.approx(row["est"], rel=1e-4, abs=1e-6), row
        if row["se"]:
            assert ours["se"] == pytest.approx(row["se"], rel=1e-4), row
        else:
            assert math.isnan(ours["se"]), row


def test_single_group_mlr_is_lavaans(hs):
    result = fit_sem(MODEL, hs, estimator="MLR")
    check(result.fit, result.estimates.assign(group="all"), ["all"], REFERENCE["single"])
    assert "~1" not in set(result.estimates["op"])  # no mean structure, as lavaan
    assert result.provenance["se"] == "robust.huber.white"
    ml = fit_sem(MODEL, hs)  # the same estimates as ML, other standard errors
    np.testing.assert_allclose(
        result.estimates.set_index(["lhs", "op", "rhs"])["estimate"],
        ml.estimates.set_index(["lhs", "op", "rhs"])["estimate"].loc[
            result.estimates.set_index(["lhs", "op", "rhs"]).index
        ],
        rtol=1e-4,
    )
    assert result.r2["x1"] == pytest.approx(ml.r2["x1"], rel=1e-4)


def test_multigroup_mlr_with_equal_loadings_and_intercepts_is_lavaans(hs):
    result = fit_multigroup(MODEL, hs, "school", group_equal=["loadings", "intercepts"],
                            estimator="MLR")  # fmt: skip
    check(result.fit, result.estimates, list(result.groups), REFERENCE["scalar_by_school"])
    assert "robust (Yuan-Bentler)" in result.summary()


def test_mlr_needs_the_rows(hs):
    with pytest.raises(ValueError, match="MLR needs the raw rows"):
        fit_sem(MODEL, cov=hs[[f"x{i}" for i in range(1, 10)]].cov(), n_obs=301,
                estimator="MLR")  # fmt: skip
