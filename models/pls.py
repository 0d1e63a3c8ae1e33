"""PLS path modelling (Wold's algorithm in Lohmöller's formulation), vectorised.

The estimator works on the indicators' correlation matrix only, and on a whole stack of
them at once: the full-sample fit is a stack of one, a 1,000-resample bootstrap a stack
of 1,000 run through the same code (see :mod:`models.pls_bootstrap`).

Use :func:`fit_pls` (spec and data in, frozen :class:`PLSResult` out), or the thin
scikit-learn style :class:`PLSPathModel` around it.
"""

from __future__ import annotations

import hashlib
import html
import json
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy
from scipy.special import ndtr

from models.diagnostics import ModelWarning
from models.pls_bootstrap import (
    CenteredData,
    PLSBootstrap,
    bootstrap_batches,
    jackknife_batches,
    replicate_correlations,
)
from models.syntax import ModelSyntaxError, PathSpec, parse_model
from models.vocabulary import ESTIMATE_COLUMNS

__all__ = ["EFFECT_COLUMNS", "R2_COLUMNS", "PLSPathModel", "PLSResult", "fit_pls"]

FloatArray = npt.NDArray[np.float64]
Scheme = Literal["path", "centroid", "factorial"]
Missing = Literal["mean", "casewise"]
Interval = Literal["percentile", "bca"]

_SCHEMES = ("path", "centroid", "factorial")
_MISSING = ("mean", "casewise")
_INTERVALS = ("percentile", "bca")
# Share of missing answers per item above which mean replacement is flagged (seminr's 5%).
_MISSING_SHARE_WARNING = 0.05
EFFECT_COLUMNS = (
    "lhs",
    "rhs",
    "direct",
    "indirect",
    "total",
    "total_se",
    "total_p_value",
    "total_ci_low",
    "total_ci_high",
)
R2_COLUMNS = ("lhs", "r2", "adj_r2", "se", "ci_low", "ci_high")


# --- the model layout: which item belongs to which construct, which paths exist ----------


@dataclass(frozen=True)
class _Layout:
    items: tuple[str, ...]
    constructs: tuple[str, ...]
    mask: FloatArray  # (p, C) 1 where item i is in the block of construct c
    blocks: tuple[npt.NDArray[np.intp], ...]  # item indices per construct
    mode_b: tuple[int, ...]  # constructs estimated with mode B
    adjacency: FloatArray  # (C, C) 1 at [predictor, outcome]
    predictors: tuple[tuple[int, npt.NDArray[np.intp]], ...]  # (outcome, predictor indices)

    @classmethod
    def from_spec(cls, spec: PathSpec) -> _Layout:
        constructs = spec.constructs
        items = spec.observed
        position = {c: j for j, c in enumerate(constructs)}
        mask = np.zeros((len(items), len(constructs)))
        blocks = []
        for j, construct in enumerate(constructs):
            rows = np.array([items.index(i) for i in spec.blocks[construct]], dtype=np.intp)
            mask[rows, j] = 1.0
            blocks.append(rows)
        adjacency = np.zeros((len(constructs), len(constructs)))
        for outcome, predictor in spec.paths:
            adjacency[position[predictor], position[outcome]] = 1.0
        predictors = tuple(
            (position[o], np.array([position[p] for p in spec.predictors(o)], dtype=np.intp))
            for o in spec.endogenous
        )
        mode_b = tuple(j for j, c in enumerate(constructs) if spec.modes[c] == "B")
        return cls(items, constructs, mask, tuple(blocks), mode_b, adjacency, predictors)

    @property
    def endogenous(self) -> tuple[str, ...]:
        return tuple(self.constructs[o] for o, _ in self.predictors)

    def reachable(self) -> npt.NDArray[np.bool_]:
        """``[outcome, predictor]`` True where a directed path leads predictor -> outcome."""
        n = len(self.constructs)
        reach = self.adjacency.T > 0
        for _ in range(n):
            reach = reach | ((reach.astype(float) @ reach.astype(float)) > 0)
        return reach


# --- the algorithm, on a stack of correlation matrices ------------------------------------


