"""Multi-group covariance-based SEM by normal-theory ML, as lavaan's ``group=``, ``group.equal=``.

semopy fits one group at a time and cannot hold a parameter equal across groups, so this
module is its own engine: lavaan's parameter table built from the same syntax, the
model-implied moments of every group in RAM form, and the multi-group ML discrepancy
minimised by Fisher scoring. It imports no semopy, so it costs no sympy either.

What lavaan does, and so this does (``cfa()``/``sem()`` defaults, ``meanstructure=TRUE``
as every multi-group fit has):

- the first loading of each factor is fixed at 1 (``auto.fix.first``) unless written
  ``NA*x``; a factor with one indicator fixes that indicator's residual variance at 0
  (``auto.fix.single``);
- every observed variable and every factor has a free (residual) variance; exogenous
  factors covary (``auto.cov.lv.x``) and so do the residuals of pure outcomes
  (``auto.cov.y``);
- observed intercepts are free in each group and factor means are 0; with
  ``intercepts`` in ``group_equal`` and ``means`` not, factor means are free in every group
  but the first, which is how the latent mean differences are identified;
- a label (``a*x2``) names one parameter across all groups, so it is equal in every group;
  a fixed value (``0.2*x5``) is fixed in every group.

Groups are taken in order of first appearance in the data, as lavaan does. Rows with a
missing value in a model variable or in the group column are dropped (listwise), and the
count is reported. Not here, and refused with the reason: composites (``<~``), observed
exogenous predictors (lavaan fixes them at their sample moments), missing-data FIML.

Notes
-----
With ``S_g`` the biased (divisor ``N_g``) covariance matrix and ``x̄_g`` the mean of group
g, lavaan's discrepancy is ``F = Σ_g (N_g/N) F_g / 2`` with
``F_g = log|Σ_g| + tr(S_g Σ_g⁻¹) − log|S_g| − p + (x̄_g − μ_g)' Σ_g⁻¹ (x̄_g − μ_g)``, and
``χ² = 2 N F``. Standard errors come from the expected information
``Σ_g (N_g/N) [½ tr(Σ_g⁻¹ ∂_iΣ_g Σ_g⁻¹ ∂_jΣ_g) + ∂_iμ_g' Σ_g⁻¹ ∂_jμ_g]`` divided into N.
RMSEA and its interval are multiplied by √G (Steiger 1998), as lavaan 0.6 does. SRMR is
the N_g-weighted mean of the groups' SRMR with their mean residuals (lavaan's
``srmr_bentler``). The baseline is the independence model with free means and variances
in every group. Validated against lavaan 0.6-14 (``tests/reference/lavaan_multigroup.R``).

References
----------
Jöreskog, K. G. (1971). Simultaneous factor analysis in several populations.
*Psychometrika*, 36(4), 409-426. doi:10.1007/BF02291366

Steiger, J. H. (1998). A note on multiple sample extensions of the RMSEA fit index.
*Structural Equation Modeling*, 5(4), 411-419. doi:10.1080/10705519809540115
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

# scipy.linalg, not numpy's: one Cholesky factorisation both tests and solves a step.
from scipy import linalg

from models import sem_checks, sem_fit_measures, sem_robust
from models.diagnostics import ModelWarning
from models.distributions import normal_quantile
from models.sem_estimates import estimate_row
from models.sem_result import json_number, json_records, three_decimals
from models.syntax import ModelSyntaxError, Statement, read_statements
from models.vocabulary import ESTIMATE_COLUMNS

__all__ = [
    "GROUP_EQUAL", "ModelOutOfReach", "MultiGroupResult", "ParameterTable", "Parameters",
    "fit_covariance", "fit_multigroup", "free_parameters", "parameter_table",
]  # fmt: skip

#: lavaan's ``group.equal`` names, and which parameters each holds equal across groups.
GROUP_EQUAL: dict[str, str] = {
    "loadings": "factor loadings (=~)",
    "intercepts": "intercepts of observed variables (~1)",
    "means": "means of factors (~1)",
    "residuals": "residual variances of observed variables",
    "residual.covariances": "residual covariances of observed variables",
    "lv.variances": "(residual) variances of factors",
    "lv.covariances": "(residual) covariances of factors",
    "regressions": "regression coefficients (~)",
}
_FIT_KEYS = (
    "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high",
    "srmr", "aic", "bic", "loglik", "baseline_chisq", "baseline_df", "npar",
)  # fmt: skip
#: The label of the one group of a single-group fit.
SINGLE_GROUP = "all"
_MAX_ITERATIONS = 500
# Fisher scoring stops when the largest step is below this (parameters are O(1)).
# Fisher scoring converges linearly once the model misfits, halving the step about every
# iteration; at 1e-8 the estimates are good to about 1e-8, far inside every reference's
# tolerance, some ten iterations before 1e-11 would be reached.
_STEP_TOLERANCE = 1e-8


@dataclass(frozen=True)
class _Entry:
    """One row of the parameter table, the same in every group."""

    lhs: str
    op: str  # "=~", "~", "~~" or "~1"
    rhs: str
    fixed: float | None  # the value, when the parameter is fixed
    label: str | None
    category: str  # the group.equal name that covers it


@dataclass(frozen=True)
class ParameterTable:
    """The parameter table and where each entry sits in the RAM matrices."""

    observed: list[str]
    latents: list[str]
    entries: list[_Entry]

    @property
    def variables(self) -> list[str]:
        return self.observed + self.latents


@dataclass(frozen=True)
class MultiGroupResult:
    """A multi-group SEM fitted by ML.

    Attributes
    ----------
    model : str
        The lavaan syntax fitted.
    group : str
        The column whose values define the groups.
    groups : tuple of str
        Group labels in order of first appearance.
    n_obs : dict
        Rows used per group.
    group_equal : tuple of str
        The ``group.equal`` constraints imposed.
    estimates : DataFrame
        One row per parameter and group: ``group`` then :data:`ESTIMATE_COLUMNS`.
    fit : dict
        lavaan's fit measures of the whole model (``chisq, df, pvalue, cfi, tli, rmsea,
        rmsea_ci_low, rmsea_ci_high, srmr, aic, bic, loglik, baseline_chisq, baseline_df,
        npar``); with MLR also ``chisq_scaled, scaling_factor, baseline_chisq_scaled,
        baseline_scaling_factor, cfi_robust, tli_robust, rmsea_robust``.
    converged, proper : bool
    warnings : tuple of ModelWarning
    dropped : int
        Rows dropped for a missing value.
    """

    model: str
    group: str
    groups: tuple[str, ...]
    n_obs: dict[str, int]
    group_equal: tuple[str, ...]
    estimates: pd.DataFrame
    fit: dict[str, float]
    converged: bool
    proper: bool
    warnings: tuple[ModelWarning, ...]
    dropped: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Per group, R² of every endogenous variable (indicators and outcomes), as lavaan's r2.
    r2: dict[str, dict[str, float]] = field(default_factory=dict)

    def group_estimates(self, label: str) -> pd.DataFrame:
        """The estimates of one group, without the ``group`` column."""
        rows = self.estimates[self.estimates["group"] == label]
        return rows.drop(columns="group").reset_index(drop=True)

    def summary(self) -> str:
        f = self.fit
        equal = ", ".join(self.group_equal) or "none (configural)"
        lines = [
            f"Multi-group SEM ({self.provenance.get('estimator', 'ML')}) by {self.group}: "
            + ", ".join(f"{g} (N = {self.n_obs[g]})" for g in self.groups),
            f"  equal across groups: {equal}; converged: {self.converged}, proper: {self.proper}",
            f"  chi-square {f['chisq']:.3f} on {f['df']} df, p = {f['pvalue']:.3f}",
            f"  CFI {f['cfi']:.3f}  TLI {f['tli']:.3f}  SRMR {f['srmr']:.3f}",
            f"  RMSEA {f['rmsea']:.3f} [{f['rmsea_ci_low']:.3f}, {f['rmsea_ci_high']:.3f}]",
            f"  logL {f['loglik']:.3f}  AIC {f['aic']:.3f}  BIC {f['bic']:.3f}",
        ]
        if "chisq_scaled" in f:
            lines.append(
                f"  robust (Yuan-Bentler): chi-square {f['chisq_scaled']:.3f}, scaling factor "
                f"{f['scaling_factor']:.3f}; CFI {f['cfi_robust']:.3f}  TLI "
                f"{f['tli_robust']:.3f}  RMSEA {f['rmsea_robust']:.3f}"
            )
        for label in self.groups:
            table = self.group_estimates(label).to_string(index=False, float_format=three_decimals)
            lines += ["", f"Group {label}:", table]
        lines += [f"[{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        fit = "".join(f"<tr><th>{k}</th><td>{v:.3f}</td></tr>" for k, v in self.fit.items())
        parts = [f"<p>Multi-group SEM by {html.escape(self.group)}</p><table>{fit}</table>"]
        for label in self.groups:
            parts.append(f"<h4>{html.escape(label)}</h4>")
            table = self.group_estimates(label)
            parts.append(table.to_html(index=False, float_format=three_decimals))
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``fit`` of the whole model, ``groups`` with each group's estimates."""
        return {
            "model": self.model,
            "group": self.group,
            "group_equal": list(self.group_equal),
            "fit": {k: json_number(v) for k, v in self.fit.items()},
            "groups": [
                {
                    "group": label,
                    "n_obs": self.n_obs[label],
                    "estimates": json_records(self.group_estimates(label)),
                }
                for label in self.groups
            ],
            "dropped": self.dropped,
            "converged": self.converged,
            "proper": self.proper,
            "warnings": [w.to_dict() for w in self.warnings],
            "provenance": dict(self.provenance),
        }


