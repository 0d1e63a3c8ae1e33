"""Resampling machinery for PLS: replicate correlation matrices and bootstrap intervals.

Every PLS statistic (weights, loadings, paths, R², effects) is a function of the
indicators' correlation matrix alone, so a bootstrap resample or a jackknife deletion
never needs its own copy of the data: it is a vector of frequency weights ``c`` over the
rows (multinomial counts, or ones with a zero), and its correlation matrix follows from
weighted sums ``c @ (x_a * x_b)`` computed for all replicates in one matrix product.
:mod:`models.pls_algorithm` then runs the PLS algorithm on the whole stack of matrices
at once; :func:`run_bootstrap` drives it for a fit.

Mean replacement is part of the estimator, so it is redone inside each replicate (as
seminr does): the imputed value of a column is the mean of that replicate's observed
values, and its covariances follow in closed form from three weighted sums (see
:func:`replicate_correlations`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls_algorithm import Layout, PLSFit, Scheme, estimate, flatten, parameter_labels
from models.pls_data import PreparedData
from models.plsc import inadmissible

FloatArray = npt.NDArray[np.float64]

# Memory bounds, in float64 cells: the row-frequency matrix of one batch of replicates
# (batch x n, about 256 MB at most), the row indices drawn at once while it is filled
# (about 32 MB), and the products x_a * x_b of one chunk of rows (chunk x p^2, 16 MB).
# Every batch streams the products of all rows once, so on large samples few big batches
# beat many small ones: 200 resamples of 200,000 rows take 2 passes instead of 10.
# Small samples still get batches of 500.
_COUNT_CELLS = 32_000_000
_DRAW_CELLS = 4_000_000
_PRODUCT_CELLS = 2_000_000
_MAX_BATCH = 500


@dataclass(frozen=True)
class CenteredData:
    """Item values prepared for replicate moments.

    Observed values are centred at the full-sample observed means and missing cells are
    set to 0: the shift leaves every covariance unchanged but avoids the catastrophic
    cancellation of the one-pass formula ``sum(x^2) - n * mean^2`` on 1-10 scales.
    """

    values: FloatArray  # (n, p), 0 where missing
    missing: npt.NDArray[np.bool_] | None  # (n, p) True where missing; None if complete
    scale: FloatArray  # (p,) full-sample sd, the yardstick for "zero variance"

    @classmethod
    def from_array(cls, raw: FloatArray) -> CenteredData:
        missing = np.isnan(raw)
        centred = raw - np.nanmean(raw, axis=0)
        centred[missing] = 0.0
        scale = np.nanstd(raw, axis=0, ddof=1)
        return cls(centred, missing if missing.any() else None, scale)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @cached_property
    def whole_sums(self) -> tuple[FloatArray, ...]:
        """The sums of :func:`replicate_correlations` over every row once (one replicate)."""
        return tuple(part[0] for part in _replicate_sums(self, np.ones((1, self.n))))

    @cached_property
    def missing_rows(self) -> list[npt.NDArray[np.intp]]:
        """For each item, the rows where it is missing."""
        assert self.missing is not None
        return [np.flatnonzero(column) for column in self.missing.T]


def is_integer(value: object) -> bool:
    """A whole number, not a bool: ``n_boot=True`` is a mistake, not 1."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def generator(
    random_state: int | np.random.Generator | None,
) -> tuple[np.random.Generator, int | None]:
    """A local generator and the seed that reproduces it (None for a passed Generator).

    The one way every resampling (bootstrap, permutations, rescaled draws) turns a
    ``random_state`` into its stream, so that a seed recorded in a result reproduces it.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state, None
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif is_integer(random_state):
        seed = int(random_state)
    else:
        raise ValueError(
            f"random_state must be an int, a numpy Generator or None, got {random_state!r}"
        )
    return np.random.default_rng(seed), seed


def batch_size(n: int) -> int:
    """Replicates per batch for ``n`` rows (bounds the frequency matrix's memory)."""
    return max(1, min(_MAX_BATCH, _COUNT_CELLS // max(n, 1)))


def bootstrap_counts(rng: np.random.Generator, n: int, n_boot: int) -> npt.NDArray[np.float64]:
    """Row frequencies of ``n_boot`` resamples of ``n`` rows drawn with replacement.

    The row indices are drawn as ``rng.integers(0, n, size=n)`` per resample, in
    order, so a generator seeded like seminr's (``PCG64(seed)``) yields seminr's
    resamples exactly, and successive calls continue the same stream (batching does
    not change the resamples).
    """
    counts = np.empty((n_boot, n))
    step = max(1, _DRAW_CELLS // max(n, 1))
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        indices = rng.integers(0, n, size=(size, n), dtype=np.intp)
        indices += (np.arange(size, dtype=np.intp) * n)[:, None]
        counts[start : start + size] = np.bincount(
            indices.ravel(), minlength=size * n
        ).reshape(size, n)
    return counts


def bootstrap_batches(
    rng: np.random.Generator, n: int, n_boot: int
) -> Iterator[npt.NDArray[np.float64]]:
    """:func:`bootstrap_counts` for ``n_boot`` resamples, in memory-bounded batches."""
    size = batch_size(n)
    for start in range(0, n_boot, size):
        yield bootstrap_counts(rng, n, min(size, n_boot - start))


def jackknife_groups(n: int, max_groups: int = 1000) -> npt.NDArray[np.intp]:
    """Group label of each row: delete-one up to ``max_groups`` rows, delete-group above.

    Groups are contiguous runs of rows of near-equal size; grouping keeps the cost of
    the BCa acceleration bounded for large samples.
    """
    groups = min(n, max_groups)
    sizes = np.diff(np.linspace(0, n, groups + 1).round()).astype(np.intp)
    return np.repeat(np.arange(groups), sizes)


def jackknife_batches(n: int, max_groups: int = 1000) -> Iterator[npt.NDArray[np.float64]]:
    """Row frequencies of the jackknife replicates (1, or 0 for the deleted group)."""
    labels = jackknife_groups(n, max_groups)
    n_groups = int(labels[-1]) + 1
    size = batch_size(n)
    rows = np.arange(n)
    for start in range(0, n_groups, size):
        stop = min(start + size, n_groups)
        counts = np.ones((stop - start, n))
        inside = (labels >= start) & (labels < stop)
        counts[labels[inside] - start, rows[inside]] = 0.0
        yield counts


def replicate_correlations(
    data: CenteredData, counts: FloatArray, *, complement: bool = False
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Correlation matrices of the mean-imputed data under each row-frequency vector.

    Parameters
    ----------
    data : CenteredData
        Centred items with their missing-value mask.
    counts : ndarray of shape (k, n)
        Frequency of each row in each replicate.
    complement : bool
        Also return, after the k replicates, the k replicates of the rows left out
        (frequency ``1 - counts``): the other group of a split. Every sum is linear in
        the frequencies, so the complement's sums are the whole sample's minus the
        replicate's, at no further cost over the rows.

    Returns
    -------
    corr : ndarray of shape (k, p, p), or (2k, p, p) with ``complement``
        Correlation matrices (identity for failed replicates).
    ok : ndarray of shape (k,) or (2k,) of bool
        False where a replicate has a constant column or a column with no observed
        value; such replicates cannot be estimated and must be discarded.

    Notes
    -----
    With observed values ``x0`` (0 where missing), missing indicator ``m`` and the
    replicate's observed means ``mu = (c @ x0) / (c @ (1 - m))``, the imputed data are
    ``x = x0 + m * mu`` and

    .. math::

        \\sum_i c_i x_i x_i^T = X_0^T C X_0 + (X_0^T C M) \\circ 1\\mu^T
            + (\\ldots)^T + (M^T C M) \\circ \\mu\\mu^T,

    so the covariance is ``(sum c x x^T - N mu mu^T) / (N - 1)`` with ``N = sum c``
    (the n-1 sample covariance of the replicate, as seminr and SmartPLS standardise).
    """
    sums = _replicate_sums(data, counts)
    if complement:
        whole = data.whole_sums
        sums = tuple(np.concatenate([part, full[None] - part]) for part, full in
                     zip(sums, whole, strict=True))  # fmt: skip
    return _correlations_from_sums(data, *sums)


def _replicate_sums(data: CenteredData, counts: FloatArray) -> tuple[FloatArray, ...]:
    """The frequency-weighted sums every replicate moment is made of (all linear in c)."""
    x0, missing = data.values, data.missing
    total = counts.sum(axis=1)
    sum_x = counts @ x0
    cross = _weighted_products(counts, x0, x0)
    if missing is None:
        return total, sum_x, cross
    miss = missing.astype(np.float64)
    observed = counts @ miss
    x_m = _products_with_missing(counts, x0, data.missing_rows)  # sum c x0_a m_b
    m_m = _products_with_missing(counts, miss, data.missing_rows)
    return total, sum_x, cross, observed, x_m, m_m


def _correlations_from_sums(
    data: CenteredData, total, sum_x, cross, missing_count=None, x_m=None, m_m=None
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    p = sum_x.shape[1]
    if missing_count is None:
        observed = np.broadcast_to(total[:, None], sum_x.shape)
        mean = sum_x / total[:, None]
    else:
        observed = total[:, None] - missing_count
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sum_x / observed
        mean = np.where(observed > 0, mean, 0.0)
        cross = (
            cross
            + x_m * mean[:, None, :]
            + np.swapaxes(x_m * mean[:, None, :], 1, 2)
            + m_m * (mean[:, :, None] * mean[:, None, :])
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (cross - total[:, None, None] * mean[:, :, None] * mean[:, None, :]) / (
            total - 1.0
        )[:, None, None]
    var = np.diagonal(cov, axis1=1, axis2=2)
    # A resample that repeats one answer has variance ~1e-16 rather than 0 after
    # rounding: compare against the full-sample sd instead of testing equality.
    ok = np.all(var > (1e-8 * data.scale) ** 2, axis=1) & np.all(observed > 0, axis=1)
    sd = np.sqrt(np.where(ok[:, None], var, 1.0))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    corr[~ok] = np.eye(p)
    idx = np.arange(p)
    corr[:, idx, idx] = 1.0
    return corr, ok


def _weighted_products(counts: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """``out[k, i, j] = sum_r counts[k, r] * a[r, i] * b[r, j]`` as chunked GEMMs.

    With ``a is b`` the result is symmetric, so only the pairs i <= j are multiplied
    (p(p+1)/2 columns instead of p²) and mirrored.
    """
    k, (n, p) = counts.shape[0], a.shape
    left, right = np.triu_indices(p) if a is b else np.indices((p, p)).reshape(2, -1)
    out = np.zeros((k, len(left)))
    chunk = max(1, _PRODUCT_CELLS // len(left))
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        out += counts[:, rows] @ (a[rows][:, left] * b[rows][:, right])
    full = np.empty((k, p, p))
    full[:, left, right] = out
    full[:, right, left] = out
    return full


def _products_with_missing(
    counts: FloatArray, a: FloatArray, missing_rows: list[npt.NDArray[np.intp]]
) -> FloatArray:
    """``out[k, i, j] = sum_r counts[k, r] * a[r, i] * missing[r, j]``.

    Only the rows where item j is missing contribute to column j, so the cost follows the
    number of missing cells (a few percent of a survey) instead of n·p².
    """
    out = np.zeros((counts.shape[0], a.shape[1], len(missing_rows)))
    for j, rows in enumerate(missing_rows):
        if rows.size:
            out[:, :, j] = counts[:, rows] @ a[rows]
    return out


def percentile_interval(draws: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Percentile interval per column (type-7 quantiles, as R's and seminr's default)."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return low, high


def bca_interval(
    draws: FloatArray, estimate: FloatArray, jackknife: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """Bias-corrected and accelerated (BCa) interval per column.

    Parameters
    ----------
    draws : ndarray of shape (B, P)
        Bootstrap replicates.
    estimate : ndarray of shape (P,)
        Full-sample estimates.
    jackknife : ndarray of shape (g, P)
        Jackknife (delete-one or delete-group) replicates.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    low, high : ndarray of shape (P,)
        NaN where the bias correction is undefined (every replicate on one side of the
        estimate).

    Notes
    -----
    Bias correction :math:`z_0 = \\Phi^{-1}(\\#\\{\\theta^*_b < \\hat\\theta\\} / B)`, ties
    counted one half. Acceleration from the jackknife,
    :math:`a = \\sum d_i^3 / (6 (\\sum d_i^2)^{3/2})` with
    :math:`d_i = \\bar\\theta_{(\\cdot)} - \\theta_{(i)}`. The bounds are the
    :math:`\\alpha_j = \\Phi(z_0 + (z_0 + z_j) / (1 - a (z_0 + z_j)))` quantiles of
    the draws, :math:`z_j = \\Phi^{-1}((1 \\mp \\text{level})/2)` (Efron, 1987).

    References
    ----------
    Efron, B. (1987). Better bootstrap confidence intervals. *Journal of the American
    Statistical Association*, 82(397), 171-185. doi:10.1080/01621459.1987.10478410
    """
    n_boot = draws.shape[0]
    below = (draws < estimate).sum(axis=0) + 0.5 * (draws == estimate).sum(axis=0)
    share = below / n_boot
    # Imported here: scipy.special costs a command-line fit 0.14 s, and only BCa needs it.
    from scipy.special import ndtr, ndtri

    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = ndtri(share)
        deviation = jackknife.mean(axis=0) - jackknife
        spread = (deviation**2).sum(axis=0)
        accel = np.where(spread > 0, (deviation**3).sum(axis=0) / (6.0 * spread**1.5), 0.0)
        bounds = []
        for z_tail in ndtri(np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])):
            shifted = z0 + z_tail
            bounds.append(ndtr(z0 + shifted / (1.0 - accel * shifted)))
    defined = np.isfinite(z0)
    low = _column_quantiles(draws, np.where(defined, bounds[0], 0.5))
    high = _column_quantiles(draws, np.where(defined, bounds[1], 0.5))
    return np.where(defined, low, np.nan), np.where(defined, high, np.nan)


def _column_quantiles(draws: FloatArray, probs: FloatArray) -> FloatArray:
    """Type-7 quantile of each column at its own probability (vectorised np.quantile)."""
    ordered = np.sort(draws, axis=0)
    position = probs * (ordered.shape[0] - 1)
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, ordered.shape[0] - 1)
    cols = np.arange(ordered.shape[1])
    frac = position - lower
    return ordered[lower, cols] * (1.0 - frac) + ordered[upper, cols] * frac


@dataclass(frozen=True, eq=False)
class PLSBootstrap:
    """Bootstrap replicates of a PLS fit and the intervals drawn from them.

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per successful resample; columns a MultiIndex ``(table, lhs, rhs)`` with
        table in ``{"paths", "loadings", "weights", "total", "r2"}``.
    jackknife : pandas.DataFrame
        Jackknife replicates (same columns), used for the BCa acceleration. Computed on
        first use: up to 1,000 delete-a-group fits cost more than the bootstrap itself on
        large samples (95 s of a 200-resample bootstrap on 200,000 rows), and percentile
        intervals never need them.
    estimates : pandas.Series
        Full-sample estimates, indexed like the columns of ``draws``.
    n_boot : int
        Resamples requested.
    n_failed : int
        Resamples discarded (a constant item in the resample, or a singular system).
    n_not_converged : int
        Kept resamples whose weights did not converge within ``max_iter``.
    seed : int or None
        Seed that reproduces the resamples (None when a Generator was passed).
    n_inadmissible : int
        Kept resamples whose PLSc correction was inadmissible (a rho_A above 1 or a
        corrected correlation beyond ±1); 0 for plain PLS.
    """

    draws: pd.DataFrame
    estimates: pd.Series
    n_boot: int
    n_failed: int
    n_not_converged: int
    seed: int | None
    n_inadmissible: int = 0
    replicate_jackknife: Callable[[], pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def jackknife(self) -> pd.DataFrame:
        if self.replicate_jackknife is None:
            raise ValueError("this bootstrap has no data to take jackknife replicates from")
        return self.replicate_jackknife()

    def se(self) -> pd.Series:
        """Bootstrap standard errors (sd of the draws, n-1 denominator)."""
        return self.draws.std(axis=0, ddof=1)

    def interval(self, kind: str = "percentile", level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals with columns ``ci_low`` and ``ci_high``.

        Parameters
        ----------
        kind : {"percentile", "bca"}
            Percentile (type-7 quantiles) or bias-corrected and accelerated.
        level : float
            Coverage, strictly between 0 and 1.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")
        draws = self.draws.to_numpy()
        if kind == "percentile":
            low, high = percentile_interval(draws, level)
        elif kind == "bca":
            low, high = bca_interval(
                draws, self.estimates.to_numpy(), self.jackknife.to_numpy(), level
            )
        else:
            raise ValueError(f"kind must be 'percentile' or 'bca', got {kind!r}")
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=self.draws.columns)


# --- running the estimator on the replicates ------------------------------------------


def run_bootstrap(
    data: PreparedData,
    layout: Layout,
    fit: PLSFit,
    scheme: Scheme,
    tol: float,
    max_iter: int,
    n_boot: int,
    random_state: int | np.random.Generator | None,
    consistent: bool = False,
) -> tuple[PLSBootstrap, list[ModelWarning]]:
    """Bootstrap a fit: resample rows, redo mean replacement and (PLSc) the correction.

    Resamples that cannot be estimated are discarded and counted; resamples that do not
    converge, or whose PLSc correction is inadmissible (a rho_A above 1 or a corrected
    correlation beyond ±1), are kept and counted, each with a coded warning.
    """
    rng, seed = generator(random_state)
    centred = CenteredData.from_array(data.raw)
    batches = bootstrap_batches(rng, centred.n, n_boot)
    settings = (layout, scheme, tol, max_iter, consistent)
    draws, converged, improper = _replicate(centred, batches, *settings)
    labels = pd.MultiIndex.from_tuples(parameter_labels(layout), names=["table", "lhs", "rhs"])

    def replicate_jackknife() -> pd.DataFrame:
        jack, _, _ = _replicate(centred, jackknife_batches(centred.n), *settings)
        return pd.DataFrame(jack[~np.isnan(jack).any(axis=1)], columns=labels)

    kept = ~np.isnan(draws).any(axis=1)
    result = PLSBootstrap(
        draws=pd.DataFrame(draws[kept], columns=labels),
        replicate_jackknife=replicate_jackknife,
        estimates=pd.Series(flatten(fit, layout)[0], index=labels),
        n_boot=n_boot,
        n_failed=int((~kept).sum()),
        n_not_converged=int((kept & ~converged).sum()),
        seed=seed,
        n_inadmissible=int((kept & improper).sum()),
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
    if result.n_inadmissible:
        warnings.append(
            ModelWarning(
                "bootstrap-plsc-inadmissible",
                f"{result.n_inadmissible} of {n_boot} bootstrap resamples have a rho_A above 1 "
                "or a PLSc-corrected correlation beyond ±1; they are kept, so intervals may "
                "reach beyond ±1.",
                "warning",
            )
        )
    if len(result.draws) < 2:
        raise ValueError("fewer than 2 bootstrap resamples could be estimated")
    return result, warnings


def _replicate(
    centred: CenteredData,
    batches: Iterable[FloatArray],
    layout: Layout,
    scheme: Scheme,
    tol: float,
    max_iter: int,
    consistent: bool,
) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Statistics (k, P) of each frequency-weighted replicate; NaN rows for failures.

    Also returns, per replicate, whether it converged and whether its PLSc correction
    was inadmissible.
    """
    draws, converged, improper = [], [], []
    for counts in batches:
        corr, ok = replicate_correlations(centred, counts)
        fit = estimate(corr, layout, scheme, tol, max_iter, consistent)
        flat = flatten(fit, layout)
        flat[~(ok & fit.ok)] = np.nan
        draws.append(flat)
        converged.append(fit.converged)
        improper.append(inadmissible(fit.rho_a, fit.construct_corr))
    return np.concatenate(draws), np.concatenate(converged), np.concatenate(improper)
