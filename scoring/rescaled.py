"""PLS estimates restated on 0-100 item scales, for a full sample and for bootstrap stacks.

The shared engine behind :mod:`scoring.indexes` and :mod:`scoring.ipma`. A
:class:`scoring.prepared.Prepared` model is restated on 0-100 scales by
:func:`point_stack` (the model's own estimates) and, for every bootstrap resample at
once, by :func:`bootstrap_stack`.

A resample is a vector of row frequencies; its item correlations, item SDs and
(respondent-weighted) item means all follow from weighted moments of the data, so the
whole bootstrap runs through :func:`models.pls_bootstrap.replicate_correlations` and
:func:`models.pls_algorithm.estimate` on a stack of correlation matrices rather than
refitting the model once per resample.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls import PLSResult
from models.pls_algorithm import Layout, estimate
from models.pls_bootstrap import bootstrap_batches, generator, is_integer, replicate_correlations
from scoring.prepared import Prepared

__all__ = [
    "BootstrapRun",
    "Stack",
    "bootstrap_stack",
    "check_bootstrap_settings",
    "mean_stack",
    "negative_weight_warnings",
    "point_stack",
    "rescaled_stack",
    "respondent_scores",
    "result_warnings",
]

FloatArray = npt.NDArray[np.float64]


# --- 0-100 restatement of a stack of PLS solutions ------------------------------------


@dataclass(frozen=True)
class Stack:
    """Estimates on 0-100 scales for k replicates (k = 1 for the full sample).

    ``norm_weights[k, i, j]`` is item i's normalised weight in construct j (0 outside
    its block); ``scale[k, j]`` the signed factor ``a_j`` with
    ``score_0_100 = a_j * standardized_score + const``; effects ``[k, outcome,
    predictor]``. Effect arrays are None for mean indexes.
    """

    norm_weights: FloatArray
    item_performance: FloatArray
    construct_performance: FloatArray
    scale: FloatArray | None = None
    total_std: FloatArray | None = None
    direct: FloatArray | None = None
    total: FloatArray | None = None

    def take(self, keep: npt.NDArray[np.bool_]) -> Stack:
        return Stack(*(None if a is None else a[keep] for a in self._arrays()))

    def _arrays(self) -> tuple[FloatArray | None, ...]:
        return (
            self.norm_weights,
            self.item_performance,
            self.construct_performance,
            self.scale,
            self.total_std,
            self.direct,
            self.total,
        )

    def finite(self) -> npt.NDArray[np.bool_]:
        arrays = [a for a in self._arrays() if a is not None]
        return np.logical_and.reduce(
            [np.isfinite(a).all(axis=tuple(range(1, a.ndim))) for a in arrays]
        )

    @staticmethod
    def concat(stacks: Sequence[Stack]) -> Stack:
        columns = zip(*(s._arrays() for s in stacks), strict=True)
        return Stack(*(None if c[0] is None else np.concatenate(c) for c in columns))


def rescaled_stack(
    prep: Prepared,
    std_weights: FloatArray,
    paths: FloatArray,
    total: FloatArray,
    item_sd: FloatArray,
    item_mean: FloatArray,
) -> Stack:
    """Restate standardized PLS estimates on 0-100 construct scores.

    Parameters
    ----------
    prep : Prepared
    std_weights : ndarray (k, p, C)
        Standardized outer weights (unit-variance construct scores).
    paths, total : ndarray (k, C, C)
        Standardized direct and total effects ``[outcome, predictor]``.
    item_sd : ndarray (k, p)
        SDs of the (mean-imputed) items on their raw scale, n-1 denominator.
    item_mean : ndarray (k, p)
        (Respondent-weighted) observed item means on their raw scale.

    Returns
    -------
    Stack

    Notes
    -----
    With the 0-100 item sd :math:`\\tilde s_i = 100\\, s_i / (\\max_i - \\min_i)`,
    :math:`u_{ij} = w_{ij} / \\tilde s_i`, normalised weights
    :math:`\\tilde w_{ij} = u_{ij} / \\sum_{i \\in j} u_{ij}` and
    :math:`a_j = 1 / \\sum_{i \\in j} u_{ij}` (the sd of the 0-100 score, signed); effects
    :math:`b_{op} = \\beta_{op} a_o / a_p`.
    """
    sd100 = item_sd * (100.0 / prep.span)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = std_weights * prep.mask / sd100[:, :, None]
        colsum = u.sum(axis=1)
        norm = u / colsum[:, None, :]
        scale = 1.0 / colsum
        ratio = scale[:, :, None] / scale[:, None, :]
    item_perf = (item_mean - prep.low) * (100.0 / prep.span)
    construct_perf = np.einsum("kpc,kp->kc", norm, item_perf)
    return Stack(norm, item_perf, construct_perf, scale, total, paths * ratio, total * ratio)


def _pls_arrays(result: PLSResult, layout: Layout) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Standardized weights (p, C), paths and total effects (C, C) from the result tables."""
    item = {name: i for i, name in enumerate(layout.items)}
    construct = {name: j for j, name in enumerate(layout.constructs)}
    weights = np.zeros(layout.mask.shape)
    for lhs, rhs, value in result.weights[["lhs", "rhs", "estimate"]].itertuples(index=False):
        weights[item[rhs], construct[lhs]] = value
    n = len(layout.constructs)
    paths, total = np.zeros((n, n)), np.zeros((n, n))
    for lhs, rhs, direct, tot in result.effects[["lhs", "rhs", "direct", "total"]].itertuples(
        index=False
    ):
        paths[construct[lhs], construct[rhs]] = direct
        total[construct[lhs], construct[rhs]] = tot
    return weights, paths, total