def fit_multigroup(
    model: str,
    data: pd.DataFrame,
    group: str | None,
    *,
    group_equal: tuple[str, ...] | list[str] = (),
    estimator: str = "ML",
    ci_level: float = 0.95,
) -> MultiGroupResult:
    """Fit one lavaan model in every group of ``data[group]`` by ML.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~``, ``~``, ``~~``, ``~1``, fixed values, ``NA*`` and labels.
    data : DataFrame
        Raw rows: the model's observed variables and the group column.
    group : str or None
        Column whose values are the groups (at least two). None fits one group, without
        a mean structure, as lavaan's single-group ``sem()`` does (for MLR).
    group_equal : sequence of str
        Names from :data:`GROUP_EQUAL`, held equal across groups.
    estimator : {"ML", "MLR"}
        ``"MLR"``: the same estimates with robust (Huber-White) standard errors and the
        Yuan-Bentler scaled chi-square and robust fit measures (:mod:`models.sem_robust`).
    ci_level : float
        Coverage of the Wald intervals.

    Returns
    -------
    MultiGroupResult

    Raises
    ------
    ValueError
        An unknown constraint, a missing column, fewer than two groups, a group whose
        covariance matrix is singular (named), or a model this engine does not fit.
    ModelSyntaxError
        Unreadable syntax, with its line.

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> hs = holzinger39.get_data()
    >>> text = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> result = fit_multigroup(text, hs, "school", group_equal=["loadings"])
    >>> round(result.fit["chisq"], 3), result.fit["df"]
    (124.044, 54)
    """
    unknown = [name for name in group_equal if name not in GROUP_EQUAL]
    if unknown:
        raise ValueError(
            f"unknown group.equal constraint {', '.join(map(repr, unknown))}: use "
            + ", ".join(GROUP_EQUAL)
        )
    if estimator not in ("ML", "MLR"):
        raise ValueError(f"estimator {estimator!r}: multi-group fits use ML or MLR")
    if group is None and group_equal:
        raise ValueError("group_equal needs a group column")
    structure = parameter_table(model)
    labels, samples, dropped = _samples(data, group, structure.observed)
    return _fit(
        model, structure, group, labels, samples, dropped, tuple(dict.fromkeys(group_equal)),
        estimator, ci_level, _MAX_ITERATIONS,
    )  # fmt: skip


