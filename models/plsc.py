"""Consistent PLS (PLSc): the reliability correction of Dijkstra & Henseler (2015).

Plain PLS estimates the paths between *composites*, weighted sums of items that carry
their items' measurement error; under a common-factor (reflective) model they are
biased towards zero and the loadings are biased upwards. PLSc keeps the PLS weights and
corrects everything else with the reliability rho_A of each reflective composite.

The functions work on stacks of correlation matrices, like :mod:`models.pls_algorithm`,
so the bootstrap corrects every resample with that resample's own rho_A.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from models.diagnostics import ModelWarning

__all__ = [
    "admissibility_warnings",
    "corrected_correlations",
    "corrected_loadings",
    "inadmissible",
    "rho_a",
]

FloatArray = npt.NDArray[np.float64]


def rho_a(corr: FloatArray, weights: FloatArray, reflective: npt.NDArray[np.bool_]) -> FloatArray:
    """Dijkstra-Henseler's rho_A of every construct, for a stack of fits.

    Parameters
    ----------
    corr : ndarray of shape (k, p, p)
        Item correlation matrices.
    weights : ndarray of shape (k, p, C)
        Outer weights, zero outside each construct's block.
    reflective : ndarray of shape (C,) of bool
        Constructs to correct: mode A blocks of two or more items.

    Returns
    -------
    ndarray of shape (k, C)
        rho_A, and exactly 1 for the other constructs (mode B composites and single
        items, which PLSc treats as measured without error, as seminr and SmartPLS).

    Notes
    -----
    With :math:`w` the block's weights and :math:`S` its items' correlations,

    .. math:: \\hat c^2 = \\frac{w'(S - \\operatorname{diag} S)w}
                               {w'(ww' - \\operatorname{diag} ww')w}
                        = \\frac{w'Sw - w'w}{(w'w)^2 - \\sum_i w_i^4},
              \\qquad \\rho_A = (w'w)^2 \\, \\hat c^2,

    the formula of seminr's ``rho_A`` and :func:`models.reliability.rho_a` (with
    :math:`w'Sw = 1` for PLS weights; here :math:`w'Sw` is computed, not assumed).
    """
    w_s_w = np.einsum("kpc,kpc->kc", corr @ weights, weights)
    w_w = (weights**2).sum(axis=1)
    w_4 = (weights**4).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = w_w**2 * (w_s_w - w_w) / (w_w**2 - w_4)
    return np.where(reflective, value, 1.0)


def corrected_correlations(construct_corr: FloatArray, rho: FloatArray) -> FloatArray:
    """Construct correlations disattenuated for unreliability.

    :math:`r^c_{ij} = r_{ij} / \\sqrt{\\rho_{A,i} \\rho_{A,j}}` off the diagonal, 1 on
    it. A non-positive rho_A gives NaN (no correction is possible); a corrected value
    beyond ±1 is kept and flagged by the caller.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.where(rho > 0, rho, np.nan))
        out = construct_corr / (root[:, :, None] * root[:, None, :])
    idx = np.arange(out.shape[-1])
    out[:, idx, idx] = 1.0
    return out


def corrected_loadings(
    loadings: FloatArray,
    weights: FloatArray,
    rho: FloatArray,
    reflective: npt.NDArray[np.bool_],
) -> FloatArray:
    """PLSc loadings :math:`\\hat\\lambda = \\hat c\\, w = w \\sqrt{\\rho_A} / (w'w)`.

    Dijkstra & Henseler's consistent loading estimate: the weights rescaled by
    :math:`\\hat c` of :func:`rho_a`. Applied to the ``reflective`` constructs only; the
    others keep their PLS loadings (for a single item both are 1).
    """
    w_w = (weights**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.sqrt(np.where(rho > 0, rho, np.nan)) / w_w
    return np.where(reflective, weights * factor[:, None, :], loadings)


def inadmissible(rho: FloatArray, corrected: FloatArray) -> npt.NDArray[np.bool_]:
    """(k,) True where a rho_A exceeds 1 or a corrected correlation lies beyond ±1."""
    off = ~np.eye(corrected.shape[-1], dtype=bool)
    beyond = (np.abs(corrected) > 1.0) & off
    return (rho > 1.0).any(axis=1) | beyond.any(axis=(1, 2))


def admissibility_warnings(
    constructs: tuple[str, ...],
    reflective: npt.NDArray[np.bool_],
    rho: FloatArray,
    corrected: FloatArray,
) -> list[ModelWarning]:
    """Coded warnings for one PLSc fit (``rho`` (C,), ``corrected`` (C, C)).

    ``plsc-rho-a-out-of-range`` when a reflective construct's rho_A is not in (0, 1]
    (no reliability; its correction is meaningless), ``plsc-correlation-beyond-one``
    when a disattenuated construct correlation exceeds 1 in absolute value (no
    correlation matrix has it). Both make the solution improper (severity ``error``),
    like a Heywood case in covariance-based SEM.
    """
    found = []
    for j in np.flatnonzero(reflective & ~((rho > 0.0) & (rho <= 1.0))):
        found.append(
            ModelWarning(
                "plsc-rho-a-out-of-range",
                f"rho_A of {constructs[j]} is {rho[j]:.4g}, outside (0, 1]: its items do not "
                "behave as reflective measures of one factor, so the PLSc correction is "
                "inadmissible. Check the block (negative or tiny loadings) or estimate it "
                "as a composite (consistent=False or <~).",
                "error",
                constructs[j],
            )
        )
    rows, cols = np.nonzero(np.triu(np.abs(corrected) > 1.0, k=1))
    for i, j in zip(rows, cols, strict=True):
        found.append(
            ModelWarning(
                "plsc-correlation-beyond-one",
                f"the PLSc-corrected correlation of {constructs[i]} and {constructs[j]} is "
                f"{corrected[i, j]:.3f}, beyond ±1: an improper solution, usually from "
                "constructs that are not distinct or an unreliable block.",
                "error",
                f"{constructs[i]} ~~ {constructs[j]}",
            )
        )
    return found
