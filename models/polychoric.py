"""Thresholds, polychoric correlations and their asymptotic covariance, as lavaan's WLSMV.

An ordered item (a 1-5 rating) is read as a cut continuous response ``y*`` ~ N(0, 1):
``y = c`` when ``τ_c < y* ≤ τ_{c+1}``. Each item's thresholds come from its cumulative
proportions, each pair's polychoric correlation is the ρ of the bivariate normal that best
reproduces the pair's contingency table with the thresholds held fixed (the two-step
estimator of Olsson 1979), and the asymptotic covariance of (thresholds, correlations) is
estimated from every row's scores (Muthén 1984; Muthén, du Toit & Spisic 1997). These are
the sample statistics, the DWLS weights and the ``Γ`` of lavaan's ``estimator = "WLSMV"``
(``lavInspect(fit, "sampstat")`` and ``lavInspect(fit, "gamma")``).

Everything works from the pairs' contingency tables, all pairs at once: the bivariate
normal probabilities of every cell of every table are one vectorised call, and a row's
score is a look-up of its cell. The cost is O(N p²) for the scores and O(p² K²) per
iteration of the correlations, so 29 items and 5,000 rows take well under a second.

Validated against lavaan 0.6-14 (``tests/reference/lavaan_wlsmv.R``).

References
----------
Olsson, U. (1979). Maximum likelihood estimation of the polychoric correlation coefficient.
*Psychometrika*, 44(4), 443-460. doi:10.1007/BF02296207

Muthén, B. (1984). A general structural equation model with dichotomous, ordered
categorical, and continuous latent variable indicators. *Psychometrika*, 49(1), 115-132.
doi:10.1007/BF02294210

Muthén, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using weighted least
squares and quadratic estimating equations in latent variable modeling with categorical and
continuous outcomes. Unpublished technical report, https://www.statmodel.com/download/Article_075.pdf

Owen, D. B. (1956). Tables for computing bivariate normal probabilities. *The Annals of
Mathematical Statistics*, 27(4), 1075-1090. doi:10.1214/aoms/1177728074
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "OrdinalMoments",
    "asymptotic_covariance",
    "bivariate_normal_cdf",
    "bivariate_normal_pdf",
    "ordinal_moments",
    "PerfectAssociation",
    "polychoric_correlations",
    "thresholds",
]

# lavaan bounds ρ to ±0.999 while it searches (lav_bvord_cor_twostep_fit).
_RHO_BOUND = 0.999
_MAX_ITERATIONS = 100
_RHO_TOLERANCE = 1e-11
# Rows per block when scores are accumulated: the N × pairs score matrix of 200,000 rows
# and 29 items would take 650 MB at once.
_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class OrdinalMoments:
    """The sample statistics of ordered items that WLSMV fits.

    Attributes
    ----------
    thresholds : tuple of ndarray
        Per item, its K − 1 thresholds in increasing order.
    correlation : ndarray of shape (p, p)
        The polychoric correlation matrix.
    nacov : ndarray
        lavaan's ``NACOV`` (``lavInspect(fit, "gamma")``): N times the asymptotic covariance
        matrix of the thresholds (item by item) followed by the correlations in the order of
        :func:`pairs` (lavaan's ``vech(R, diagonal = FALSE)``).
    n_obs : int
    """

    thresholds: tuple[np.ndarray, ...]
    correlation: np.ndarray
    nacov: np.ndarray
    n_obs: int

    @property
    def n_thresholds(self) -> int:
        return sum(len(t) for t in self.thresholds)


def pairs(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Item pairs (i, j), i < j, in lavaan's order: (0, 1), (0, 2), ..., (1, 2), ..."""
    return np.triu_indices(p, 1)


def ordinal_moments(codes: np.ndarray, n_categories: np.ndarray | list[int]) -> OrdinalMoments:
    """Thresholds, polychoric correlations and ``NACOV`` of ordered items.

    Parameters
    ----------
    codes : ndarray of int, shape (N, p)
        Each row's category of each item, 0 to K_j − 1, without missing values.
    n_categories : sequence of int
        K_j, the number of categories of each item (at least 2, each observed).

    Returns
    -------
    OrdinalMoments

    See Also
    --------
    thresholds, polychoric_correlations, asymptotic_covariance
    """
    codes = np.asarray(codes, dtype=np.intp)
    k = np.asarray(n_categories, dtype=np.intp)
    tau = thresholds(codes, k)
    correlation = polychoric_correlations(codes, k, tau)
    nacov = asymptotic_covariance(codes, k, tau, correlation)
    return OrdinalMoments(tuple(tau), correlation, nacov, len(codes))


def thresholds(codes: np.ndarray, n_categories: np.ndarray) -> list[np.ndarray]:
    """Each item's thresholds, ``τ_c = Φ⁻¹(P(y ≤ c))``.

    Notes
    -----
    This is the ML estimate of a univariate probit without covariates, which lavaan finds
    by optimisation (``lav_uvord_fit``); the closed form agrees with it to about 1e-9.
    """
    n = len(codes)
    out = []
    for j, k in enumerate(n_categories):
        counts = np.bincount(codes[:, j], minlength=k)
        out.append(special.ndtri(np.cumsum(counts)[:-1] / n))
    return out


def bivariate_normal_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``P(X ≤ h, Y ≤ k)`` for standard bivariate normal (X, Y) with correlation ρ.

    Vectorised over broadcast arrays; ±inf bounds are allowed.

    Notes
    -----
    Owen's (1956) formula, with ``T`` Owen's T function (scipy's ``owens_t``, accurate to
    about 1e-16):
    ``Φ₂(h, k; ρ) = ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β``, where
    ``a_h = (k − ρh) / (h√(1 − ρ²))``, ``a_k = (h − ρk) / (k√(1 − ρ²))`` and β is ½ when
    h and k have opposite signs (or one is 0 and h + k < 0), else 0. At h = k = 0 it is
    ``¼ + asin(ρ)/(2π)``. This costs one C call for millions of points, where scipy's
    ``multivariate_normal.cdf`` integrates point by point.
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, rho)))
    root = np.sqrt((1.0 - rho) * (1.0 + rho))
    finite = np.isfinite(h) & np.isfinite(k)
    hf, kf = np.where(finite, h, 0.5), np.where(finite, k, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        # h = 0 gives a_h = ±inf, where T(0, ±inf) = ±¼ is right; only h = k = 0 is 0/0.
        a_h = (kf - rho * hf) / (hf * root)
        a_k = (hf - rho * kf) / (kf * root)
    origin = (hf == 0.0) & (kf == 0.0)
    a_h, a_k = np.where(origin, 0.0, a_h), np.where(origin, 0.0, a_k)
    beta = np.where((hf * kf > 0) | ((hf * kf == 0) & (hf + kf >= 0)), 0.0, 0.5)
    value = (
        0.5 * special.ndtr(hf) + 0.5 * special.ndtr(kf)
        - special.owens_t(hf, a_h) - special.owens_t(kf, a_k) - beta
    )  # fmt: skip
    value = np.where(origin, 0.25 + np.arcsin(rho) / (2.0 * np.pi), value)
    # Infinite bounds: one margin, or nothing.
    value = np.where(finite, value, 0.0)
    value = np.where(
        np.isposinf(h) & np.isfinite(k), special.ndtr(np.where(np.isfinite(k), k, 0)), value
    )
    value = np.where(
        np.isposinf(k) & np.isfinite(h), special.ndtr(np.where(np.isfinite(h), h, 0)), value
    )
    value = np.where(np.isposinf(h) & np.isposinf(k), 1.0, value)
    value = np.where(np.isneginf(h) | np.isneginf(k), 0.0, value)
    return np.clip(value, 0.0, 1.0)


def bivariate_normal_pdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The standard bivariate normal density, 0 where a bound is infinite
    (``∂Φ₂/∂ρ = φ₂``, which is why the correlations' scores need it)."""
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, rho)))
    finite = np.isfinite(h) & np.isfinite(k)
    hf, kf = np.where(finite, h, 0.0), np.where(finite, k, 0.0)
    r2 = (1.0 - rho) * (1.0 + rho)
    density = np.exp(-(hf * hf - 2.0 * rho * hf * kf + kf * kf) / (2.0 * r2)) / (
        2.0 * np.pi * np.sqrt(r2)
    )
    return np.where(finite, density, 0.0)