def fit_covariance(
    model: str,
    structure: ParameterTable,
    cov: np.ndarray,
    n_obs: int,
    *,
    ci_level: float = 0.95,
    max_iter: int = _MAX_ITERATIONS,
) -> MultiGroupResult:
    """Fit ``model`` by ML in one group, without a mean structure, from its covariance matrix.

    This is lavaan's single-group ``sem()``, and :func:`models.sem.fit_sem`'s engine for
    ``estimator="ML"`` whenever the model is within this engine's reach (no composites,
    no observed exogenous predictors: :func:`parameter_table` raises ``ModelOutOfReach``).
    ML needs only ``structure`` (:func:`parameter_table` of ``model``), the biased
    (divisor N) covariance matrix ``cov`` of ``structure.observed`` in that order, and N,
    so its cost does not grow with the rows.
    """
    matrix = np.asarray(cov, dtype=float)
    sample = _Sample(n_obs, matrix, np.zeros(len(matrix)), None)
    return _fit(model, structure, None, [SINGLE_GROUP], [sample], 0, (), "ML", ci_level, max_iter)


def _fit(
    model, structure, group, labels, samples, dropped, equal, estimator, ci_level, max_iter
) -> MultiGroupResult:
    parameters = Parameters(structure, len(labels), equal)
    theta = parameters.start(samples)
    theta, converged, iterations = _fisher_scoring(parameters, samples, theta, max_iter)

    n_total = sum(s.n for s in samples)
    meanstructure = group is not None
    implied = [parameters.implied(theta, g) for g in range(len(samples))]
    information = _information(parameters, samples, implied, theta)
    se, singular = _standard_errors(information, n_total)
    fit = _fit_measures(samples, implied, parameters, n_total, meanstructure)
    if estimator == "MLR" and singular is None:
        se, robust = _robust(parameters, samples, implied, theta, fit, meanstructure)
        fit = {**fit, **robust}
    estimates = _estimates(parameters, theta, se, implied, labels, ci_level)
    if not meanstructure:  # the saturated intercepts are not reported, as lavaan
        estimates = estimates[estimates["op"] != "~1"].reset_index(drop=True)
    warnings = _warnings(
        converged, iterations, singular, fit, estimates, parameters, implied, labels, group
    )
    if dropped:
        what = "model variable" + (f" or {group}" if group is not None else "")
        warnings.append(
            ModelWarning(
                "listwise-deletion", f"{dropped} rows with a missing {what} were dropped.", "info"
            )
        )
    return MultiGroupResult(
        r2={
            label: _r_squared(parameters, moments)
            for label, moments in zip(labels, implied, strict=True)
        },  # fmt: skip
        model=model,
        group=group,
        groups=tuple(labels),
        n_obs={label: s.n for label, s in zip(labels, samples, strict=True)},
        group_equal=equal,
        estimates=estimates,
        fit=fit,
        converged=converged,
        proper=not any(w.severity == "error" for w in warnings),
        warnings=tuple(warnings),
        dropped=dropped,
        provenance={
            "engine": "manyi multi-group ML",
            "estimator": estimator,
            "iterations": iterations,
            "n_free_parameters": fit["npar"],
        },  # fmt: skip
    )


def free_parameters(model: str) -> int:
    """Free parameters of ``model`` fitted in one group without a mean structure, as lavaan
    counts them (loadings but the markers, regressions, (residual) variances and
    covariances, labelled ones once).

    Raises ModelSyntaxError for what this engine does not fit (composites, observed
    exogenous predictors).
    """
    entries = [e for e in parameter_table(model).entries if e.op != "~1" and e.fixed is None]
    return len({e.label or (e.lhs, e.op, e.rhs) for e in entries})


# --- the parameter table ---------------------------------------------------------------


class ModelOutOfReach(ModelSyntaxError):
    """A model this engine does not fit though lavaan's syntax allows it (a composite, an
    observed exogenous predictor); :func:`models.sem.fit_sem` gives single-group ML
    of such a model to semopy."""