def point_stack(prep: Prepared) -> Stack:
    """The model's own estimates restated on 0-100 (a stack of one)."""
    ones = np.ones((1, prep.n))
    means = _weighted_means(prep, ones)
    if prep.result is None or prep.layout is None:
        return _equal_weight_stack(prep, means)
    weights, paths, total = _pls_arrays(prep.result, prep.layout)
    return rescaled_stack(prep, weights[None], paths[None], total[None], prep.item_sd[None], means)


def mean_stack(prep: Prepared, counts: FloatArray | None = None) -> Stack:
    """Equal item weights (1/k per construct): the plain mean index."""
    counts = np.ones((1, prep.n)) if counts is None else counts
    return _equal_weight_stack(prep, _weighted_means(prep, counts))


def _equal_weight_stack(prep: Prepared, means: FloatArray) -> Stack:
    norm = prep.mask / prep.mask.sum(axis=0)
    norm = np.broadcast_to(norm, (means.shape[0], *norm.shape)).copy()
    item_perf = (means - prep.low) * (100.0 / prep.span)
    return Stack(norm, item_perf, np.einsum("kpc,kp->kc", norm, item_perf))


def _weighted_means(prep: Prepared, counts: FloatArray) -> FloatArray:
    """Observed item means (k, p) under row frequencies times respondent weights."""
    c = counts if prep.respondent_weights is None else counts * prep.respondent_weights
    x0, miss = prep.centred.values, prep.centred.missing
    observed = c.sum(axis=1)[:, None] if miss is None else c @ (~miss).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (c @ x0) / observed + prep.centre


def _replicate_sd(prep: Prepared, counts: FloatArray) -> FloatArray:
    """SD (k, p) of the mean-imputed items in each replicate, n-1 denominator.

    Imputing the replicate's observed mean adds rows at the mean, so
    :math:`\\sum c x^2 - N\\mu^2` reduces to :math:`S_2 - n_{obs}\\mu^2` over observed rows.
    """
    x0, miss = prep.centred.values, prep.centred.missing
    total = counts.sum(axis=1)[:, None]
    observed = total if miss is None else total - counts @ miss.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (counts @ x0) / observed
        var = (counts @ (x0 * x0) - observed * mean**2) / (total - 1.0)
    return np.sqrt(np.clip(var, 0.0, None))


def _pls_replicates(
    prep: Prepared, counts: FloatArray
) -> tuple[Stack, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    layout, s = prep.layout, prep.settings
    if layout is None:
        raise ValueError("resampling PLS estimates needs a PLS model, not a block mapping")
    corr, ok = replicate_correlations(prep.centred, counts)
    fit = estimate(corr, layout, s["scheme"], s["tol"], s["max_iter"], s["consistent"])
    stack = rescaled_stack(
        prep,
        fit.weights,
        fit.paths,
        fit.total,
        _replicate_sd(prep, counts),
        _weighted_means(prep, counts),
    )
    return stack, ok & fit.ok, fit.converged


# --- the bootstrap --------------------------------------------------------------------


def check_bootstrap_settings(n_boot: int, level: float) -> None:
    if not is_integer(n_boot) or n_boot < 0 or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no bootstrap) or an integer >= 2, got {n_boot!r}")
    if not (isinstance(level, numbers.Real) and 0.0 < level < 1.0):
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