# --- the pairs' tables -----------------------------------------------------------------


def _padded(tau: list[np.ndarray], width: int) -> np.ndarray:
    """Every item's cut points ``[−inf, τ_1, ..., τ_{K−1}, +inf, +inf, ...]``, padded to
    ``width + 1`` with +inf: the padded categories then have probability 0 exactly."""
    out = np.full((len(tau), width + 1), np.inf)
    out[:, 0] = -np.inf
    for j, t in enumerate(tau):
        out[j, 1 : len(t) + 1] = t
    return out


def _blocks(n: int, width: int):
    step = max(1, _BLOCK_CELLS // max(width, 1))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _tables(codes: np.ndarray, width: int) -> np.ndarray:
    """The contingency table of every pair, (pairs, width, width)."""
    p = codes.shape[1]
    first, second = pairs(p)
    size = width * width
    offset = np.arange(len(first)) * size
    counts = np.zeros(len(first) * size)
    for rows in _blocks(len(codes), len(first)):
        block = codes[rows]
        cells = offset + block[:, first] * width + block[:, second]
        counts += np.bincount(cells.ravel(), minlength=len(counts))
    return counts.reshape(len(first), width, width)


def _cells(cuts_1: np.ndarray, cuts_2: np.ndarray, rho: np.ndarray):
    """Cell probabilities π and their derivatives ∂π/∂ρ of every pair's table.

    ``cuts_*`` are (pairs, width + 1), rho is (pairs,). Each cell is a rectangle, so its
    probability is four corners of Φ₂ and its derivative four corners of φ₂.
    """
    h = cuts_1[:, :, None]
    k = cuts_2[:, None, :]
    r = rho[:, None, None]
    corners = bivariate_normal_cdf(h, k, r)
    slopes = bivariate_normal_pdf(h, k, r)

    def rectangles(c: np.ndarray) -> np.ndarray:
        return c[:, 1:, 1:] - c[:, :-1, 1:] - c[:, 1:, :-1] + c[:, :-1, :-1]

    return np.clip(rectangles(corners), 0.0, None), rectangles(slopes)


class PerfectAssociation(ValueError):
    """Two two-category items whose 2 × 2 table has two empty cells: one predicts the other
    exactly, a polychoric correlation of ±1 that no model can carry."""

    def __init__(self, first: int, second: int) -> None:
        self.first, self.second = first, second
        super().__init__(f"items {first} and {second} determine each other")


# lavaan's zero.add for 2 × 2 tables (its default c(0.5, 0.0): nothing for larger tables).
_ZERO_ADD = 0.5


def _add_to_empty_cells(counts, n_categories, first, second) -> None:
    """lavaan's correction of 2 × 2 tables with an empty cell, in place (see the caller)."""
    k = np.asarray(n_categories)
    binary = np.flatnonzero((k[first] == 2) & (k[second] == 2))
    if not binary.size:
        return
    tables = counts[binary, :2, :2]
    empty = (tables == 0).sum(axis=(1, 2))
    if np.any(empty >= 2):
        pair = binary[np.flatnonzero(empty >= 2)[0]]
        raise PerfectAssociation(int(first[pair]), int(second[pair]))
    one = binary[empty == 1]
    tables = counts[one, :2, :2]
    on_diagonal = (tables[:, 0, 0] == 0) | (tables[:, 1, 1] == 0)
    sign = np.where(on_diagonal, 1.0, -1.0)
    counts[one, 0, 0] += sign * _ZERO_ADD
    counts[one, 1, 1] += sign * _ZERO_ADD
    counts[one, 0, 1] -= sign * _ZERO_ADD
    counts[one, 1, 0] -= sign * _ZERO_ADD


def polychoric_correlations(
    codes: np.ndarray, n_categories: np.ndarray, tau: list[np.ndarray]
) -> np.ndarray:
    """Two-step ML polychoric correlations, the thresholds held at ``tau``.

    Parameters
    ----------
    codes : ndarray of int, shape (N, p)
    n_categories : ndarray of int, shape (p,)
    tau : list of ndarray
        Each item's thresholds (:func:`thresholds`).

    Returns
    -------
    ndarray of shape (p, p)
        The correlation matrix (it need not be positive definite).

    Notes
    -----
    For each pair the log-likelihood ``ℓ(ρ) = Σ_ab n_ab log π_ab(ρ)`` is maximised by
    Fisher scoring, all pairs at once: ``ρ ← ρ + ℓ'(ρ) / I(ρ)`` with
    ``ℓ' = Σ n_ab π'_ab / π_ab`` and ``I = N Σ π'_ab² / π_ab`` (Olsson 1979), starting from
    the Pearson correlation of the codes as lavaan does, inside lavaan's bounds ±0.999.
    As lavaan (``zero.add = c(0.5, 0)``, ``zero.keep.margins = TRUE``), a 2 × 2 table with
    one empty cell gets 0.5 added to that cell's diagonal and taken from the other one, so
    that the margins (and the thresholds) stay as they are; larger tables are used as they
    are. A 2 × 2 table with two empty cells means a correlation of ±1, which lavaan
    reports with a warning; it is refused here (:class:`PerfectAssociation`).
    """
    n, p = codes.shape
    width = int(np.max(n_categories))
    first, second = pairs(p)
    counts = _tables(codes, width)
    _add_to_empty_cells(counts, n_categories, first, second)
    cuts = _padded(tau, width)
    cuts_1, cuts_2 = cuts[first], cuts[second]
    with np.errstate(invalid="ignore", divide="ignore"):
        start = np.corrcoef(codes, rowvar=False)[first, second]
    rho = np.clip(np.nan_to_num(start), -0.9, 0.9)
    active = np.ones(len(rho), dtype=bool)
    for _ in range(_MAX_ITERATIONS):
        prob, slope = _cells(cuts_1[active], cuts_2[active], rho[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(prob > 0, slope / prob, 0.0)
        score = np.sum(counts[active] * ratio, axis=(1, 2))
        information = n * np.sum(slope * ratio, axis=(1, 2))
        step = score / information
        updated = np.clip(rho[active] + step, -_RHO_BOUND, _RHO_BOUND)
        moved = np.abs(updated - rho[active])
        rho[active] = updated
        active[np.flatnonzero(active)[moved < _RHO_TOLERANCE]] = False
        if not active.any():
            break
    correlation = np.eye(p)
    correlation[first, second] = correlation[second, first] = rho
    return correlation


def asymptotic_covariance(
    codes: np.ndarray, n_categories: np.ndarray, tau: list[np.ndarray], correlation: np.ndarray
) -> np.ndarray:
    """lavaan's ``NACOV`` of (thresholds, polychoric correlations), from casewise scores.

    Parameters
    ----------
    codes : ndarray of int, shape (N, p)
    n_categories : ndarray of int, shape (p,)
    tau : list of ndarray
    correlation : ndarray of shape (p, p)

    Returns
    -------
    ndarray
        N × the asymptotic covariance, thresholds first (item by item), then the
        correlations in :func:`pairs` order.

    Notes
    -----
    The estimates solve stacked estimating equations, the thresholds' univariate scores
    ``s_τ`` and, given them, the correlations' bivariate scores ``s_ρ``. With
    ``A₁₁ = Σ s_τ s_τ'`` (block diagonal by item), ``A₂₁ = Σ s_ρ ∂ℓ_ρ/∂τ'`` and
    ``A₂₂ = diag Σ s_ρ²`` (outer products standing in for the Hessians, as lavaan's
    ``muthen1984`` does), a row's influence is ``A₁₁⁻¹ s_τ`` on the thresholds and
    ``A₂₂⁻¹ (s_ρ − A₂₁ A₁₁⁻¹ s_τ)`` on the correlations, and ``NACOV = N Σ ψ ψ'`` over
    rows ψ of influences (Muthén 1984; Muthén, du Toit & Spisic 1997).
    """
    n, p = codes.shape
    k = np.asarray(n_categories, dtype=np.intp)
    width = int(np.max(k))
    first, second = pairs(p)
    n_pairs = len(first)
    starts = np.concatenate([[0], np.cumsum(k - 1)])
    n_th = int(starts[-1])
    cuts = _padded(tau, width)

    # Univariate scores, a (category, threshold) table per item: threshold t bounds
    # category t from above and category t + 1 from below.
    uni = np.zeros((p, width, width - 1))
    for j in range(p):
        tj = tau[j]
        pi = np.diff(special.ndtr(cuts[j, : k[j] + 1]))
        dens = np.exp(-0.5 * tj * tj) / np.sqrt(2.0 * np.pi)
        t = np.arange(k[j] - 1)
        uni[j, t, t] = dens / pi[t]
        uni[j, t + 1, t] = -dens / pi[t + 1]

    # Bivariate scores: per pair, a (cell) table for ρ and (cell, threshold) tables for τ.
    rho = correlation[first, second]
    cuts_1, cuts_2 = cuts[first], cuts[second]
    prob, slope = _cells(cuts_1, cuts_2, rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        score_rho = np.where(prob > 0, slope / prob, 0.0)  # (pairs, a, b)
    counts = _tables(codes, width)
    a22 = np.sum(counts * score_rho**2, axis=(1, 2))
    weighted = np.where(prob > 0, counts * score_rho / np.where(prob > 0, prob, 1.0), 0.0)
    a21 = np.zeros((n_pairs, n_th))
    root = np.sqrt((1.0 - rho) * (1.0 + rho))[:, None, None]
    for cuts_own, cuts_other, owner, table in (
        (cuts_1, cuts_2, first, weighted),
        (cuts_2, cuts_1, second, weighted.transpose(0, 2, 1)),
    ):
        # ∂P(y*_own ≤ τ_t, y_other = b)/∂τ_t = φ(τ_t) [Φ((c_{b+1} − ρτ_t)/R) − Φ((c_b − ρτ_t)/R)]
        inner = cuts_own[:, 1:width]  # (pairs, width − 1), padded with +inf
        finite = np.isfinite(inner)
        t_ = np.where(finite, inner, 0.0)[:, :, None]
        upper = special.ndtr((cuts_other[:, None, 1:] - rho[:, None, None] * t_) / root)
        lower = special.ndtr((cuts_other[:, None, :-1] - rho[:, None, None] * t_) / root)
        margin = np.where(finite[:, :, None], np.exp(-0.5 * t_ * t_) / np.sqrt(2 * np.pi), 0.0)
        m = margin * (upper - lower)  # (pairs, threshold t, other's category b)
        # Row a of the table raises ℓ through threshold a (its upper bound) and lowers it
        # through threshold a − 1 (its lower bound).
        contribution = np.sum(m * (table[:, :-1, :] - table[:, 1:, :]), axis=2)
        for item in range(p):
            mine = owner == item
            columns = starts[item] + np.arange(k[item] - 1)
            a21[np.ix_(np.flatnonzero(mine), columns)] = contribution[mine, : k[item] - 1]

    # A₁₁ is block diagonal: each item's thresholds only meet its own scores.
    a11_inverse = np.zeros((n_th, n_th))
    for j in range(p):
        counts_j = np.bincount(codes[:, j], minlength=k[j]).astype(float)
        s = uni[j, : k[j], : k[j] - 1]
        block = s.T @ (counts_j[:, None] * s)
        cols = slice(starts[j], starts[j + 1])
        a11_inverse[cols, cols] = np.linalg.inv(block)
    correction = a21 @ a11_inverse  # (pairs, n_th)

    size = n_th + n_pairs
    product = np.zeros((size, size))
    item_of_th = np.repeat(np.arange(p), k - 1)
    local_th = np.concatenate([np.arange(kj - 1) for kj in k])
    flat_rho = score_rho.reshape(n_pairs, -1)
    for rows in _blocks(n, size):
        block = codes[rows]
        s_th = uni[item_of_th, block[:, item_of_th], local_th]  # (rows, n_th)
        s_rho = flat_rho[np.arange(n_pairs), block[:, first] * width + block[:, second]]
        influence_th = s_th @ a11_inverse
        influence_rho = (s_rho - s_th @ correction.T) / a22
        influence = np.hstack([influence_th, influence_rho])
        product += influence.T @ influence
    return n * product