def parameter_table(model: str) -> ParameterTable:
    """lavaan's parameter table of ``model`` (``cfa()``/``sem()`` defaults, intercepts
    included), shared by this engine and the ordinal one (:mod:`models.sem_ordinal`)."""
    statements, errors = read_statements(model, intercepts=True)
    if errors:
        raise errors[0]
    if not statements:
        raise ModelSyntaxError("the model is empty", "Write at least one `factor =~ items`.")
    for s in statements:
        if s.op == "<~":
            raise ModelOutOfReach(
                f"{s.lhs} <~ is a composite, which multi-group and robust (MLR) ML do not fit",
                "Write it as a reflective factor (=~), or compare groups with PLS (MICOM).",
                s.line,
            )
    latents = list(dict.fromkeys(s.lhs for s in statements if s.op == "=~"))
    latent_set = set(latents)
    named = [s.lhs for s in statements] + [t.name for s in statements for t in s.terms]
    observed = [n for n in dict.fromkeys(named) if n not in latent_set and n != "1"]
    indicators = {t.name for s in statements if s.op == "=~" for t in s.terms}
    outcomes = {s.lhs for s in statements if s.op == "~" and not _is_intercepts(s)}
    predictors = {t.name for s in statements if s.op == "~" for t in s.terms if not t.is_intercept}
    exogenous_observed = [
        n for n in observed if n in predictors and n not in indicators and n not in outcomes
    ]
    if exogenous_observed:
        line = next(
            s.line for s in statements if any(t.name in exogenous_observed for t in s.terms)
        )
        raise ModelOutOfReach(
            f"{', '.join(exogenous_observed)} predict(s) but are observed and exogenous, "
            "which lavaan fixes at their sample moments; multi-group and robust (MLR) ML "
            "here do not",
            "Measure it by a single-indicator factor (`f =~ x`), or fit the groups one at a time.",
            line,
        )

    entries: dict[tuple[str, str, str], _Entry] = {}

    def add(lhs: str, op: str, rhs: str, fixed: float | None, label: str | None) -> None:
        key = (lhs, op, rhs)
        if op == "~~" and (rhs, op, lhs) in entries:
            key = (rhs, op, lhs)
        entries[key] = _Entry(*key, fixed, label, _category(op, key[0], key[2], latent_set))

    for s in statements:
        for position, t in enumerate(s.terms):
            if s.op == "=~":
                first = position == 0 and not any(
                    e.lhs == s.lhs and e.op == "=~" for e in entries.values()
                )
                fixed = t.fixed if t.fixed is not None else (1.0 if first and not t.free else None)
                add(s.lhs, "=~", t.name, fixed, t.label)
            elif t.is_intercept:
                add(s.lhs, "~1", "", t.fixed, t.label)
            else:
                add(s.lhs, s.op, t.name, t.fixed, t.label)

    def present(lhs: str, op: str, rhs: str) -> bool:
        return (lhs, op, rhs) in entries or (rhs, op, lhs) in entries

    # auto.var, with auto.fix.single: a factor's only indicator has no residual variance.
    counts = pd.Series([e.rhs for e in entries.values() if e.op == "=~"]).value_counts()
    single = {
        e.rhs
        for e in entries.values()
        if e.op == "=~"
        and sum(1 for f in entries.values() if f.op == "=~" and f.lhs == e.lhs) == 1
        and counts[e.rhs] == 1
        and e.rhs not in latent_set
    }
    for name in observed + latents:
        if not present(name, "~~", name):
            add(name, "~~", name, 0.0 if name in single else None, None)
    lv_x = [v for v in latents if v not in indicators and v not in outcomes]
    pure_y = [v for v in latents + observed if v in outcomes and v not in indicators | predictors]
    for a, b in (*combinations(lv_x, 2), *combinations(pure_y, 2)):
        if not present(a, "~~", b):
            add(a, "~~", b, None, None)
    for name in observed + latents:
        if (name, "~1", "") not in entries:
            add(name, "~1", "", 0.0 if name in latent_set else None, None)
    ordered = sorted(entries.values(), key=lambda e: _lavaan_order(e, latent_set))
    return ParameterTable(observed, latents, ordered)


def _is_intercepts(statement: Statement) -> bool:
    return all(t.is_intercept for t in statement.terms)


def _category(op: str, lhs: str, rhs: str, latents: set[str]) -> str:
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in latents else "intercepts"
    if lhs in latents:
        return "lv.variances" if lhs == rhs else "lv.covariances"
    return "residuals" if lhs == rhs else "residual.covariances"


def _lavaan_order(entry: _Entry, latents: set[str]) -> int:
    # parameterEstimates' order: loadings, regressions, residual covariances, variances
    # (observed, then factors), factor covariances, intercepts.
    if entry.op == "=~":
        return 0
    if entry.op == "~":
        return 1
    if entry.op == "~1":
        return 6
    if entry.lhs in latents:
        return 4 if entry.lhs == entry.rhs else 5
    return 3 if entry.lhs == entry.rhs else 2


# --- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    n: int
    cov: np.ndarray  # divisor n
    mean: np.ndarray
    rows: np.ndarray | None  # the complete rows, for robust (MLR) standard errors and test


