"""The invariance sequence with robust ML (MLR) against lavaan 0.6-14, HS39 by school: each
level's Yuan-Bentler scaled chi-square, scaling factor and robust fit measures, and
lavTestLRT's Satorra-Bentler (2001) scaled difference tests between the levels. Numbers
from ``tests/reference/lavaan_invariance_mlr.R`` (``lavaan_invariance_mlr.json``);
tolerance 1e-4 relative (the robust measures use the observed information, a central
difference of the analytic gradient; agreement is about 1e-5).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from semopy.examples import holzinger39

from models.invariance import _scaled_difference, invariance

REFERENCE = json.loads(
    (Path(__file__).parents[2] / "reference" / "lavaan_invariance_mlr.json").read_text()
)
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
KEYS = {
    "chisq": "chisq", "df": "df", "chisq.scaled": "chisq_scaled",
    "chisq.scaling.factor": "scaling_factor", "cfi": "cfi", "cfi.robust": "cfi_robust",
    "tli.robust": "tli_robust", "rmsea.robust": "rmsea_robust",
}  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return invariance(MODEL, holzinger39.get_data(), "school", estimator="MLR")


def test_every_level_has_lavaans_robust_fit(result):
    assert REFERENCE["method"] == "satorra.bentler.2001"
    for step in result.steps:
        lavaan = dict(zip(REFERENCE["measures"], REFERENCE["levels"][step.level], strict=True))
        for theirs, ours in KEYS.items():
            assert step.fit.fit[ours] == pytest.approx(lavaan[theirs], rel=1e-4), (step.level, ours)


def test_each_step_is_lavaans_satorra_bentler_scaled_difference(result):
    for step in result.steps[1:]:
        lavaan = REFERENCE["differences"][step.level]
        assert step.delta_chisq == pytest.approx(lavaan["chisq_diff"], rel=1e-4), step.level
        assert step.delta_df == lavaan["df_diff"]
        assert step.p_value == pytest.approx(lavaan["p_value"], rel=1e-3), step.level
        # Not the plain difference of the ML chi-squares.
        plain = step.fit.fit["chisq"] - result.steps[result.steps.index(step) - 1].fit.fit["chisq"]
        assert not math.isclose(step.delta_chisq, plain, rel_tol=1e-3)


def test_the_verdict_uses_the_scaled_test_and_the_robust_cfi(result):
    metric, scalar = result.steps[1], result.steps[2]
    assert metric.delta_cfi == pytest.approx(
        metric.fit.fit["cfi_robust"] - result.steps[0].fit.fit["cfi_robust"]
    )
    assert metric.holds and not scalar.holds
    assert result.highest_level == "metric" and result.latent_means is None
    report = result.to_dict()
    assert report["estimator"] == "MLR" and "Satorra-Bentler" in report["rule"]
    assert report["steps"][1]["difference_scaling"] > 0
    assert report["steps"][1]["chisq_scaled"] == pytest.approx(125.9974555, rel=1e-4)
    assert "Satorra-Bentler (2001) scaled difference" in result.summary()


def test_a_scaling_factor_that_is_not_positive_leaves_the_step_untested():
    # c_d = (df0 c0 - df1 c1) / (df0 - df1) <= 0: the difference is undefined, not computed.
    before = {"df": 48, "chisq": 100.0, "scaling_factor": 1.30}
    after = {"df": 54, "chisq": 110.0, "scaling_factor": 1.10}
    scaling, difference = _scaled_difference(before, after)
    assert scaling < 0 and math.isnan(difference)


def test_ml_is_still_the_default_and_other_estimators_are_refused():
    data = holzinger39.get_data()
    plain = invariance(MODEL, data, "school")
    assert plain.estimator == "ML" and "chisq_scaled" not in plain.to_dict()["steps"][0]
    with pytest.raises(ValueError, match="'ML' or 'MLR'"):
        invariance(MODEL, data, "school", estimator="WLSMV")
