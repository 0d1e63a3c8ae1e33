"""Measurement invariance across groups: configural → metric → scalar → strict, by ML or MLR.

Indexes, segment rankings and latent means can be compared across regions, halls or
customer tiers only when the items measure the same thing in each. :func:`invariance`
fits the usual sequence of nested multi-group models (:func:`models.sem_groups.fit_multigroup`)
and tests each step against the one before:

=============  =====================================  ==================================
level          held equal across groups (lavaan)      what it licenses
=============  =====================================  ==================================
configural     nothing: same pattern of loadings      the same constructs in each group
metric         ``loadings``                           comparing relations (paths)
scalar         + ``intercepts``                       comparing latent means
strict         + ``residuals``                        comparing observed (sum) scores
=============  =====================================  ==================================

**The rule for** ``highest_level``: walking up from configural, a step holds when its χ²
difference test against the previous step has p ≥ .05 **and** its CFI falls by no more
than .01 (ΔCFI ≥ −.01, Cheung & Rensvold 2002). ``highest_level`` is the last level
reached before the first step that fails; later steps are reported but do not count,
since each one presumes the one before. It is ``None`` when the configural model itself
is not a usable solution. Both criteria are required because the χ² difference test
rejects trivial differences in large samples and ΔCFI alone has no error control in
small ones.

**With** ``estimator="MLR"`` (robust ML, for skewed or bounded rating items) every level is
fitted by MLR, the difference test is lavaan's default for scaled statistics, the
Satorra-Bentler (2001) scaled difference ``(T₀ − T₁) / c_d`` with
``c_d = (df₀ c₀ − df₁ c₁) / (df₀ − df₁)`` (T the ML chi-squares, c the Yuan-Bentler scaling
factors, 0 the more restricted model), and ΔCFI is the change in the robust CFI
(Brosseau-Liard & Savalei 2014). When ``c_d`` is not positive the scaled difference is
undefined: the step's p-value is NaN, it does not hold, and a warning says so (lavaan
warns too; Satorra & Bentler 2010 give a remedy that needs another fit).

Latent mean differences are reported from the scalar model, where the first group's
factor means are fixed at 0 and the others' are free, and only when scalar invariance
holds; otherwise ``latent_means`` is None and ``latent_means_note`` says why.

References
----------
Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for testing
measurement invariance. *Structural Equation Modeling*, 9(2), 233-255.
doi:10.1207/S15328007SEM0902_5

Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic for
moment structure analysis. *Psychometrika*, 66(4), 507-514. doi:10.1007/BF02296192

Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit indices for
nonnormality. *Multivariate Behavioral Research*, 49(5), 460-470.
doi:10.1080/00273171.2014.933697

Vandenberg, R. J., & Lance, C. E. (2000). A review and synthesis of the measurement
invariance literature. *Organizational Research Methods*, 3(1), 4-70.
doi:10.1177/109442810031002
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.diagnostics import ModelWarning
from models.distributions import chi2_sf
from models.sem_groups import MultiGroupResult, fit_multigroup
from models.sem_result import json_number, json_records, three_decimals

__all__ = ["LEVELS", "InvarianceResult", "InvarianceStep", "invariance"]

#: The sequence, each level with the lavaan ``group.equal`` it imposes.
LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("configural", ()),
    ("metric", ("loadings",)),
    ("scalar", ("loadings", "intercepts")),
    ("strict", ("loadings", "intercepts", "residuals")),
)
#: A step holds when its difference test has at least this p-value ...
P_THRESHOLD = 0.05
#: ... and its CFI drops by no more than this.
DELTA_CFI_THRESHOLD = -0.01
RULE = (
    "a step holds when its chi-square difference test against the previous step has "
    "p >= .05 and its CFI drops by no more than .01 (delta CFI >= -.01); the highest level "
    "is the last one reached before the first step that fails"
)
ROBUST_RULE = (
    "with MLR, the test is the Satorra-Bentler (2001) scaled difference and the CFI the robust CFI"
)
#: Fit measures a step reports beside lavaan's ML ones when fitted by MLR.
_ROBUST_KEYS = ("chisq_scaled", "scaling_factor", "cfi_robust", "tli_robust", "rmsea_robust")


@dataclass(frozen=True)
class InvarianceStep:
    """One level of the sequence and its test against the level before."""

    level: str
    equal: tuple[str, ...]
    fit: MultiGroupResult
    delta_chisq: float
    delta_df: int | None
    p_value: float
    delta_cfi: float
    holds: bool | None  # None for configural, the reference
    #: MLR: the Satorra-Bentler difference's scaling factor c_d (NaN for configural).
    difference_scaling: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        f = self.fit.fit
        robust = {key: json_number(f[key]) for key in _ROBUST_KEYS if key in f}
        if robust:
            robust["difference_scaling"] = json_number(self.difference_scaling)
        return {
            "level": self.level,
            "group_equal": list(self.equal),
            "chisq": json_number(f["chisq"]),
            "df": f["df"],
            "pvalue": json_number(f["pvalue"]),
            "cfi": json_number(f["cfi"]),
            "tli": json_number(f["tli"]),
            "rmsea": json_number(f["rmsea"]),
            "srmr": json_number(f["srmr"]),
            "aic": json_number(f["aic"]),
            "bic": json_number(f["bic"]),
            "delta_chisq": json_number(self.delta_chisq),
            "delta_df": self.delta_df,
            "p_value": json_number(self.p_value),
            "delta_cfi": json_number(self.delta_cfi),
            "holds": self.holds,
            "proper": self.fit.proper,
            **robust,
        }


@dataclass(frozen=True)
class InvarianceResult:
    """The invariance sequence of one model across the groups of one column."""

    group: str
    groups: tuple[str, ...]
    n_obs: dict[str, int]
    steps: tuple[InvarianceStep, ...]
    highest_level: str | None
    latent_means: pd.DataFrame | None  # group, factor, estimate, se, z, p_value
    latent_means_note: str
    warnings: tuple[ModelWarning, ...]
    dropped: int = 0  # rows with a missing model variable or group, left out of every step
    estimator: str = "ML"

    @property
    def rule(self) -> str:
        return RULE if self.estimator == "ML" else f"{RULE}; {ROBUST_RULE}"

    def summary(self) -> str:
        robust = self.estimator == "MLR"
        chisq, cfi, rmsea = (
            ("chisq_scaled", "cfi_robust", "rmsea_robust") if robust else ("chisq", "cfi", "rmsea")
        )
        lines = [
            f"Measurement invariance ({self.estimator}) by {self.group}: "
            + ", ".join(f"{g} (N = {self.n_obs[g]})" for g in self.groups)
            + (f"; {self.dropped} rows with a missing value left out" if self.dropped else ""),
            f"{'level':<11}{'chisq':>10}{'df':>5}{'CFI':>7}{'RMSEA':>7}"
            f"{'d.chisq':>9}{'d.df':>5}{'p':>8}{'d.CFI':>8}  holds",
        ]
        for s in self.steps:
            f = s.fit.fit
            lines.append(
                f"{s.level:<11}{f[chisq]:>10.3f}{f['df']:>5}{f[cfi]:>7.3f}"
                f"{f[rmsea]:>7.3f}"
                + (
                    f"{s.delta_chisq:>9.3f}{s.delta_df:>5}{s.p_value:>8.3f}{s.delta_cfi:>8.3f}"
                    f"  {'yes' if s.holds else 'no'}"
                    if s.holds is not None
                    else f"{'':>30}  (reference)"
                )
            )
        if robust:
            lines.append(
                "chisq is the Yuan-Bentler scaled chi-square, CFI and RMSEA the robust ones, "
                "d.chisq the Satorra-Bentler (2001) scaled difference."
            )
        lines.append(f"Highest level: {self.highest_level or 'none'} ({self.rule}).")
        if self.latent_means is not None:
            table = self.latent_means.to_string(index=False, float_format=three_decimals)
            lines += ["Latent mean differences from the first group (scalar model):", table]
        else:
            lines.append(self.latent_means_note)
        lines += [f"[{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "groups": list(self.groups),
            "n_obs": dict(self.n_obs),
            "dropped": self.dropped,
            "steps": [s.to_dict() for s in self.steps],
            "highest_level": self.highest_level,
            "estimator": self.estimator,
            "rule": self.rule,
            "latent_means": None if self.latent_means is None else json_records(self.latent_means),
            "latent_means_note": self.latent_means_note,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def invariance(
    model: str, data: pd.DataFrame, group: str, *, estimator: str = "ML"
) -> InvarianceResult:
    """Fit configural, metric, scalar and strict models and test each against the last.

    Parameters
    ----------
    model : str
        lavaan syntax of the measurement (and structural) model.
    data : DataFrame
        Raw rows with the model's variables and the group column.
    group : str
        Column whose values are the groups.
    estimator : {"ML", "MLR"}
        MLR fits every level by robust ML and tests the steps by the Satorra-Bentler
        (2001) scaled difference and the robust CFI (see the module notes).

    Returns
    -------
    InvarianceResult

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> text = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> invariance(text, holzinger39.get_data(), "school").highest_level
    'metric'
    """
    if estimator not in ("ML", "MLR"):
        raise ValueError(f"estimator must be 'ML' or 'MLR', got {estimator!r}")
    robust = estimator == "MLR"
    fits = [(level, equal, fit_multigroup(model, data, group, group_equal=equal,
                                          estimator=estimator))
            for level, equal in LEVELS]  # fmt: skip
    steps: list[InvarianceStep] = []
    undefined: list[ModelWarning] = []
    highest = fits[0][0] if fits[0][2].proper else None
    failed = highest is None
    for index, (level, equal, fitted) in enumerate(fits):
        if index == 0:
            nan = math.nan
            steps.append(InvarianceStep(level, equal, fitted, nan, None, nan, nan, None))
            continue
        before, after = fits[index - 1][2].fit, fitted.fit
        delta_df = int(after["df"] - before["df"])
        delta_chisq = after["chisq"] - before["chisq"]
        scaling = math.nan
        if robust:
            scaling, delta_chisq = _scaled_difference(before, after)
            if not scaling > 0:
                undefined.append(_undefined_difference(level, scaling))
        p_value = (
            chi2_sf(max(delta_chisq, 0.0), delta_df)
            if delta_df > 0 and math.isfinite(delta_chisq)
            else math.nan
        )
        cfi = "cfi_robust" if robust else "cfi"
        delta_cfi = after[cfi] - before[cfi]
        holds = bool(fitted.proper and p_value >= P_THRESHOLD and delta_cfi >= DELTA_CFI_THRESHOLD)
        steps.append(
            InvarianceStep(
                level, equal, fitted, delta_chisq, delta_df, p_value, delta_cfi, holds, scaling
            )
        )
        if not failed and holds:
            highest = level
        failed = failed or not holds
    scalar = fits[2][2]
    reached = [level for level, _ in LEVELS]
    scalar_holds = highest is not None and reached.index(highest) >= reached.index("scalar")
    if scalar_holds:
        latent_means, note = _latent_means(scalar), ""
    else:
        latent_means = None
        note = (
            "Latent means are not compared: scalar invariance does not hold, so a "
            "difference in means cannot be told apart from items working differently."
        )
    warnings = tuple(
        ModelWarning(w.code, f"{level}: {w.message}", w.severity, w.subject)
        for level, _, fitted in fits
        for w in fitted.warnings
        if w.severity != "info"
    ) + tuple(undefined)
    first = fits[0][2]
    return InvarianceResult(
        group=group,
        groups=first.groups,
        n_obs=first.n_obs,
        steps=tuple(steps),
        highest_level=highest,
        latent_means=latent_means,
        latent_means_note=note,
        warnings=warnings,
        dropped=first.dropped,
        estimator=estimator,
    )


def _scaled_difference(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Satorra-Bentler (2001): the difference's scaling factor c_d and ``(T₀ − T₁) / c_d``,
    with 0 the more restricted model (``after``); NaN for both when c_d ≤ 0."""
    df0, df1 = after["df"], before["df"]
    scaling = (df0 * after["scaling_factor"] - df1 * before["scaling_factor"]) / (df0 - df1)
    if not scaling > 0:
        return scaling, math.nan
    return scaling, (after["chisq"] - before["chisq"]) / scaling


def _undefined_difference(level: str, scaling: float) -> ModelWarning:
    return ModelWarning(
        "scaled-difference-undefined",
        f"{level}: the Satorra-Bentler scaled difference is undefined (its scaling factor "
        f"is {scaling:.4g}, not positive), so the step is not tested and does not hold. "
        "Compare the two levels with estimator ML, or with more rows per group.",
        "warning",
        level,
    )


def _latent_means(scalar: MultiGroupResult) -> pd.DataFrame:
    rows = scalar.estimates
    latent = set(rows.loc[rows["op"] == "=~", "lhs"])
    means = rows[
        (rows["op"] == "~1") & rows["lhs"].isin(latent) & (rows["group"] != scalar.groups[0])
    ]
    table = means[["group", "lhs", "estimate", "se", "z", "p_value"]].rename(
        columns={"lhs": "factor"}
    )
    return table.reset_index(drop=True)