def _samples(
    data: pd.DataFrame, group: str | None, observed: list[str]
) -> tuple[list[str], list[_Sample], int]:
    columns = [group, *observed] if group is not None else list(observed)
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ValueError(f"the data has no column(s) {', '.join(absent)}")
    frame = data[columns].dropna()
    dropped = len(data) - len(frame)
    if group is None:
        keys = pd.Series(SINGLE_GROUP, index=frame.index)
        labels = [SINGLE_GROUP]
    else:
        keys = frame[group].astype(str)
        labels = [str(v) for v in pd.unique(keys)]
        if len(labels) < 2:
            raise ValueError(
                f"{group} has {len(labels)} group(s) with complete rows; a multi-group "
                "model needs at least two"
            )
    samples = []
    for label in labels:
        rows = frame.loc[keys == label, observed].to_numpy(dtype=float)
        n = len(rows)
        mean = rows.mean(axis=0)
        centred = rows - mean
        cov = centred.T @ centred / n
        if n <= len(observed) or np.linalg.eigvalsh(_correlation(cov))[0] < 1e-10:
            where = "the data" if group is None else f"group {label!r} of {group}"
            raise ValueError(
                f"{where}: its {n} rows give a singular covariance matrix "
                f"of the {len(observed)} model variables (too few rows, a constant item or "
                "items that repeat each other); merge it with another group or drop it"
            )
        samples.append(_Sample(n, cov, mean, rows))
    return labels, samples, dropped


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    return cov / np.outer(sd, sd)


# --- parameters and implied moments ----------------------------------------------------


class Parameters:
    """The free parameters of all groups and the cells of each group's RAM matrices."""

    def __init__(self, structure: ParameterTable, n_groups: int, equal: tuple[str, ...]) -> None:
        self.structure = structure
        self.n_groups = n_groups
        names = structure.variables
        self.index = {v: i for i, v in enumerate(names)}
        self.n_vars = len(names)
        self.n_obs = len(structure.observed)
        latents = set(structure.latents)
        free_means = "intercepts" in equal and "means" not in equal
        keys: dict[Any, int] = {}
        # cells[g]: (entry, parameter index or None, fixed value)
        self.cells: list[list[tuple[_Entry, int | None, float]]] = []
        for g in range(n_groups):
            cells = []
            for entry in structure.entries:
                fixed = entry.fixed
                if (
                    free_means and g > 0 and entry.op == "~1" and entry.lhs in latents
                    and entry.fixed == 0.0 and entry.label is None
                ):  # fmt: skip
                    fixed = None
                    key: Any = ("mean", entry.lhs, g)
                elif entry.label is not None:
                    key = ("label", entry.label)
                elif entry.category in equal:
                    key = ("equal", entry.lhs, entry.op, entry.rhs)
                else:
                    key = ("own", entry.lhs, entry.op, entry.rhs, g)
                if fixed is not None:
                    cells.append((entry, None, fixed))
                    continue
                if key not in keys:
                    keys[key] = len(keys)
                cells.append((entry, keys[key], math.nan))
            self.cells.append(cells)
        self.n_free = len(keys)
        self.names = [_name(k) for k in keys]
        self.locals = [self.local(g) for g in range(n_groups)]

    def start(self, samples: list[_Sample]) -> np.ndarray:
        """Starting values near the solution: each factor's loadings and variance from the
        first principal component of its observed indicators, half the observed variances
        as residual variances, the sample means as intercepts.

        lavaan starts loadings from its FABIN estimates for the same reason: from loadings
        of 1 and factor variances of 0.05, scoring can be drawn into an improper region
        when a loading is fixed at another value (``0.5*x7``) and stop there.
        """
        theta = np.zeros(self.n_free)
        seen = set()
        for g, sample in enumerate(samples):
            variance = dict(zip(self.structure.observed, np.diag(sample.cov), strict=True))
            mean = dict(zip(self.structure.observed, sample.mean, strict=True))
            loadings, factor_variances = self._factor_starts(sample, g)
            for entry, k, _ in self.cells[g]:
                if k is None or k in seen:
                    continue
                seen.add(k)
                if entry.op == "=~":
                    theta[k] = loadings.get((entry.lhs, entry.rhs), 1.0)
                elif entry.op == "~~" and entry.lhs == entry.rhs:
                    theta[k] = (
                        0.5 * variance[entry.lhs]
                        if entry.lhs in variance
                        else factor_variances.get(entry.lhs, 0.05)
                    )
                elif entry.op == "~1":
                    theta[k] = mean.get(entry.lhs, 0.0)
        return theta

    def _factor_starts(self, sample: _Sample, g: int):
        """Loadings {(factor, item): value} and variances {factor: value} of the factors
        with two or more observed indicators, scaled to the factor's fixed loading, or to
        its fixed variance (1 when neither is fixed)."""
        position = {v: i for i, v in enumerate(self.structure.observed)}
        fixed_variance = {
            e.lhs: value for e, k, value in self.cells[g]
            if k is None and e.op == "~~" and e.lhs == e.rhs and value > 0
        }  # fmt: skip
        loadings, variances = {}, {}
        for factor in self.structure.latents:
            cells = [(e, k, value) for e, k, value in self.cells[g]
                     if e.op == "=~" and e.lhs == factor and e.rhs in position]  # fmt: skip
            if len(cells) < 2:
                continue
            items = [position[e.rhs] for e, _, _ in cells]
            values, vectors = np.linalg.eigh(sample.cov[np.ix_(items, items)])
            component = vectors[:, -1] * math.sqrt(max(values[-1], 0.0))
            anchor = next((n for n, (_, k, value) in enumerate(cells)
                           if k is None and value != 0), None)  # fmt: skip
            if anchor is not None:
                if abs(component[anchor]) < 1e-3 * np.linalg.norm(component):
                    continue  # the marker barely measures the component: keep the defaults
                scale = cells[anchor][2] / component[anchor]
                variances[factor] = 1.0 / scale**2
            else:
                variances[factor] = fixed_variance.get(factor, 1.0)
                scale = math.copysign(1.0 / math.sqrt(variances[factor]), component[0])
            for (e, _, _), value in zip(cells, component * scale, strict=True):
                loadings[(factor, e.rhs)] = float(value)
        return loadings, variances

    def matrices(self, theta: np.ndarray, g: int):
        v = self.n_vars
        a, s, m = np.zeros((v, v)), np.zeros((v, v)), np.zeros(v)
        for entry, k, fixed in self.cells[g]:
            value = fixed if k is None else theta[k]
            i, j = self.index[entry.lhs], self.index.get(entry.rhs, -1)
            if entry.op == "=~":
                a[j, i] = value
            elif entry.op == "~":
                a[i, j] = value
            elif entry.op == "~~":
                s[i, j] = s[j, i] = value
            else:
                m[i] = value
        return a, s, m

    def implied(self, theta: np.ndarray, g: int) -> dict[str, np.ndarray]:
        a, s, m = self.matrices(theta, g)
        b = np.linalg.inv(np.eye(self.n_vars) - a)
        full = b @ s @ b.T
        p = self.n_obs
        return {"b": b, "s": s, "m": m, "full": full, "mean_full": b @ m,
                "sigma": full[:p, :p], "mu": (b @ m)[:p]}  # fmt: skip

    def local(self, g: int) -> np.ndarray:
        """The free parameters that appear in group g (a group's Jacobian is zero elsewhere)."""
        return np.array(sorted({k for _, k, _ in self.cells[g] if k is not None}), dtype=int)

    def jacobian(self, implied: dict[str, np.ndarray], g: int, local: np.ndarray):
        """∂Σ_g/∂θ (len(local) × p × p) and ∂μ_g/∂θ (len(local) × p) for ``local``'s θ."""
        p = self.n_obs
        b, mean_full = implied["b"], implied["mean_full"]
        b_obs = b[:p]
        # B S B', rows of the full implied covariance restricted to observed columns.
        bsb = implied["full"]
        position = {k: n for n, k in enumerate(local)}
        d_sigma = np.zeros((len(local), p, p))
        d_mu = np.zeros((len(local), p))
        for entry, k, _ in self.cells[g]:
            if k is None:
                continue
            k = position[k]
            i, j = self.index[entry.lhs], self.index.get(entry.rhs, -1)
            if entry.op == "=~":
                i, j = j, i  # the indicator is the row of A
            if entry.op in ("=~", "~"):
                piece = np.outer(b_obs[:, i], bsb[j, :p])
                d_sigma[k] += piece + piece.T
                d_mu[k] += b_obs[:, i] * mean_full[j]
            elif entry.op == "~~":
                piece = np.outer(b_obs[:, i], b_obs[:, j])
                d_sigma[k] += piece if i == j else piece + piece.T
            else:
                d_mu[k] += b_obs[:, i]
        return d_sigma, d_mu


