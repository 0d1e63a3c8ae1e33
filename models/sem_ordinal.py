"""Ordinal CB-SEM: lavaan's ``ordered = ...`` with ``estimator = "WLSMV"``.

Ratings on a 1-5 scale are not normal: each is read as a cut latent response ``y*``
(:mod:`models.polychoric`), and the model is fitted to the items' thresholds and polychoric
correlations by diagonally weighted least squares (DWLS), with robust standard errors and
the mean-and-variance adjusted (scaled-and-shifted) chi-square. This is lavaan's
``cfa(model, data, ordered = ..., estimator = "WLSMV")`` with its defaults:
``parameterization = "delta"``, ``se = "robust.sem"``, ``test = "scaled.shifted"``.

What lavaan does, and so this does:

- the delta parameterization: the latent responses have unit variance, so the implied
  matrix ``Σ* = Λ Ψ Λ' + Θ`` is a correlation matrix; an ordered item's residual variance is
  not free but ``1 − (its explained variance)``, reported as a fixed parameter; intercepts
  of the items and means of the factors are 0;
- the thresholds are free, one per cut, and with a diagonal weight matrix they equal the
  sample thresholds exactly; their standard errors come from ``Γ`` alone;
- the parameter table follows :mod:`models.sem_groups` (markers, ``NA*``, fixed values,
  labels, factor and outcome covariances), single group, no mean structure;
- rows with a missing model variable are dropped (lavaan's ``missing = "listwise"``).

Not here, and refused with the reason: continuous and ordered items in one model, an
ordered item that predicts another variable, observed exogenous predictors, composites,
multiple groups, the theta parameterization.

Notes
-----
With ``s`` the sample polychoric correlations (below the diagonal), ``σ(θ)`` the implied
ones, ``Γ`` the correlations' block of lavaan's ``NACOV`` and ``W = diag(Γ)⁻¹``:

- DWLS minimises ``F = (s − σ)' W (s − σ)``, by Gauss-Newton; ``χ² = (N − 1) F`` (lavaan
  scales this objective by (N − 1)/N);
- ``Δ = ∂σ/∂θ'``, ``E = Δ'WΔ``; ``Var(θ̂) = E⁻¹ Δ'WΓWΔ E⁻¹ / (N − 1)`` (robust.sem; lavaan
  divides by N − 1 for every estimator that is not ML);
- ``U = W − WΔE⁻¹Δ'W``; with ``a = √(df / tr((UΓ)²))`` the scaled-and-shifted statistic
  is ``a χ² + df − a tr(UΓ)`` on df (Asparouhov & Muthén 2010), lavaan's
  ``chisq.scaled``; lavaan reports ``1/a`` as ``chisq.scaling.factor``;
- the baseline fixes every correlation at 0 (``U = W``, df = p(p − 1)/2) and is scaled and
  shifted the same way; CFI, TLI and RMSEA take the unscaled statistics, their
  ``_scaled`` versions the scaled ones (both baseline and model), RMSEA with N − 1;
- SRMR is the root mean square of the correlation residuals over the p(p + 1)/2 cells on
  and below the diagonal (lavaan's ``srmr_bentler_nomean``).

Validated against lavaan 0.6-14 (``tests/reference/lavaan_wlsmv.R``).

References
----------
Muthén, B. (1984). A general structural equation model with dichotomous, ordered
categorical, and continuous latent variable indicators. *Psychometrika*, 49(1), 115-132.
doi:10.1007/BF02294210

Muthén, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using weighted least
squares and quadratic estimating equations in latent variable modeling with categorical and
continuous outcomes. Unpublished technical report, https://www.statmodel.com/download/Article_075.pdf

Asparouhov, T., & Muthén, B. (2010). Simple second order chi-square correction.
Mplus technical appendix, https://www.statmodel.com/download/WLSMV_new_chi21.pdf

Olsson, U. (1979). Maximum likelihood estimation of the polychoric correlation coefficient.
*Psychometrika*, 44(4), 443-460. doi:10.1007/BF02296207
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg

from models import sem_checks, sem_fit_measures
from models.diagnostics import ModelWarning
from models.distributions import normal_quantile, two_sided_p
from models.polychoric import OrdinalMoments, PerfectAssociation, ordinal_moments, pairs
from models.sem_estimates import estimate_row
from models.sem_groups import Parameters, ParameterTable, parameter_table
from models.sem_result import json_number, json_records, three_decimals
from models.syntax import ModelSyntaxError
from models.vocabulary import ESTIMATE_COLUMNS

__all__ = ["MAX_CATEGORIES", "OrdinalSEMResult", "fit_ordinal"]

#: More distinct answers than this and an item is not an ordered rating (lavaan has no
#: limit, but a 0-100 slider read as 101 categories gives empty tables and no estimate).
MAX_CATEGORIES = 10
_MAX_ITERATIONS = 500
# Gauss-Newton stops when the largest step is below this (loadings and variances are O(1)).
_STEP_TOLERANCE = 1e-9
#: The fit measures, lavaan's names with underscores (``scaling_factor`` is
#: ``chisq.scaling.factor``; ``shift_parameter`` is the shift lavaan keeps in
#: ``lavInspect(fit, "test")$scaled.shifted$shift.parameter``).
FIT_KEYS = (
    "chisq", "df", "pvalue", "chisq_scaled", "df_scaled", "pvalue_scaled",
    "scaling_factor", "shift_parameter", "baseline_chisq", "baseline_df",
    "baseline_chisq_scaled", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high",
    "cfi_scaled", "tli_scaled", "rmsea_scaled", "rmsea_ci_low_scaled",
    "rmsea_ci_high_scaled", "srmr", "npar",
)  # fmt: skip
THRESHOLD_COLUMNS = ("lhs", "op", "rhs", "estimate", "se", "z", "p_value")


@dataclass(frozen=True)
class OrdinalSEMResult:
    """A CB-SEM of ordered items fitted by WLSMV.

    Attributes
    ----------
    model : str
        The lavaan syntax fitted.
    estimates : DataFrame
        :data:`ESTIMATE_COLUMNS`, lavaan's order without thresholds; ``std_estimate`` is
        lavaan's ``std.all``. Residual variances of ordered items are fixed (delta
        parameterization): their ``se`` is NaN.
    thresholds : DataFrame
        One row per threshold: ``lhs`` (the item), ``op`` ``"|"``, ``rhs`` ``"t1"``...,
        ``estimate``, ``se``, ``z``, ``p_value``.
    fit : dict
        :data:`FIT_KEYS`, lavaan's ``fitMeasures`` names with dots for underscores, but
        ``scaling_factor`` (lavaan's ``chisq.scaling.factor``) and ``shift_parameter``
        (not a fit measure in lavaan: ``lavInspect(fit, "test")``). ``npar`` counts the
        thresholds, as lavaan's.
    n_obs : int
    converged, proper : bool
    warnings : tuple of ModelWarning
    dropped : int
        Rows dropped for a missing model variable.
    polychoric : DataFrame
        The sample polychoric correlations.
    """

    model: str
    estimates: pd.DataFrame
    thresholds: pd.DataFrame
    fit: dict[str, float]
    n_obs: int
    converged: bool
    proper: bool
    warnings: tuple[ModelWarning, ...]
    polychoric: pd.DataFrame
    dropped: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        f = self.fit
        lines = [
            f"Ordinal SEM (WLSMV, delta parameterization), N = {self.n_obs}"
            + (f" ({self.dropped} incomplete rows dropped)" if self.dropped else ""),
            f"  converged: {self.converged}, proper: {self.proper}",
            f"  chi-square {f['chisq']:.3f} on {f['df']} df, p = {f['pvalue']:.3f}",
            f"  scaled-shifted chi-square {f['chisq_scaled']:.3f}, p = {f['pvalue_scaled']:.3f}"
            f" (scaling factor {f['scaling_factor']:.3f}, shift "
            f"{f['shift_parameter']:.3f})",
            f"  CFI {f['cfi_scaled']:.3f}  TLI {f['tli_scaled']:.3f}  RMSEA "
            f"{f['rmsea_scaled']:.3f} [{f['rmsea_ci_low_scaled']:.3f}, "
            f"{f['rmsea_ci_high_scaled']:.3f}] (scaled)   SRMR {f['srmr']:.3f}",
            "",
            self.estimates.to_string(index=False, float_format=three_decimals),
            "",
            self.thresholds.to_string(index=False, float_format=three_decimals),
        ]
        lines += [f"[{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        fit = "".join(f"<tr><th>{k}</th><td>{v:.3f}</td></tr>" for k, v in self.fit.items())
        return (
            f"<p>Ordinal SEM (WLSMV), N = {self.n_obs}</p><table>{fit}</table>"
            + self.estimates.to_html(index=False, float_format=three_decimals)
            + self.thresholds.to_html(index=False, float_format=three_decimals)
            + "".join(f"<p>{html.escape(w.message)}</p>" for w in self.warnings)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers as floats, NaN and infinities as None."""

        return {
            "model": self.model,
            "estimator": "WLSMV",
            "n_obs": self.n_obs,
            "dropped": self.dropped,
            "fit": {k: json_number(v) for k, v in self.fit.items()},
            "estimates": json_records(self.estimates),
            "thresholds": json_records(self.thresholds),
            "polychoric": {
                row: {col: json_number(v) for col, v in values.items()}
                for row, values in self.polychoric.to_dict(orient="index").items()
            },
            "converged": self.converged,
            "proper": self.proper,
            "warnings": [w.to_dict() for w in self.warnings],
            "provenance": dict(self.provenance),
        }


def fit_ordinal(
    model: str,
    data: pd.DataFrame,
    ordered: list[str] | tuple[str, ...] | Literal["all"] = "all",
    *,
    ci_level: float = 0.95,
) -> OrdinalSEMResult:
    """Fit a lavaan model to ordered items by WLSMV, as lavaan 0.6-14.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~``, ``~``, ``~~``, fixed values, ``NA*`` and labels.
    data : DataFrame
        Raw rows; each model variable holds at most :data:`MAX_CATEGORIES` distinct
        answers (numbers or ordered categoricals), ordered by value.
    ordered : list of str or "all"
        The ordered model variables: lavaan's ``ordered =``. Every model variable must be
        in it (mixing continuous and ordered items is not supported).
    ci_level : float
        Coverage of the Wald intervals.

    Returns
    -------
    OrdinalSEMResult

    Raises
    ------
    ValueError
        A missing column, an item with one answer or with too many, a model variable not
        in ``ordered``, or a model this engine does not fit; each message says the fix.
    ModelSyntaxError
        Unreadable syntax, with its line.

    See Also
    --------
    models.polychoric.ordinal_moments : the thresholds, correlations and ``NACOV``.
    models.sem_groups.fit_multigroup : ML and MLR for continuous items.

    Examples
    --------
    >>> import pandas as pd
    >>> hs = pd.read_csv("tests/reference/hs39_ordered.csv")
    >>> text = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> result = fit_ordinal(text, hs)
    >>> round(result.fit["chisq_scaled"], 3), result.fit["df"]
    (64.927, 24)
    """
    started = time.perf_counter()
    structure = _ordinal_structure(model)
    items = structure.observed
    names = _ordered_names(ordered, items, data)
    codes, n_categories, dropped = _codes(data, names)
    try:
        moments = ordinal_moments(codes, n_categories)
    except PerfectAssociation as error:
        a, b = names[error.first], names[error.second]
        raise ValueError(
            f"{a} and {b} have two categories each and two empty cells in their 2 x 2 table: "
            f"one answer predicts the other exactly (a polychoric correlation of +-1, which "
            f"lavaan reports with a warning); drop {b} or merge it with {a}"
        ) from None
    parameters = Parameters(structure, 1, ())

    p = len(items)
    first, second = pairs(p)
    n_th = moments.n_thresholds
    gamma = moments.nacov[n_th:, n_th:]
    weights = 1.0 / np.diag(gamma)
    sample = moments.correlation[first, second]
    n = moments.n_obs

    theta = _start(parameters)
    theta, converged, iterations = _gauss_newton(parameters, sample, weights, theta)
    implied = parameters.implied(theta, 0)
    delta = _delta(parameters, implied, first, second)
    residual = sample - implied["sigma"][first, second]
    # lavaan scales the DWLS objective by (N − 1)/N (lav_model_objective), so χ² = (N − 1) F.
    chisq = (n - 1) * float(residual @ (weights * residual))

    information = delta.T @ (weights[:, None] * delta)
    singular = _singular(information, parameters.names)
    if singular is None:
        bread = linalg.inv(information)
        wd = weights[:, None] * delta
        covariance = bread @ (wd.T @ gamma @ wd) @ bread / (n - 1)
        se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    else:
        bread, se = None, np.full(parameters.n_free, math.nan)
    fit = _fit_measures(
        chisq, sample, implied["sigma"], weights, gamma, delta, bread, n, p, parameters.n_free
    )
    fit["npar"] = parameters.n_free + n_th
    estimates = _estimates(parameters, theta, se, implied, ci_level)
    thresholds = _threshold_table(items, moments, n)
    warnings = _warnings(converged, iterations, singular, fit, estimates, moments, items)
    if dropped:
        warnings.append(
            ModelWarning(
                "listwise-deletion",
                f"{dropped} rows with a missing model variable were dropped.",
                "info",
            )
        )
    return OrdinalSEMResult(
        model=model,
        estimates=estimates,
        thresholds=thresholds,
        fit=fit,
        n_obs=n,
        converged=converged,
        proper=not any(w.severity == "error" for w in warnings),
        warnings=tuple(warnings),
        polychoric=pd.DataFrame(moments.correlation, index=items, columns=items),
        dropped=dropped,
        provenance={
            "engine": "manyi ordinal SEM",
            "estimator": "WLSMV",
            "parameterization": "delta",
            "se": "robust.sem",
            "test": "scaled.shifted",
            "iterations": iterations,
            "seconds": time.perf_counter() - started,
        },
    )


# --- the model -------------------------------------------------------------------------


def _ordinal_structure(model: str) -> ParameterTable:
    """lavaan's parameter table, less what the delta parameterization does not estimate:
    intercepts and means (0) and the items' residual variances (1 − explained variance,
    filled in after the fit)."""
    structure = parameter_table(model)
    observed = set(structure.observed)
    # An item's residual variance does not enter the correlations only if the item
    # predicts nothing: as a predictor its variance would feed other covariances.
    predictors = {e.rhs for e in structure.entries if e.op == "~" and e.rhs in observed}
    if predictors:
        raise ModelSyntaxError(
            f"{', '.join(sorted(predictors))} predict(s) another variable, which ordinal SEM "
            "here does not fit (its residual variance is not a free parameter)",
            "Measure it by a single-indicator factor (`f =~ item`) and regress on the factor.",
        )
    entries = []
    for e in structure.entries:
        if e.op == "~1":
            continue
        if e.op == "~~" and e.lhs == e.rhs and e.lhs in observed:
            e = replace(e, fixed=0.0, label=None)  # filled in as 1 − explained variance
        entries.append(e)
    return ParameterTable(structure.observed, structure.latents, entries)


def _ordered_names(ordered, items: list[str], data: pd.DataFrame) -> list[str]:
    absent = [c for c in items if c not in data.columns]
    if absent:
        raise ValueError(
            f"the data has no column(s) {', '.join(absent)} that the model names; "
            "check the spelling in the model or add the column(s) to the data"
        )
    if isinstance(ordered, str):
        if ordered != "all":
            raise ValueError(f'ordered={ordered!r}: give a list of item names or "all"')
        return list(items)
    unknown = [c for c in ordered if c not in items]
    if unknown:
        raise ValueError(
            f"ordered names {', '.join(unknown)}, which the model does not use; "
            "list only model variables in ordered"
        )
    continuous = [c for c in items if c not in set(ordered)]
    if continuous:
        raise ValueError(
            f"{', '.join(continuous)} are model variables not listed in ordered: "
            "mixing continuous and ordered items is not supported here; list them in "
            "ordered (--ordered all), or fit continuous items by ML or MLR"
        )
    return list(items)


def _codes(data: pd.DataFrame, items: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Each item's answers as categories 0..K−1 in order of value, complete rows only."""
    frame = data[items].dropna()
    dropped = len(data) - len(frame)
    if len(frame) < 2:
        raise ValueError(
            f"only {len(frame)} complete rows for the model variables: WLSMV needs data"
        )
    codes = np.empty(frame.shape, dtype=np.intp)
    counts = np.empty(len(items), dtype=np.intp)
    for j, name in enumerate(items):
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered:
            levels = column.cat.categories[np.unique(column.cat.codes)]
            coded = pd.Categorical(column, categories=levels, ordered=True).codes
        else:
            try:
                levels, coded = np.unique(column.to_numpy(), return_inverse=True)
            except TypeError as error:
                raise ValueError(
                    f"{name} mixes answers that cannot be ordered ({error}); recode it "
                    "as numbers or as an ordered categorical"
                ) from None
        if len(levels) < 2:
            raise ValueError(
                f"{name} has one category only (every complete row answers "
                f"{levels[0]!r}): it carries no information for a polychoric correlation; "
                "drop it from the model"
            )
        if len(levels) > MAX_CATEGORIES:
            raise ValueError(
                f"{name} has {len(levels)} distinct answers, more than the "
                f"{MAX_CATEGORIES} an ordered item may have: it is not a rating; fit it as "
                "continuous (ML or MLR) or recode it into at most "
                f"{MAX_CATEGORIES} categories"
            )
        codes[:, j] = coded
        counts[j] = len(levels)
    return codes, counts, dropped


def _start(parameters: Parameters) -> np.ndarray:
    """Loadings 1, factor variances 0.5, everything else 0: implied correlations of 0.5
    between the indicators of a factor, the middle of where ratings sit."""
    theta = np.zeros(parameters.n_free)
    for entry, k, _ in parameters.cells[0]:
        if k is None:
            continue
        if entry.op == "=~":
            theta[k] = 1.0
        elif entry.op == "~~" and entry.lhs == entry.rhs:
            theta[k] = 0.5
    return theta


def _delta(parameters, implied, first, second) -> np.ndarray:
    """∂σ/∂θ', one row per correlation (pairs order), one column per free parameter."""
    d_sigma, _ = parameters.jacobian(implied, 0, parameters.locals[0])
    return d_sigma[:, first, second].T


def _gauss_newton(parameters, sample, weights, theta):
    p = parameters.n_obs
    first, second = pairs(p)

    def value(candidate):
        sigma = parameters.implied(candidate, 0)["sigma"]
        r = sample - sigma[first, second]
        return float(r @ (weights * r)), r

    current, residual = value(theta)
    for iteration in range(1, _MAX_ITERATIONS + 1):
        delta = _delta(parameters, parameters.implied(theta, 0), first, second)
        wd = weights[:, None] * delta
        try:
            step = linalg.solve(delta.T @ wd, wd.T @ residual, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = np.linalg.lstsq(delta.T @ wd, wd.T @ residual, rcond=None)[0]
        length = 1.0
        while True:
            candidate = theta + length * step
            trial, trial_residual = value(candidate)
            if trial <= current + 1e-14 * abs(current) or length < 1e-8:
                break
            length /= 2.0
        if not math.isfinite(trial):
            return theta, False, iteration
        theta, previous, current, residual = candidate, current, trial, trial_residual
        if np.max(np.abs(length * step)) < _STEP_TOLERANCE or abs(previous - current) < 1e-16:
            return theta, True, iteration
    return theta, False, _MAX_ITERATIONS


def _singular(information: np.ndarray, names: list[str]) -> str | None:
    """The parameter the data cannot pin down, when ``Δ'WΔ`` is singular."""
    scale = np.sqrt(np.clip(np.diag(information), 1e-300, None))
    values, vectors = np.linalg.eigh(information / np.outer(scale, scale))
    if values[0] < 1e-9:
        return names[int(np.argmax(np.abs(vectors[:, 0])))]
    return None


# --- results ---------------------------------------------------------------------------


def _scaled_shifted(chisq: float, df: int, u_gamma: np.ndarray) -> tuple[float, float, float]:
    """(scaled statistic, 1/a, shift) of the simple second-order correction."""
    trace, trace2 = float(np.trace(u_gamma)), float(np.sum(u_gamma * u_gamma.T))
    if df <= 0 or trace2 <= 0:
        return math.nan, math.nan, math.nan
    a = math.sqrt(df / trace2)
    shift = df - a * trace
    return a * chisq + shift, 1.0 / a, shift


def _fit_measures(chisq, sample, sigma, weights, gamma, delta, bread, n, p, n_free):
    df = len(sample) - n_free
    if bread is not None:
        wd = weights[:, None] * delta
        u = np.diag(weights) - wd @ bread @ wd.T
        scaled, factor, shift = _scaled_shifted(chisq, df, u @ gamma)
    else:
        scaled = factor = shift = math.nan
    baseline = (n - 1) * float(sample @ (weights * sample))
    baseline_df = len(sample)
    baseline_scaled, _, _ = _scaled_shifted(baseline, baseline_df, weights[:, None] * gamma)
    rmsea, cfi, tli = sem_fit_measures.rmsea, sem_fit_measures.cfi, sem_fit_measures.tli
    implied = sigma.copy()
    np.fill_diagonal(implied, 1.0)
    observed = np.eye(p)
    first, second = pairs(p)
    observed[first, second] = observed[second, first] = sample
    # lavaan's N for RMSEA is N − 1 unless the estimator is ML (lav_utils_get_ntotal); its
    # scaled interval inverts the noncentral chi-square at the scaled statistic.
    low, high = sem_fit_measures.rmsea_ci(chisq, df, n - 1)
    low_scaled, high_scaled = sem_fit_measures.rmsea_ci(scaled, df, n - 1)
    return {
        "chisq": chisq,
        "df": df,
        "pvalue": sem_fit_measures.chisq_pvalue(chisq, df),
        "chisq_scaled": scaled,
        "df_scaled": df,
        "pvalue_scaled": sem_fit_measures.chisq_pvalue(scaled, df),
        "scaling_factor": factor,
        "shift_parameter": shift,
        "baseline_chisq": baseline,
        "baseline_df": baseline_df,
        "baseline_chisq_scaled": baseline_scaled,
        "cfi": cfi(chisq, df, baseline, baseline_df),
        "tli": tli(chisq, df, baseline, baseline_df),
        "rmsea": rmsea(chisq, df, n - 1),
        "rmsea_ci_low": low,
        "rmsea_ci_high": high,
        "cfi_scaled": cfi(scaled, df, baseline_scaled, baseline_df),
        "tli_scaled": tli(scaled, df, baseline_scaled, baseline_df),
        "rmsea_scaled": rmsea(scaled, df, n - 1),
        "rmsea_ci_low_scaled": low_scaled,
        "rmsea_ci_high_scaled": high_scaled,
        "srmr": sem_fit_measures.srmr(observed, implied),
    }


def _estimates(parameters, theta, se, implied, ci_level) -> pd.DataFrame:
    z_crit = normal_quantile(0.5 + ci_level / 2.0)
    structure = parameters.structure
    names = structure.variables
    observed = set(structure.observed)
    explained = np.diag(implied["full"])
    residual = np.diag(implied["s"]).copy()
    for i, name in enumerate(names):
        if name in observed:  # delta: the latent response has variance 1
            residual[i] = 1.0 - explained[i]
    total = np.where([v in observed for v in names], 1.0, explained)
    variances = {
        "total": dict(zip(names, total, strict=True)),
        "residual": dict(zip(names, residual, strict=True)),
    }
    records = []
    for entry, k, fixed in parameters.cells[0]:
        if entry.op == "~~" and entry.lhs == entry.rhs and entry.lhs in observed:
            value = float(variances["residual"][entry.lhs])
        else:
            value = fixed if k is None else float(theta[k])
        error = float(se[k]) if k is not None else math.nan
        records.append(
            estimate_row(entry.lhs, entry.op, entry.rhs, value, error, variances, z_crit)
        )
    return pd.DataFrame.from_records(records, columns=list(ESTIMATE_COLUMNS))


def _threshold_table(items: list[str], moments: OrdinalMoments, n: int) -> pd.DataFrame:
    """Thresholds with lavaan's standard errors: with a diagonal weight matrix the
    thresholds are fitted exactly and apart from the rest, so ``Var = Γ_ττ / (N − 1)``."""
    n_th = moments.n_thresholds
    se = np.sqrt(np.diag(moments.nacov)[:n_th] / (n - 1))
    rows, position = [], 0
    for item, tau in zip(items, moments.thresholds, strict=True):
        for t, value in enumerate(tau, start=1):
            error = float(se[position])
            z = float(value) / error
            rows.append((item, "|", f"t{t}", float(value), error, z, two_sided_p(z)))
            position += 1
    return pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))


def _warnings(converged, iterations, singular, fit, estimates, moments, items):
    found = sem_checks.check_convergence(converged, "Gauss-Newton (DWLS)", iterations)
    if fit["df"] < 0 or singular is not None:
        found.append(
            ModelWarning(
                "under-identified",
                f"The model has {fit['df']} degrees of freedom: more free parameters than "
                "polychoric correlations."
                if fit["df"] < 0
                else f"The information matrix is singular: {singular} cannot be told apart "
                "from the other parameters. Fix a loading or a variance to identify it.",
                "error",
                singular,
            )
        )
    found += sem_checks.check_variances(estimates) + sem_checks.check_standardized(estimates)
    correlation = moments.correlation
    first, second = pairs(len(items))
    for i, j in zip(first, second, strict=True):
        if abs(correlation[i, j]) > 0.99:
            found.append(
                ModelWarning(
                    "polychoric-near-one",
                    f"The polychoric correlation of {items[i]} and {items[j]} is "
                    f"{correlation[i, j]:.3f}: the two items answer alike; keep one.",
                    "warning",
                    f"{items[i]} ~~ {items[j]}",
                )
            )
    if np.linalg.eigvalsh(correlation)[0] < 0:
        found.append(
            ModelWarning(
                "polychoric-not-pd",
                "The polychoric correlation matrix is not positive definite (pairwise "
                "estimates, small tables): DWLS still fits it, but check the items with "
                "rare categories.",
                "info",
            )
        )
    return found