@dataclass(frozen=True)
class _Fit:
    """PLS estimates for a stack of k correlation matrices."""

    weights: FloatArray  # (k, p, C) standardized outer weights
    loadings: FloatArray  # (k, p, C) masked to own block
    paths: FloatArray  # (k, C, C) at [outcome, predictor]
    total: FloatArray  # (k, C, C) total effects at [outcome, predictor]
    r2: FloatArray  # (k, n_endogenous)
    construct_corr: FloatArray  # (k, C, C)
    n_iter: npt.NDArray[np.int_]
    converged: npt.NDArray[np.bool_]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Replicates whose estimates are all finite (a singular system gives NaN)."""
        finite = [
            np.isfinite(a).all(axis=tuple(range(1, a.ndim)))
            for a in (self.weights, self.paths, self.r2)
        ]
        return np.logical_and.reduce(finite)


def _estimate(corr: FloatArray, layout: _Layout, scheme: Scheme, tol: float, max_iter: int) -> _Fit:
    weights, n_iter, converged = _outer_weights(corr, layout, scheme, tol, max_iter)
    construct_corr = _construct_correlations(corr, weights)
    loadings = (corr @ weights) * layout.mask
    k, n_constructs = corr.shape[0], len(layout.constructs)
    paths = np.zeros((k, n_constructs, n_constructs))
    r2 = np.zeros((k, len(layout.predictors)))
    for e, (outcome, preds) in enumerate(layout.predictors):
        beta = _solve(construct_corr[:, preds[:, None], preds], construct_corr[:, preds, outcome])
        paths[:, outcome, preds] = beta
        # R^2 = b' r_xy for standardized OLS, equal to seminr's 1 - 1/inv(R)[y, y].
        r2[:, e] = (beta * construct_corr[:, preds, outcome]).sum(axis=1)
    total = _total_effects(paths)
    return _Fit(weights, loadings, paths, total, r2, construct_corr, n_iter, converged)


def _outer_weights(
    corr: FloatArray, layout: _Layout, scheme: Scheme, tol: float, max_iter: int
) -> tuple[FloatArray, npt.NDArray[np.int_], npt.NDArray[np.bool_]]:
    """Iterate outer weights to convergence for each matrix of the stack.

    Starting from unit weights (the block mask, as seminr and SmartPLS), one step is:
    scores ``Y = X W`` scaled to unit variance; inner proxies ``Z = Y E`` with ``E``
    from the weighting scheme; new weights from ``cov(X, Z) = R W E`` (mode A) or
    ``R_bb^{-1} cov(X_b, Z)`` (mode B); rescale so ``var(X w) = 1``. Stop when
    ``sum |W_new - W_old| < tol`` (seminr's criterion). Replicates stop independently,
    so each bootstrap estimate equals the one a separate fit of that resample gives.
    """
    k = corr.shape[0]
    weights = np.broadcast_to(layout.mask, (k, *layout.mask.shape)).copy()
    n_iter = np.zeros(k, dtype=np.int_)
    active = np.ones(k, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        r, old = corr[idx], weights[idx]
        scaled = _unit_variance(r, old)
        inner = _inner_weights(_construct_correlations(r, scaled), layout, scheme)
        # cov(items, proxies) up to a positive factor per construct, which the final
        # rescaling removes; so Z need not be standardized here.
        target = r @ scaled @ inner
        new = target * layout.mask
        for j in layout.mode_b:
            rows = layout.blocks[j]
            new[:, rows, j] = _solve(r[:, rows[:, None], rows], target[:, rows, j])
        new = _unit_variance(r, new)
        change = np.abs(new - old).sum(axis=(1, 2))
        weights[idx] = new
        n_iter[idx] += 1
        # NaN change (singular mode-B block) also stops: the replicate is dropped later.
        active[idx[~(change >= tol)]] = False
    converged = ~active
    # A NaN weight means a failed replicate, not a converged one.
    converged &= np.isfinite(weights).all(axis=(1, 2))
    return weights, n_iter, converged


def _unit_variance(corr: FloatArray, weights: FloatArray) -> FloatArray:
    """Scale each weight column so the composite ``X w`` has variance 1 (``w' R w = 1``)."""
    var = np.einsum("kpc,kpc->kc", corr @ weights, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return weights / np.sqrt(var)[:, None, :]


def _construct_correlations(corr: FloatArray, weights: FloatArray) -> FloatArray:
    return np.swapaxes(weights, 1, 2) @ corr @ weights


def _inner_weights(construct_corr: FloatArray, layout: _Layout, scheme: Scheme) -> FloatArray:
    """Inner weights ``E[i, j]``: how much construct i contributes to j's inner proxy.

    centroid: sign of the correlation between adjacent constructs; factorial: the
    correlation; path: the correlation for a successor i of j, and for a predictor i
    of j its coefficient in the regression of j on all of j's predictors.
    """
    a = layout.adjacency
    neighbours = a + a.T
    if scheme == "centroid":
        return np.sign(construct_corr) * neighbours
    if scheme == "factorial":
        return construct_corr * neighbours
    inner = construct_corr * a.T  # [i, j] kept where i is a successor of j
    for outcome, preds in layout.predictors:
        inner[:, preds, outcome] = _solve(
            construct_corr[:, preds[:, None], preds], construct_corr[:, preds, outcome]
        )
    return inner


def _solve(a: FloatArray, b: FloatArray) -> FloatArray:
    """Batched ``solve(a, b)`` for b of shape (k, m); NaN rows where a is singular.

    numpy raises for the whole stack if one matrix is singular; a degenerate bootstrap
    resample must fail alone, so fall back to one solve per matrix.
    """
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(b.shape, np.nan)
        for i in range(a.shape[0]):
            try:
                out[i] = np.linalg.solve(a[i], b[i])
            except np.linalg.LinAlgError:
                continue
        return out


def _total_effects(paths: FloatArray) -> FloatArray:
    """Total effects ``(I - B)^{-1} - I`` with ``B[outcome, predictor]``.

    ``B`` is nilpotent in a recursive model, so ``I - B`` is always invertible.
    """
    identity = np.eye(paths.shape[-1])
    # A failed replicate's NaN paths would make inv raise for the whole stack; it is
    # discarded later anyway.
    return np.linalg.inv(identity - np.nan_to_num(paths)) - identity


# --- data preparation --------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    raw: FloatArray  # (n, p) rows used, NaN kept (for resampling with re-imputation)
    values: FloatArray  # (n, p) after mean replacement
    index: pd.Index
    n_input: int
    warnings: tuple[ModelWarning, ...]


def _prepare_data(frame: pd.DataFrame, items: tuple[str, ...], missing: Missing) -> _Data:
    non_numeric = [c for c in items if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(
            f"indicator columns must be numeric; not numeric: {', '.join(non_numeric)}. "
            "Code answers as numbers and 'cannot answer' as NaN."
        )
    raw = frame.loc[:, list(items)].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    if np.isinf(raw).any():
        bad = [items[j] for j in np.flatnonzero(np.isinf(raw).any(axis=0))]
        raise ValueError(f"infinite values in {', '.join(bad)}; use NaN for missing answers")
    index = frame.index
    warnings: list[ModelWarning] = []
    is_missing = np.isnan(raw)
    if missing == "casewise":
        complete = ~is_missing.any(axis=1)
        if not complete.all():
            dropped = int((~complete).sum())
            warnings.append(
                ModelWarning(
                    "casewise-deletion",
                    f"{dropped} of {len(raw)} rows dropped for missing answers "
                    "(casewise deletion).",
                    "info",
                )
            )
        raw, index = raw[complete], index[complete]
        is_missing = is_missing[complete]
    empty = [items[j] for j in np.flatnonzero(is_missing.all(axis=0))]
    if empty or len(raw) < 3:
        what = f"no answers for {', '.join(empty)}" if empty else f"only {len(raw)} rows"
        raise ValueError(f"cannot estimate the model: {what} after {missing} missing handling")
    share = is_missing.mean(axis=0)
    for j in np.flatnonzero(share > _MISSING_SHARE_WARNING):
        warnings.append(
            ModelWarning(
                "missing-data",
                f"{share[j]:.1%} of answers missing for {items[j]}; mean replacement shrinks its "
                "variance and its correlations.",
                "warning",
                items[j],
            )
        )
    values = np.where(is_missing, np.nanmean(raw, axis=0), raw)
    sd = values.std(axis=0, ddof=1)
    constant = [items[j] for j in np.flatnonzero(~(sd > 0))]
    if constant:
        raise ValueError(f"indicators with zero variance cannot be standardized: {constant}")
    return _Data(raw, values, index, len(frame), tuple(warnings))


def _construct_name(item: str) -> str:
    name = item.capitalize()
    return name if name != item else f"{item}_construct"


def _check_spec(spec: PathSpec, columns: pd.Index) -> tuple[ModelWarning, ...]:
    """Refuse what the PLS engine cannot estimate; note what it ignores."""
    spec.check_data(columns)
    constructs = set(spec.constructs)
    lines = {(r.lhs, r.rhs.name): r.line for r in spec.regressions}
    for outcome, predictor in spec.paths:
        for name in (outcome, predictor):
            if name not in constructs:
                raise ModelSyntaxError(
                    f"{name!r} in the path {outcome} ~ {predictor} is an observed variable; "
                    "PLS needs every variable of a structural path to be a construct",
                    f"Give it a single-item block, e.g. `{_construct_name(name)} =~ {name}`, "
                    "and use that construct in the path.",
                    lines[(outcome, predictor)],
                )
    for block in spec.measurement:
        nested = [n for n in block.indicator_names if n in constructs]
        if nested:
            raise ModelSyntaxError(
                f"construct {block.construct!r} is measured by constructs {nested}; "
                "higher-order constructs are not supported by the PLS engine",
                "Use the two-stage approach: estimate the first-order model, then model "
                "the second-order construct on its scores.",
                block.line,
            )
    in_paths = set(spec.structural_variables)
    for block in spec.measurement:
        if block.construct not in in_paths:
            raise ModelSyntaxError(
                f"construct {block.construct!r} is in no structural path; PLS inner "
                "estimation needs every construct connected",
                "Add a path to or from it, or remove its block.",
                block.line,
            )
    warnings = []
    if spec.covariance_terms:
        warnings.append(
            ModelWarning(
                "covariances-ignored",
                "PLS does not estimate ~~ covariances; they were ignored.",
                "info",
            )
        )
    terms = [t for b in spec.measurement for t in b.indicators] + [r.rhs for r in spec.regressions]
    if any(t.fixed is not None or t.free or t.label is not None for t in terms):
        warnings.append(
            ModelWarning(
                "modifiers-ignored",
                "PLS ignores pre-multipliers (1*x, NA*x, labels); all weights are estimated.",
                "info",
            )
        )
    return tuple(warnings)


# --- the result --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PLSResult:
    """A fitted PLS path model.

    Attributes
    ----------
    spec : PathSpec
        The specification fitted.
    estimates : pandas.DataFrame
        Columns ``ESTIMATE_COLUMNS``: structural paths (``op="~"``, lhs the outcome) then
        outer loadings (``op="=~"``, lhs the construct, rhs the item). PLS estimates are
        standardized, so ``estimate`` equals ``std_estimate``. ``se``, ``z``,
        ``p_value``, ``ci_low``, ``ci_high`` are NaN unless bootstrapped.
    weights : pandas.DataFrame
        Outer weights, same columns, ``op="<~"`` (the composite formed by the items,
        whatever the block's mode).
    unstandardized_weights : pandas.DataFrame
        ``lhs, rhs, weight, item_mean, item_sd``: ``weight = w / sd(item)``, the weight
        of the raw item in the construct score, needed by 0-100 indexes.
    r2 : pandas.DataFrame
        ``lhs, r2, adj_r2, se, ci_low, ci_high`` per endogenous construct.
    effects : pandas.DataFrame
        ``lhs`` (outcome), ``rhs`` (predictor), ``direct``, ``indirect``, ``total``, and
        the total effect's bootstrap ``total_se``, ``total_p_value``, ``total_ci_low``,
        ``total_ci_high`` (NaN unless bootstrapped), for every pair joined by a path.
    scores : pandas.DataFrame
        Standardized construct scores, indexed like the rows used.
    construct_correlations : pandas.DataFrame
        Correlations of the construct scores.
    n_obs : int
        Rows used.
    converged : bool
    n_iter : int
        Outer-weight updates performed.
    warnings : tuple of ModelWarning
    provenance : dict
        Engine, settings, library versions, sha256 of the data used.
    bootstrap : PLSBootstrap or None
        Resampling details when ``n_boot > 0``.
    """

    spec: PathSpec
    estimates: pd.DataFrame
    weights: pd.DataFrame
    unstandardized_weights: pd.DataFrame
    r2: pd.DataFrame
    effects: pd.DataFrame
    scores: pd.DataFrame
    construct_correlations: pd.DataFrame
    n_obs: int
    converged: bool
    n_iter: int
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any]
    bootstrap: PLSBootstrap | None = None

    @property
    def proper(self) -> bool:
        """False when any warning has severity ``"error"`` (e.g. not converged)."""
        return not any(w.severity == "error" for w in self.warnings)

    def summary(self) -> str:
        """Plain-text report: fit facts, paths, R², loadings, weights and warnings."""
        p = self.provenance
        head = [
            "PLS path model",
            f"  observations {self.n_obs} (of {p['n_rows_input']}), missing: {p['missing']}",
            f"  scheme {p['scheme']}, converged {self.converged} after {self.n_iter} "
            f"iterations (tol {p['tol']:g})",
        ]
        if self.bootstrap is not None:
            b = self.bootstrap
            head.append(
                f"  bootstrap {b.n_boot - b.n_failed}/{b.n_boot} resamples, "
                f"{p['ci']} {p['level']:.0%} intervals, seed {b.seed}"
            )
        body = [
            ("Structural paths", self.estimates[self.estimates["op"] == "~"]),
            ("R-squared", self.r2),
            ("Effects", self.effects[["lhs", "rhs", "direct", "indirect", "total"]]),
            ("Outer loadings", self.estimates[self.estimates["op"] == "=~"]),
            ("Outer weights", self.weights),
        ]
        parts = ["\n".join(head)]
        for title, table in body:
            parts.append(f"{title}\n{_format_table(table)}")
        if self.warnings:
            parts.append(
                "Warnings\n"
                + "\n".join(f"  [{w.severity}] {w.code}: {w.message}" for w in self.warnings)
            )
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        p = self.provenance
        facts = (
            f"<p><b>PLS path model</b>: n = {self.n_obs}, scheme {html.escape(p['scheme'])}, "
            f"converged {self.converged} after {self.n_iter} iterations</p>"
        )
        tables = [
            ("Structural paths", self.estimates[self.estimates["op"] == "~"]),
            ("R-squared", self.r2),
            ("Outer loadings", self.estimates[self.estimates["op"] == "=~"]),
            ("Outer weights", self.weights),
        ]
        parts = [facts] + [
            f"<h4>{title}</h4>{t.to_html(index=False, float_format=_fmt, na_rep='')}"
            for title, t in tables
        ]
        if self.warnings:
            items = "".join(
                f"<li>{html.escape(w.code)}: {html.escape(w.message)}</li>" for w in self.warnings
            )
            parts.append(f"<h4>Warnings</h4><ul>{items}</ul>")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None) for the API and stored analyses."""
        return {
            "engine": "pls",
            "model": self.spec.to_lavaan(),
            "n_obs": self.n_obs,
            "converged": self.converged,
            "n_iter": self.n_iter,
            "proper": self.proper,
            "estimates": _records(self.estimates),
            "weights": _records(self.weights),
            "unstandardized_weights": _records(self.unstandardized_weights),
            "r2": _records(self.r2),
            "effects": _records(self.effects),
            "warnings": [w.to_dict() for w in self.warnings],
            "bootstrap": None
            if self.bootstrap is None
            else {
                "n_boot": self.bootstrap.n_boot,
                "n_failed": self.bootstrap.n_failed,
                "n_not_converged": self.bootstrap.n_not_converged,
                "seed": self.bootstrap.seed,
            },
            "provenance": json.loads(json.dumps(self.provenance, default=str)),
        }


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _format_table(table: pd.DataFrame) -> str:
    shown = table.dropna(axis=1, how="all")
    return shown.to_string(index=False, float_format=_fmt, na_rep="")


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    clean = table.astype(object).where(table.notna(), None)
    return clean.to_dict(orient="records")


# --- fitting -----------------------------------------------------------------------------


def fit_pls(
    spec: PathSpec | str,
    frame: pd.DataFrame,
    *,
    scheme: Scheme = "path",
    tol: float = 1e-7,
    max_iter: int = 300,
    missing: Missing = "mean",
    n_boot: int = 0,
    ci: Interval = "percentile",
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> PLSResult:
    """Fit a PLS path model (PLS-SEM) to survey data.

    Parameters
    ----------
    spec : PathSpec or str
        The model, or lavaan text for :func:`models.syntax.parse_model`. ``=~`` blocks
        are estimated in mode A (correlation weights), ``<~`` blocks in mode B
        (regression weights). Every construct must be in a structural path.
    frame : pandas.DataFrame
        One row per respondent, numeric item columns, "cannot answer" as NaN.
    scheme : {"path", "centroid", "factorial"}
        Inner weighting scheme.
    tol : float
        Convergence when the summed absolute change of the outer weights between two
        iterations is below ``tol`` (seminr's criterion, ``10**-7`` by default).
    max_iter : int
        Maximum number of outer-weight updates (300 as in seminr and SmartPLS).
    missing : {"mean", "casewise"}
        ``"mean"`` (default, as SmartPLS and seminr) replaces a missing answer with the
        item's mean, warning (``"missing-data"``) for items with more than 5% missing;
        ``"casewise"`` drops every row with a missing answer on a model item.
    n_boot : int
        Bootstrap resamples; 0 (default) skips the bootstrap.
    ci : {"percentile", "bca"}
        Interval reported in ``ci_low``/``ci_high``; both remain available through
        ``result.bootstrap.interval``.
    level : float
        Confidence level of the intervals.
    random_state : int, numpy.random.Generator or None
        Seed of the resampling. None draws a fresh seed, recorded in the provenance so
        the run can be repeated.

    Returns
    -------
    PLSResult
        Frozen result. A fit that does not converge within ``max_iter`` is returned with
        ``converged=False`` and a ``"not-converged"`` warning of severity ``"error"``.

    Raises
    ------
    ModelSyntaxError
        If an indicator is not a column, a path variable is not a construct, a
        construct is in no path, or a construct is measured by constructs.
    ValueError
        For invalid settings, non-numeric or constant items, or too few rows.

    See Also
    --------
    PLSPathModel : the same as a scikit-learn style estimator.
    models.syntax.parse_model : the model language.

    Notes
    -----
    Items are standardized with the sample (n-1) sd, as seminr and SmartPLS do; all
    computations use their correlation matrix :math:`R`. With outer weights :math:`W`
    (starting at 1 within blocks) scaled so that :math:`\\operatorname{diag}(W^T R W)=1`,
    construct scores are :math:`Y = XW` and their correlations :math:`P = W^T R W`.
    Inner weights :math:`E` (centroid :math:`\\operatorname{sign}(P_{ij})`, factorial
    :math:`P_{ij}`, path: :math:`P_{ij}` towards successors, regression coefficients
    of the predictors) give inner proxies :math:`Z = YE`; the new weights are
    :math:`R W E` in mode A and :math:`R_{bb}^{-1} (R W E)_b` in mode B, rescaled to
    unit variance, until :math:`\\sum |W^{(t)} - W^{(t-1)}| <` ``tol``.

    Then loadings :math:`\\Lambda = R W` (within blocks), paths by OLS of each
    endogenous construct on its predictors, :math:`\\beta = P_{xx}^{-1} P_{xy}`,
    :math:`R^2 = \\beta^T P_{xy}`, adjusted :math:`1 - (1 - R^2)(n - 1)/(n - k - 1)`,
    total effects :math:`T = (I - B)^{-1} - I`, indirect :math:`T - B`. The
    unstandardized weights are :math:`w_i / s_i` with :math:`s_i` the item's sd.

    Bootstrap: rows are resampled with replacement (``rng.integers(0, n, n)`` per
    resample, the same stream as seminr for the same seed); mean replacement is redone
    inside every resample; resamples with a constant item are discarded and counted.
    ``se`` is the sd of the draws, ``z = estimate / se`` and ``p_value`` its two-sided
    normal p-value. BCa uses the jackknife for the acceleration (delete-one up to 1,000
    rows, delete-group above).

    Validated against the seminr Python port (a port of the R package that reproduces
    SmartPLS) to 1e-6 for weights, loadings, paths and R² under the path and factorial
    schemes and for bootstrap standard errors; the centroid scheme against a direct
    loop implementation of the textbook algorithm.

    References
    ----------
    Lohmöller, J.-B. (1989). *Latent Variable Path Modeling with Partial Least Squares*.
    Physica, Heidelberg. doi:10.1007/978-3-642-52512-4

    Tenenhaus, M., Esposito Vinzi, V., Chatelin, Y.-M., & Lauro, C. (2005). PLS path
    modeling. *Computational Statistics & Data Analysis*, 48(1), 159-205.
    doi:10.1016/j.csda.2004.03.005

    Efron, B. (1987). Better bootstrap confidence intervals. *Journal of the American
    Statistical Association*, 82(397), 171-185. doi:10.1080/01621459.1987.10478410

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(200, 1))
    >>> g = 0.6 * f + 0.8 * rng.normal(size=(200, 1))
    >>> frame = pd.DataFrame(np.hstack([f + rng.normal(size=(200, 2)),
    ...                                 g + rng.normal(size=(200, 2))]),
    ...                      columns=["a1", "a2", "b1", "b2"])
    >>> result = fit_pls("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", frame)
    >>> result.converged, round(float(result.estimates.loc[0, "estimate"]), 2)
    (True, 0.38)
    """
    _check_settings(scheme, tol, max_iter, missing, n_boot, ci, level)
    if isinstance(spec, str):
        spec = parse_model(spec)
    warnings = list(_check_spec(spec, frame.columns))
    layout = _Layout.from_spec(spec)
    data = _prepare_data(frame, layout.items, missing)
    warnings.extend(data.warnings)

    mean = data.values.mean(axis=0)
    sd = data.values.std(axis=0, ddof=1)
    standardized = (data.values - mean) / sd
    corr = (standardized.T @ standardized) / (len(standardized) - 1)
    fit = _estimate(corr[None], layout, scheme, tol, max_iter)
    if not fit.ok[0]:
        raise ValueError(
            "the PLS system is singular (perfectly collinear items in a mode B block or "
            "collinear predictors); drop redundant items or paths"
        )
    converged, n_iter = bool(fit.converged[0]), int(fit.n_iter[0])
    if not converged:
        warnings.append(
            ModelWarning(
                "not-converged",
                f"outer weights did not converge in {max_iter} iterations (tol {tol:g}); "
                "estimates are not a PLS solution. Raise max_iter or check the model.",
                "error",
            )
        )

    boot = None
    if n_boot > 0:
        boot, boot_warnings = _bootstrap(
            data, layout, fit, scheme, tol, max_iter, n_boot, random_state
        )
        warnings.extend(boot_warnings)

    provenance = {
        "engine": "pls",
        "estimator": "PLS-PM (Lohmöller), standardized data, n-1 sd",
        "scheme": scheme,
        "tol": tol,
        "max_iter": max_iter,
        "missing": missing,
        "n_rows_input": data.n_input,
        "n_obs": len(data.values),
        "n_missing_cells": int(np.isnan(data.raw).sum()),
        "n_boot": n_boot,
        "ci": ci,
        "level": level,
        "seed": boot.seed if boot is not None else None,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "data_sha256": _data_hash(layout.items, data.raw),
    }
    return _assemble(
        spec,
        layout,
        data,
        fit,
        mean,
        sd,
        standardized,
        boot,
        ci,
        level,
        converged,
        n_iter,
        tuple(warnings),
        provenance,
    )


def _check_settings(
    scheme: str, tol: float, max_iter: int, missing: str, n_boot: int, ci: str, level: float
) -> None:
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    if ci not in _INTERVALS:
        raise ValueError(f"ci must be one of {_INTERVALS}, got {ci!r}")
    if not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if not (_is_integer(max_iter) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (_is_integer(n_boot) and n_boot >= 0) or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no bootstrap) or an integer >= 2, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


def _is_integer(value: object) -> bool:
    # bool is an Integral too, and max_iter=True is a mistake, not 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _data_hash(items: tuple[str, ...], raw: FloatArray) -> str:
    digest = hashlib.sha256("\x1f".join(items).encode())
    # NaN has many bit patterns; hash one canonical NaN so equal data hash equally.
    digest.update(np.where(np.isnan(raw), np.nan, raw).astype("<f8").tobytes())
    return digest.hexdigest()


# --- bootstrap ---------------------------------------------------------------------------


def _parameter_labels(layout: _Layout) -> list[tuple[str, str, str]]:
    """``(table, lhs, rhs)`` of every bootstrapped statistic, in :func:`_flatten` order."""
    labels = []
    for outcome, preds in layout.predictors:
        labels += [("paths", layout.constructs[outcome], layout.constructs[p]) for p in preds]
    for kind in ("loadings", "weights"):
        for j, rows in enumerate(layout.blocks):
            labels += [(kind, layout.constructs[j], layout.items[i]) for i in rows]
    reach = layout.reachable()
    for o, p in zip(*np.nonzero(reach), strict=True):
        labels.append(("total", layout.constructs[o], layout.constructs[p]))
    labels += [("r2", name, "") for name in layout.endogenous]
    return labels


def _flatten(fit: _Fit, layout: _Layout) -> FloatArray:
    """(k, P) matrix of the statistics, in the order of :func:`_parameter_labels`."""
    columns = []
    for outcome, preds in layout.predictors:
        columns.append(fit.paths[:, outcome, preds])
    for stack in (fit.loadings, fit.weights):
        for j, rows in enumerate(layout.blocks):
            columns.append(stack[:, rows, j])
    o, p = np.nonzero(layout.reachable())
    columns.append(fit.total[:, o, p])
    columns.append(fit.r2)
    return np.concatenate(columns, axis=1)


def _bootstrap(
    data: _Data,
    layout: _Layout,
    fit: _Fit,
    scheme: Scheme,
    tol: float,
    max_iter: int,
    n_boot: int,
    random_state: int | np.random.Generator | None,
) -> tuple[PLSBootstrap, list[ModelWarning]]:
    if isinstance(random_state, np.random.Generator):
        rng, seed = random_state, None
    else:
        seed = (
            int(np.random.SeedSequence().generate_state(1)[0])
            if random_state is None
            else int(random_state)
        )
        rng = np.random.default_rng(seed)
    centred = CenteredData.from_array(data.raw)
    batches = bootstrap_batches(rng, centred.n, n_boot)
    draws, converged = _replicate(centred, batches, layout, scheme, tol, max_iter)
    jack, _ = _replicate(centred, jackknife_batches(centred.n), layout, scheme, tol, max_iter)
    labels = pd.MultiIndex.from_tuples(_parameter_labels(layout), names=["table", "lhs", "rhs"])
    kept = ~np.isnan(draws).any(axis=1)
    result = PLSBootstrap(
        draws=pd.DataFrame(draws[kept], columns=labels),
        jackknife=pd.DataFrame(jack[~np.isnan(jack).any(axis=1)], columns=labels),
        estimates=pd.Series(_flatten(fit, layout)[0], index=labels),
        n_boot=n_boot,
        n_failed=int((~kept).sum()),
        n_not_converged=int((kept & ~converged).sum()),
        seed=seed,
    )
    warnings = []
    if result.n_failed:
        warnings.append(
            ModelWarning(
                "bootstrap-failed-resamples",
                f"{result.n_failed} of {n_boot} bootstrap resamples could not be estimated "
                "(an item constant in the resample, or a singular system) and were discarded.",
                "warning",
            )
        )
    if result.n_not_converged:
        warnings.append(
            ModelWarning(
                "bootstrap-not-converged",
                f"{result.n_not_converged} bootstrap resamples did not converge in {max_iter} "
                "iterations; they are kept.",
                "warning",
            )
        )
    if len(result.draws) < 2:
        raise ValueError("fewer than 2 bootstrap resamples could be estimated")
    return result, warnings


def _replicate(
    centred: CenteredData,
    batches: Iterable[FloatArray],
    layout: _Layout,
    scheme: Scheme,
    tol: float,
    max_iter: int,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Statistics (k, P) of each frequency-weighted replicate; NaN rows for failures."""
    draws, converged = [], []
    for counts in batches:
        corr, ok = replicate_correlations(centred, counts)
        fit = _estimate(corr, layout, scheme, tol, max_iter)
        flat = _flatten(fit, layout)
        flat[~(ok & fit.ok)] = np.nan
        draws.append(flat)
        converged.append(fit.converged)
    return np.concatenate(draws), np.concatenate(converged)


# --- assembling the tables ---------------------------------------------------------------


def _assemble(
    spec: PathSpec,
    layout: _Layout,
    data: _Data,
    fit: _Fit,
    mean: FloatArray,
    sd: FloatArray,
    standardized: FloatArray,
    boot: PLSBootstrap | None,
    ci: Interval,
    level: float,
    converged: bool,
    n_iter: int,
    warnings: tuple[ModelWarning, ...],
    provenance: dict[str, Any],
) -> PLSResult:
    labels = np.array(_parameter_labels(layout), dtype=object)
    kinds, lhs, rhs = labels[:, 0], labels[:, 1], labels[:, 2]
    inference = _inference(_flatten(fit, layout)[0], boot, ci, level)

    def table(kind: str, op: str) -> pd.DataFrame:
        rows = kinds == kind
        columns = {
            "lhs": lhs[rows],
            "op": np.full(rows.sum(), op, dtype=object),
            "rhs": rhs[rows],
            "std_estimate": inference["estimate"][rows],
        }
        columns.update({name: values[rows] for name, values in inference.items()})
        return pd.DataFrame(columns, columns=list(ESTIMATE_COLUMNS))

    estimates = pd.concat([table("paths", "~"), table("loadings", "=~")], ignore_index=True)
    weights = table("weights", "<~")
    item_pos = {item: i for i, item in enumerate(layout.items)}
    rows = [item_pos[i] for i in weights["rhs"]]
    unstandardized = pd.DataFrame(
        {
            "lhs": weights["lhs"],
            "rhs": weights["rhs"],
            "weight": weights["estimate"].to_numpy() / sd[rows],
            "item_mean": mean[rows],
            "item_sd": sd[rows],
        }
    )

    n, n_pred = len(data.values), np.array([len(p) for _, p in layout.predictors])
    r2_values = fit.r2[0]
    in_r2 = kinds == "r2"
    r2 = pd.DataFrame(
        {
            "lhs": list(layout.endogenous),
            "r2": r2_values,
            "adj_r2": 1.0 - (1.0 - r2_values) * (n - 1) / (n - n_pred - 1),
            "se": inference["se"][in_r2],
            "ci_low": inference["ci_low"][in_r2],
            "ci_high": inference["ci_high"][in_r2],
        },
        columns=list(R2_COLUMNS),
    )

    in_total = kinds == "total"
    o, p = np.nonzero(layout.reachable())
    direct = fit.paths[0, o, p]
    total = fit.total[0, o, p]
    effects = pd.DataFrame(
        {
            "lhs": lhs[in_total],
            "rhs": rhs[in_total],
            "direct": direct,
            "indirect": total - direct,
            "total": total,
            "total_se": inference["se"][in_total],
            "total_p_value": inference["p_value"][in_total],
            "total_ci_low": inference["ci_low"][in_total],
            "total_ci_high": inference["ci_high"][in_total],
        },
        columns=list(EFFECT_COLUMNS),
    )

    constructs = list(layout.constructs)
    scores = pd.DataFrame(standardized @ fit.weights[0], index=data.index, columns=constructs)
    construct_corr = pd.DataFrame(fit.construct_corr[0], index=constructs, columns=constructs)
    return PLSResult(
        spec=spec,
        estimates=estimates,
        weights=weights,
        unstandardized_weights=unstandardized,
        r2=r2,
        effects=effects,
        scores=scores,
        construct_correlations=construct_corr,
        n_obs=n,
        converged=converged,
        n_iter=n_iter,
        warnings=warnings,
        provenance=provenance,
        bootstrap=boot,
    )


def _inference(
    estimate: FloatArray, boot: PLSBootstrap | None, ci: Interval, level: float
) -> dict[str, FloatArray]:
    """Estimate, se, z, p and interval per parameter (NaN without a bootstrap)."""
    if boot is None:
        nan = np.full(estimate.shape, np.nan)
        return {
            "estimate": estimate,
            "se": nan,
            "z": nan,
            "p_value": nan,
            "ci_low": nan,
            "ci_high": nan,
        }
    se = boot.se().to_numpy()
    # A parameter fixed by the design (the weight of a single-item block is 1 in every
    # resample) has se ~1e-16: report no test and a degenerate interval, not z = 1e16.
    degenerate = se <= 1e-10 * np.maximum(1.0, np.abs(estimate))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(degenerate, np.nan, estimate / se)
    interval = boot.interval(ci, level)
    return {
        "estimate": estimate,
        "se": np.where(degenerate, 0.0, se),
        "z": z,
        "p_value": 2.0 * ndtr(-np.abs(z)),
        "ci_low": np.where(degenerate, estimate, interval["ci_low"].to_numpy()),
        "ci_high": np.where(degenerate, estimate, interval["ci_high"].to_numpy()),
    }


class PLSPathModel:
    """scikit-learn style estimator around :func:`fit_pls`.

    The constructor only stores its parameters; :meth:`fit` validates them, fits, keeps
    the frozen :class:`PLSResult` in ``result_`` and returns ``self``.

    Parameters
    ----------
    spec : PathSpec or str
    scheme, tol, max_iter, missing, n_boot, ci, level, random_state
        As in :func:`fit_pls`.

    Examples
    --------
    >>> model = PLSPathModel("A =~ a1 + a2\\nB =~ b1 + b2\\nB ~ A", scheme="factorial")
    >>> model.get_params()["scheme"]
    'factorial'
    """

    def __init__(
        self,
        spec: PathSpec | str,
        *,
        scheme: Scheme = "path",
        tol: float = 1e-7,
        max_iter: int = 300,
        missing: Missing = "mean",
        n_boot: int = 0,
        ci: Interval = "percentile",
        level: float = 0.95,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.spec = spec
        self.scheme = scheme
        self.tol = tol
        self.max_iter = max_iter
        self.missing = missing
        self.n_boot = n_boot
        self.ci = ci
        self.level = level
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        names = (
            "spec",
            "scheme",
            "tol",
            "max_iter",
            "missing",
            "n_boot",
            "ci",
            "level",
            "random_state",
        )
        return {name: getattr(self, name) for name in names}

    def fit(self, frame: pd.DataFrame) -> PLSPathModel:
        params = self.get_params()
        self.result_ = fit_pls(params.pop("spec"), frame, **params)
        return self