def _name(key: tuple) -> str:
    if key[0] == "label":
        return key[1]
    if key[0] == "mean":
        return f"{key[1]} ~1 (group {key[2] + 1})"
    return f"{key[1]} {key[2]} {key[3]}".strip()


# --- estimation ------------------------------------------------------------------------


def _discrepancy(samples, implied) -> float:
    """lavaan's F = Σ (N_g/N) F_g / 2 (inf where Σ_g is not positive definite)."""
    n_total = sum(s.n for s in samples)
    total = 0.0
    for sample, moments in zip(samples, implied, strict=True):
        sigma = moments["sigma"]
        sign, logdet = np.linalg.slogdet(sigma)
        if sign <= 0:
            return math.inf
        inverse = np.linalg.inv(sigma)
        d = sample.mean - moments["mu"]
        _, logdet_s = np.linalg.slogdet(sample.cov)
        value = logdet + np.trace(sample.cov @ inverse) - logdet_s - len(d) + d @ inverse @ d
        total += sample.n / n_total * value / 2.0
    return total


def _gradient_and_information(parameters, samples, implied, theta):
    n_total = sum(s.n for s in samples)
    gradient = np.zeros(parameters.n_free)
    information = np.zeros((parameters.n_free, parameters.n_free))
    for g, (sample, moments) in enumerate(zip(samples, implied, strict=True)):
        weight = sample.n / n_total
        local = parameters.locals[g]
        d_sigma, d_mu = parameters.jacobian(moments, g, local)
        inverse = np.linalg.inv(moments["sigma"])
        d = sample.mean - moments["mu"]
        g_sigma = inverse - inverse @ (sample.cov + np.outer(d, d)) @ inverse
        g_mu = -2.0 * inverse @ d
        count, p = len(local), len(d)
        gradient[local] += (
            weight * 0.5 * (d_sigma.reshape(count, -1) @ g_sigma.ravel() + d_mu @ g_mu)
        )
        # tr(Σ⁻¹ ∂_kΣ Σ⁻¹ ∂_lΣ) = vec(Σ⁻¹ ∂_kΣ Σ⁻¹) · vec(∂_lΣ), one matrix product for all k, l.
        sandwiched = (inverse @ d_sigma @ inverse).reshape(count, p * p)
        block = 0.5 * sandwiched @ d_sigma.reshape(count, p * p).T + d_mu @ inverse @ d_mu.T
        information[np.ix_(local, local)] += weight * block
    return gradient, information


