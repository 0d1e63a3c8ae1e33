"""The PLS algorithm (Wold's, in Lohmöller's formulation) on a stack of correlation matrices.

Every PLS statistic is a function of the indicators' correlation matrix alone, so the
estimator takes a stack of k matrices: the full-sample fit is a stack of one, a
1,000-resample bootstrap a stack of 1,000 run through the same code
(:mod:`models.pls_bootstrap`). With ``consistent=True`` the estimates are corrected as
in PLSc (:mod:`models.plsc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from models.plsc import corrected_correlations, corrected_loadings, rho_a
from models.syntax import PathSpec

__all__ = ["Layout", "PLSFit", "Scheme", "estimate", "flatten", "parameter_labels"]

FloatArray = npt.NDArray[np.float64]
Scheme = Literal["path", "centroid", "factorial"]


# --- the model layout: which item belongs to which construct, which paths exist ----------


@dataclass(frozen=True)
class Layout:
    items: tuple[str, ...]
    constructs: tuple[str, ...]
    mask: FloatArray  # (p, C) 1 where item i is in the block of construct c
    blocks: tuple[npt.NDArray[np.intp], ...]  # item indices per construct
    mode_b: tuple[int, ...]  # constructs estimated with mode B
    adjacency: FloatArray  # (C, C) 1 at [predictor, outcome]
    predictors: tuple[tuple[int, npt.NDArray[np.intp]], ...]  # (outcome, predictor indices)

    @classmethod
    def from_spec(cls, spec: PathSpec) -> Layout:
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
    def reflective(self) -> npt.NDArray[np.bool_]:
        """Constructs PLSc corrects: mode A blocks of two or more items."""
        sizes = np.array([len(rows) for rows in self.blocks])
        mode_a = ~np.isin(np.arange(len(self.constructs)), self.mode_b)
        return mode_a & (sizes > 1)

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
class PLSFit:
    """PLS estimates for a stack of k correlation matrices."""

    weights: FloatArray  # (k, p, C) standardized outer weights
    loadings: FloatArray  # (k, p, C) masked to own block
    paths: FloatArray  # (k, C, C) at [outcome, predictor]
    total: FloatArray  # (k, C, C) total effects at [outcome, predictor]
    r2: FloatArray  # (k, n_endogenous)
    construct_corr: FloatArray  # (k, C, C) the correlations the paths come from
    rho_a: FloatArray  # (k, C) rho_A under PLSc (1 for composites), all 1 otherwise
    n_iter: npt.NDArray[np.int_]
    converged: npt.NDArray[np.bool_]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Replicates whose estimates are all finite (a singular system gives NaN)."""
        finite = [
            np.isfinite(a).all(axis=tuple(range(1, a.ndim)))
            for a in (self.weights, self.loadings, self.paths, self.r2)
        ]
        return np.logical_and.reduce(finite)


def estimate(
    corr: FloatArray,
    layout: Layout,
    scheme: Scheme,
    tol: float,
    max_iter: int,
    consistent: bool = False,
) -> PLSFit:
    """PLS (or PLSc) estimates for each matrix of the stack ``corr`` (k, p, p)."""
    weights, n_iter, converged = _outer_weights(corr, layout, scheme, tol, max_iter)
    construct_corr = _construct_correlations(corr, weights)
    loadings = (corr @ weights) * layout.mask
    k, n_constructs = corr.shape[0], len(layout.constructs)
    rho = np.ones((k, n_constructs))
    if consistent:
        reflective = layout.reflective
        rho = rho_a(corr, weights, reflective)
        construct_corr = corrected_correlations(construct_corr, rho)
        loadings = corrected_loadings(loadings, weights, rho, reflective)
    paths = np.zeros((k, n_constructs, n_constructs))
    r2 = np.zeros((k, len(layout.predictors)))
    for e, (outcome, preds) in enumerate(layout.predictors):
        beta = _solve(construct_corr[:, preds[:, None], preds], construct_corr[:, preds, outcome])
        paths[:, outcome, preds] = beta
        # R^2 = b' r_xy for standardized OLS, equal to seminr's 1 - 1/inv(R)[y, y].
        r2[:, e] = (beta * construct_corr[:, preds, outcome]).sum(axis=1)
    total = _total_effects(paths)
    return PLSFit(weights, loadings, paths, total, r2, construct_corr, rho, n_iter, converged)


def _outer_weights(
    corr: FloatArray, layout: Layout, scheme: Scheme, tol: float, max_iter: int
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


def _inner_weights(construct_corr: FloatArray, layout: Layout, scheme: Scheme) -> FloatArray:
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
    # numpy's inv raises for the whole stack on one NaN matrix, so invert a NaN-free
    # copy and blank the replicates whose paths are undefined.
    total = np.linalg.inv(identity - np.nan_to_num(paths)) - identity
    total[~np.isfinite(paths).all(axis=(1, 2))] = np.nan
    return total


# --- the statistics as one flat vector per fit (bootstrap draws, inference) ----------


def parameter_labels(layout: Layout) -> list[tuple[str, str, str]]:
    """``(table, lhs, rhs)`` of every bootstrapped statistic, in :func:`flatten` order."""
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


def flatten(fit: PLSFit, layout: Layout) -> FloatArray:
    """(k, P) matrix of the statistics, in the order of :func:`parameter_labels`."""
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