@dataclass(frozen=True)
class BootstrapRun:
    draws: Stack  # kept resamples only
    n_boot: int
    n_failed: int
    n_not_converged: int
    seed: int | None

    def warnings(self, max_iter: int | None) -> tuple[ModelWarning, ...]:
        out = []
        if self.n_failed:
            out.append(
                ModelWarning(
                    "bootstrap-failed-resamples",
                    f"{self.n_failed} of {self.n_boot} bootstrap resamples could not be "
                    "estimated (an item constant in the resample, or a singular system) "
                    "and were discarded.",
                    "warning",
                )
            )
        if self.n_not_converged:
            out.append(
                ModelWarning(
                    "bootstrap-not-converged",
                    f"{self.n_not_converged} bootstrap resamples did not converge in "
                    f"{max_iter} iterations; they are kept.",
                    "warning",
                )
            )
        return tuple(out)


def bootstrap_stack(
    prep: Prepared,
    n_boot: int,
    random_state: int | np.random.Generator | None,
    *,
    pls: bool,
) -> BootstrapRun:
    """0-100 estimates of ``n_boot`` resamples, batched; failed resamples dropped.

    Parameters
    ----------
    prep : Prepared
    n_boot : int
        Resamples (>= 2).
    random_state : int, numpy.random.Generator or None
        Seed of a local generator; None draws one (returned, for the provenance).
    pls : bool
        Re-estimate the PLS model in every resample (indexes, impacts, IPMA) or only the
        item means (mean indexes).

    Returns
    -------
    BootstrapRun
        The kept resamples' :class:`Stack`, the number discarded (a constant item, a
        singular system or an undefined mean), those not converged, and the seed.

    Notes
    -----
    Resamples are drawn as in :func:`models.pls.fit_pls` (``rng.integers(0, n, n)`` per
    resample), so the same seed gives the same resamples as the model's own bootstrap.
    With ``pls=True`` every resample re-estimates the PLS weights and paths (mean
    replacement redone inside the resample); otherwise only item means are resampled.
    """
    rng, seed = generator(random_state)
    stacks, kept, not_converged = [], [], 0
    for counts in bootstrap_batches(rng, prep.n, n_boot):
        if pls:
            stack, ok, converged = _pls_replicates(prep, counts)
        else:
            stack = mean_stack(prep, counts)
            ok, converged = np.ones(len(counts), bool), np.ones(len(counts), bool)
        good = ok & stack.finite()
        stacks.append(stack.take(good))
        kept.append(good)
        not_converged += int((good & ~converged).sum())
    draws = Stack.concat(stacks)
    n_kept = int(np.concatenate(kept).sum())
    if n_kept < 2:
        raise ValueError("fewer than 2 bootstrap resamples could be estimated")
    return BootstrapRun(draws, n_boot, n_boot - n_kept, not_converged, seed)


# --- respondents ----------------------------------------------------------------------


def respondent_scores(prep: Prepared, norm_weights: FloatArray) -> pd.DataFrame:
    """0-100 construct scores per respondent, ``sum_i w_ij x_i(0-100)``.

    A missing answer is replaced by the item's (respondent-weighted) mean, as the model's
    mean replacement does, so the (weighted) mean of the scores is the index.
    """
    means = _weighted_means(prep, np.ones((1, prep.n)))[0]
    filled = np.where(np.isnan(prep.raw), means, prep.raw)
    scaled = (filled - prep.low) * (100.0 / prep.span)
    return pd.DataFrame(scaled @ norm_weights, index=prep.index, columns=list(prep.constructs))


def negative_weight_warnings(prep: Prepared, norm_weights: FloatArray) -> tuple[ModelWarning, ...]:
    """Warn for items whose normalised weight is not positive (0-100 scores then mislead)."""
    out = []
    for j, rows in enumerate(prep.blocks):
        for i in rows:
            if not norm_weights[i, j] > 0:
                out.append(
                    ModelWarning(
                        "negative-outer-weight",
                        f"item {prep.items[i]} has a normalised weight of "
                        f"{norm_weights[i, j]:.3f} in {prep.constructs[j]}: 0-100 scores, "
                        "indexes and IPMA assume positive outer weights (Ringle & Sarstedt "
                        "2016); check the item's coding and the measurement model.",
                        "warning",
                        prep.items[i],
                    )
                )
    return tuple(out)


def result_warnings(
    prep: Prepared, point: Stack, boot: BootstrapRun | None, *, pls: bool = True
) -> tuple[ModelWarning, ...]:
    """The model's warnings, then negative weights (PLS) and bootstrap problems."""
    own = negative_weight_warnings(prep, point.norm_weights[0]) if pls else ()
    if boot is not None:
        own += boot.warnings(prep.settings.get("max_iter"))
    return prep.warnings + own