def _fisher_scoring(parameters, samples, theta, max_iter):
    implied = [parameters.implied(theta, g) for g in range(len(samples))]
    value = _discrepancy(samples, implied)
    for iteration in range(1, max_iter + 1):
        gradient, information = _gradient_and_information(parameters, samples, implied, theta)
        try:  # the information is symmetric positive definite when the model is identified
            step = -linalg.cho_solve(linalg.cho_factor(information), gradient)
        except linalg.LinAlgError:
            step = -np.linalg.lstsq(information, gradient, rcond=None)[0]
        length = 1.0
        while True:
            candidate = theta + length * step
            trial = [parameters.implied(candidate, g) for g in range(len(samples))]
            trial_value = _discrepancy(samples, trial)
            if trial_value <= value + 1e-14 * abs(value) or length < 1e-8:
                break
            length /= 2.0
        if not math.isfinite(trial_value):
            return theta, False, iteration
        theta, implied, previous, value = candidate, trial, value, trial_value
        if np.max(np.abs(length * step)) < _STEP_TOLERANCE or (
            abs(previous - value) < 1e-15 and np.max(np.abs(gradient)) < 1e-9
        ):
            return theta, True, iteration
    return theta, False, max_iter


def _group_gradient(parameters, sample, theta: np.ndarray, g: int) -> np.ndarray:
    """The gradient of group g's own ½ F_g with respect to its local parameters."""
    moments = parameters.implied(theta, g)
    d_sigma, d_mu = parameters.jacobian(moments, g, parameters.locals[g])
    inverse = np.linalg.inv(moments["sigma"])
    d = sample.mean - moments["mu"]
    g_sigma = inverse - inverse @ (sample.cov + np.outer(d, d)) @ inverse
    return 0.5 * (np.einsum("kij,ij->k", d_sigma, g_sigma) + d_mu @ (-2.0 * inverse @ d))


def _observed_information(parameters, sample, theta: np.ndarray, g: int) -> np.ndarray:
    """Group g's Hessian of ½ F_g (local parameters), by central differences of its
    analytic gradient: exact to about 1e-9, where second derivatives of the RAM
    matrices would take a page of algebra per parameter pair."""
    local = parameters.locals[g]
    hessian = np.empty((len(local), len(local)))
    for column, k in enumerate(local):
        step = 1e-5 * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        hessian[:, column] = (
            _group_gradient(parameters, sample, up, g)
            - _group_gradient(parameters, sample, down, g)
        ) / (2.0 * step)
    return (hessian + hessian.T) / 2.0


def _robust(parameters, samples, implied, theta, fit, meanstructure: bool):
    """MLR's sandwich standard errors and scaled test (:mod:`models.sem_robust`)."""
    n_total = sum(s.n for s in samples)
    size = parameters.n_free
    observed, first_order = np.zeros((size, size)), []
    for g, (sample, moments) in enumerate(zip(samples, implied, strict=True)):
        local, weight = parameters.locals[g], sample.n / n_total
        observed[np.ix_(local, local)] += weight * _observed_information(
            parameters, sample, theta, g
        )
        d_sigma, d_mu = parameters.jacobian(moments, g, local)
        block = np.zeros((size, size))
        block[np.ix_(local, local)] = sem_robust.casewise_scores_product(
            sample.rows, moments["sigma"], moments["mu"], d_sigma, d_mu
        )
        first_order.append(block)
    keep = np.arange(size)
    if not meanstructure:  # one group: the intercepts' block is left out, as lavaan does
        intercepts = {k for e, k, _ in parameters.cells[0] if e.op == "~1" and k is not None}
        keep = np.array([k for k in range(size) if k not in intercepts])
    inverse = np.linalg.inv(observed[np.ix_(keep, keep)])
    meat = sum(s.n / n_total * b for s, b in zip(samples, first_order, strict=True))
    covariance = np.full((size, size), np.nan)
    covariance[np.ix_(keep, keep)] = inverse @ meat[np.ix_(keep, keep)] @ inverse / n_total
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    trace_h0 = sum(
        s.n / n_total * float(np.sum(b[np.ix_(keep, keep)] * inverse.T))
        for s, b in zip(samples, first_order, strict=True)
    )
    trace_h1 = sum(sem_robust.unrestricted_trace(s.rows, meanstructure) for s in samples)
    baseline = [sem_robust.baseline_trace(s.rows, meanstructure) for s in samples]
    df, baseline_df = fit["df"], fit["baseline_df"]
    scaling = (trace_h1 - trace_h0) / df if df > 0 else math.nan
    baseline_scaling = sum(h1 - h0 for h1, h0 in baseline) / baseline_df
    robust = sem_robust.robust_fit_measures(
        fit["chisq"], df, scaling, fit["baseline_chisq"], baseline_df, baseline_scaling,
        n_total, len(samples),
    )  # fmt: skip
    return se, robust


def _information(parameters, samples, implied, theta) -> np.ndarray:
    return _gradient_and_information(parameters, samples, implied, theta)[1]


def _standard_errors(information: np.ndarray, n_total: int) -> tuple[np.ndarray, int | None]:
    """SEs from the expected information, and the index of a parameter the data cannot
    pin down when the information is singular."""
    scale = np.sqrt(np.clip(np.diag(information), 1e-300, None))
    unit = information / np.outer(scale, scale)
    values, vectors = np.linalg.eigh(unit)
    if values[0] < 1e-9:
        return np.full(len(scale), math.nan), int(np.argmax(np.abs(vectors[:, 0])))
    covariance = np.linalg.inv(information) / n_total
    return np.sqrt(np.clip(np.diag(covariance), 0.0, None)), None


# --- results ---------------------------------------------------------------------------


def _fit_measures(samples, implied, parameters, n_total: int, meanstructure: bool):
    groups = len(samples)
    p = len(samples[0].mean)
    chisq = 2.0 * n_total * _discrepancy(samples, implied)
    df = groups * (p * (p + 1) // 2 + p) - parameters.n_free
    # One group without a mean structure: its p free intercepts are the sample means,
    # fitted exactly, so they count neither as parameters nor as moments (lavaan's npar).
    n_free = parameters.n_free - (0 if meanstructure else p)
    unrestricted = sum(sem_fit_measures.saturated_loglik(s.cov, s.n) for s in samples)
    loglik = unrestricted - chisq / 2.0
    baseline = sum(
        s.n * (float(np.sum(np.log(np.diag(s.cov)))) - float(np.linalg.slogdet(s.cov)[1]))
        for s in samples
    )
    baseline_df = groups * p * (p - 1) // 2
    low, high = sem_fit_measures.rmsea_ci(chisq, df, n_total)
    aic, bic = sem_fit_measures.information_criteria(loglik, n_free, n_total)
    srmr = sum(
        s.n
        / n_total
        * sem_fit_measures.srmr(
            s.cov, m["sigma"], *((s.mean, m["mu"]) if meanstructure else (None, None))
        )
        for s, m in zip(samples, implied, strict=True)
    )
    root_g = math.sqrt(groups)
    measures = {
        "chisq": chisq,
        "df": df,
        "pvalue": sem_fit_measures.chisq_pvalue(chisq, df),
        "cfi": sem_fit_measures.cfi(chisq, df, baseline, baseline_df),
        "tli": sem_fit_measures.tli(chisq, df, baseline, baseline_df),
        "rmsea": sem_fit_measures.rmsea(chisq, df, n_total) * root_g,
        "rmsea_ci_low": low * root_g,
        "rmsea_ci_high": high * root_g,
        "srmr": srmr,
        "aic": aic,
        "bic": bic,
        "loglik": loglik,
        "baseline_chisq": baseline,
        "baseline_df": baseline_df,
        "npar": n_free,
    }
    return {k: measures[k] for k in _FIT_KEYS}


def _r_squared(parameters, moments) -> dict[str, float]:
    """1 − residual variance / implied variance of every indicator and outcome."""
    structure, index = parameters.structure, parameters.index
    entries = structure.entries
    names = list(dict.fromkeys(
        [e.rhs for e in entries if e.op == "=~"] + [e.lhs for e in entries if e.op == "~"]
    ))  # fmt: skip
    total, residual = np.diag(moments["full"]), np.diag(moments["s"])
    return {v: float(1.0 - residual[index[v]] / total[index[v]]) for v in names
            if total[index[v]] > 0}  # fmt: skip


def _estimates(parameters, theta, se, implied, labels, ci_level) -> pd.DataFrame:
    z_crit = normal_quantile(0.5 + ci_level / 2.0)
    names = parameters.structure.variables
    records = []
    for g, label in enumerate(labels):
        full = implied[g]["full"]
        variances = {
            "total": dict(zip(names, np.diag(full), strict=True)),
            "residual": dict(zip(names, np.diag(implied[g]["s"]), strict=True)),
        }
        for entry, k, fixed in parameters.cells[g]:
            value = fixed if k is None else float(theta[k])
            error = float(se[k]) if k is not None else math.nan
            row = estimate_row(entry.lhs, entry.op, entry.rhs, value, error, variances, z_crit)
            records.append({"group": label, **row})
    return pd.DataFrame.from_records(records, columns=["group", *ESTIMATE_COLUMNS])


def _warnings(converged, iterations, singular, fit, estimates, parameters, implied, labels, group):
    found = sem_checks.check_convergence(converged, "Fisher scoring", iterations)
    if fit["df"] < 0 or singular is not None:
        which = parameters.names[singular] if singular is not None else None
        found.append(
            ModelWarning(
                "under-identified",
                (
                    f"The model has {fit['df']} degrees of freedom: more free parameters "
                    "than sample moments."
                    if fit["df"] < 0
                    else f"The information matrix is singular: {which} cannot be told apart "
                    "from the other parameters. Fix a loading or a variance to identify it."
                ),
                "error",
                which,
            )
        )
    structure = parameters.structure
    latents = [parameters.index[v] for v in structure.latents]
    # Observed variables that only indicate factors: their residual covariance is Θ.
    structural = {name for e in structure.entries if e.op == "~" for name in (e.lhs, e.rhs)}
    indicators = [v for v in structure.observed if v not in structural]
    outputs = [parameters.index[v] for v in indicators]
    for g, label in enumerate(labels):
        rows = estimates[estimates["group"] == label]
        full, residual = implied[g]["full"], implied[g]["s"]
        checks = (
            sem_checks.check_variances(rows)
            + sem_checks.check_standardized(rows)
            + sem_checks.check_positive_definite(
                full[np.ix_(latents, latents)], structure.latents, latent=True
            )
            + sem_checks.check_positive_definite(
                residual[np.ix_(outputs, outputs)], indicators, latent=False
            )
        )
        for warning in checks:
            found.append(
                warning
                if group is None
                else ModelWarning(
                    warning.code,
                    f"group {label}: {warning.message}",
                    warning.severity,
                    warning.subject,
                )
            )
    return found
