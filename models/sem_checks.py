"""Checks that keep an improper or non-converged SEM solution from passing as sound.

Each check takes plain numbers (a parameter table, matrices, optimizer status) and returns
a list of :class:`models.diagnostics.ModelWarning`. Codes are stable API:

``not-converged`` (error)
    The optimizer stopped without reporting success.
``under-identified`` (error)
    Negative degrees of freedom, or an information matrix that is singular (a parameter
    the data cannot pin down), or standard errors that are not finite.
``heywood-case`` (error)
    A variance estimate below zero.
``std-beyond-one`` (error for loadings and correlations, warning for regressions)
    A completely standardized coefficient outside [−1, 1]. For a regression this can be
    a legitimate suppression effect; for a loading or a correlation it cannot.
``latent-cov-not-pd`` (error)
    The model-implied covariance matrix of the latent variables is not positive
    definite (e.g. a latent correlation above 1).
``residual-cov-not-pd`` (warning)
    The residual covariance matrix of the observed variables is not positive definite.
``listwise-deletion`` (info)
    Rows with missing values were dropped before an estimator that needs complete rows.
``no-test-statistic`` (info)
    The estimator has no normal-theory chi-square (ULS), so chi-square-based indices are
    not reported.
``few-categories`` (warning)
    Items with seven or fewer answer categories (ratings) fitted as continuous, normal
    data by a normal-theory estimator: their standard errors and chi-square are too
    optimistic. MLR corrects both; WLSMV treats them as ordered categories (Rhemtulla,
    Brosseau-Liard & Savalei 2012).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.diagnostics import ModelWarning

# An information matrix rescaled to unit diagonal whose smallest eigenvalue falls below
# this is numerically singular: a parameter is (almost) a combination of the others.
_SINGULAR_EIGENVALUE = 1e-9
# Tolerance for "negative" and "beyond one", so values at the bound by rounding pass.
_TOLERANCE = 1e-8


def check_convergence(success: bool, message: str, iterations: float) -> list[ModelWarning]:
    """``not-converged`` when the optimizer did not report success."""
    if success:
        return []
    return [
        ModelWarning(
            code="not-converged",
            message=(
                f"The optimizer stopped after {iterations} iterations without converging "
                f"({message}). Estimates and fit measures are not a solution; check the "
                "model's identification, rescale variables or raise max_iter."
            ),
            severity="error",
        )
    ]


def check_identification(
    df: int, information: np.ndarray | None, names: list[str], se: np.ndarray
) -> list[ModelWarning]:
    """``under-identified`` for df < 0, a singular information matrix or non-finite SEs.

    Parameters
    ----------
    df : int
        Model degrees of freedom.
    information : ndarray of shape (q, q) or None
        Information matrix of the free parameters (None when it could not be computed).
    names : list of str
        Labels of the free parameters, in the order of ``information`` and ``se``.
    se : ndarray of shape (q,)
        Standard errors of the free parameters.
    """
    found = []
    if df < 0:
        found.append(
            ModelWarning(
                code="under-identified",
                message=(
                    f"The model has {-df} more free parameters than the data have "
                    "variances and covariances (df < 0); fix parameters or add indicators."
                ),
                severity="error",
            )
        )
        return found
    subject = _weakest_parameter(information, names)
    if subject is not None:
        found.append(
            ModelWarning(
                code="under-identified",
                message=(
                    "The information matrix is singular: the data cannot separate "
                    f"parameter {subject} from the others (empirical under-identification, "
                    "e.g. a factor with two indicators and no correlation with others)."
                ),
                severity="error",
                subject=subject,
            )
        )
    elif not np.all(np.isfinite(se)):
        bad = [n for n, s in zip(names, se, strict=True) if not np.isfinite(s)]
        found.append(
            ModelWarning(
                code="under-identified",
                message=f"Standard errors are not finite for {', '.join(bad)}.",
                severity="error",
                subject=bad[0],
            )
        )
    return found


def _weakest_parameter(information: np.ndarray | None, names: list[str]) -> str | None:
    """Name of the parameter most involved in a singular information matrix, or None."""
    if information is None:
        return names[0] if names else "model"
    diag = np.diag(information)
    if not np.all(np.isfinite(information)) or np.any(diag <= 0):
        bad = np.flatnonzero(~(diag > 0))
        return names[bad[0]] if bad.size else names[0]
    scale = 1.0 / np.sqrt(diag)
    eigenvalues, eigenvectors = np.linalg.eigh(information * np.outer(scale, scale))
    if eigenvalues[0] >= _SINGULAR_EIGENVALUE:
        return None
    return names[int(np.argmax(np.abs(eigenvectors[:, 0])))]


def check_variances(estimates: pd.DataFrame) -> list[ModelWarning]:
    """``heywood-case`` for every variance estimate below zero."""
    variances = estimates[(estimates["op"] == "~~") & (estimates["lhs"] == estimates["rhs"])]
    negative = variances[variances["estimate"] < -_TOLERANCE]
    return [
        ModelWarning(
            code="heywood-case",
            message=(
                f"The variance of {row.lhs} is negative ({row.estimate:.4g}): an improper "
                "solution (Heywood case), often from a factor with two indicators, a "
                "near-perfect correlation or a small sample."
            ),
            severity="error",
            subject=f"{row.lhs} ~~ {row.rhs}",
        )
        for row in negative.itertuples()
    ]


def check_standardized(estimates: pd.DataFrame) -> list[ModelWarning]:
    """``std-beyond-one`` for standardized loadings, correlations or paths outside ±1."""
    found = []
    is_variance = (estimates["op"] == "~~") & (estimates["lhs"] == estimates["rhs"])
    beyond = estimates[
        ~is_variance
        & estimates["op"].isin(["=~", "~", "~~"])
        & (estimates["std_estimate"].abs() > 1.0 + _TOLERANCE)
    ]
    for row in beyond.itertuples():
        impossible = row.op != "~"
        kind = {"=~": "loading", "~": "regression coefficient", "~~": "correlation"}[row.op]
        found.append(
            ModelWarning(
                code="std-beyond-one",
                message=(
                    f"The standardized {kind} {row.lhs} {row.op} {row.rhs} is "
                    f"{row.std_estimate:.3f}, beyond ±1"
                    + (
                        ": an improper solution."
                        if impossible
                        else "; check for suppression or collinear predictors."
                    )
                ),
                severity="error" if impossible else "warning",
                subject=f"{row.lhs} {row.op} {row.rhs}",
            )
        )
    return found


def check_positive_definite(
    matrix: np.ndarray, names: list[str], *, latent: bool
) -> list[ModelWarning]:
    """``latent-cov-not-pd`` (error) or ``residual-cov-not-pd`` (warning)."""
    if matrix.size == 0:
        return []
    scale = np.sqrt(np.clip(np.abs(np.diag(matrix)), 1e-300, None))
    smallest = float(np.linalg.eigvalsh(matrix / np.outer(scale, scale))[0])
    if smallest >= -_TOLERANCE:
        return []
    which = "latent variables" if latent else "residuals of the observed variables"
    return [
        ModelWarning(
            code="latent-cov-not-pd" if latent else "residual-cov-not-pd",
            message=(
                f"The covariance matrix of the {which} ({', '.join(names)}) is not "
                f"positive definite (smallest scaled eigenvalue {smallest:.3g})"
                + (
                    ", e.g. a latent correlation beyond ±1: the constructs may not be distinct."
                    if latent
                    else "."
                )
            ),
            severity="error" if latent else "warning",
        )
    ]


#: Items with this many answer categories or fewer are ordinal ratings, not continuous.
FEW_CATEGORIES = 7


def check_categories(data: pd.DataFrame, columns: list[str]) -> list[ModelWarning]:
    """``few-categories`` naming the items with at most :data:`FEW_CATEGORIES` values."""
    few = [c for c in columns if data[c].nunique(dropna=True) <= FEW_CATEGORIES]
    if not few:
        return []
    return [
        ModelWarning(
            "few-categories",
            f"{', '.join(few)} have {FEW_CATEGORIES} or fewer answer categories and are "
            "fitted as continuous, normal data: their standard errors and chi-square are "
            "too optimistic. Use --estimator MLR for robust standard errors and the scaled "
            "chi-square (lavaan's MLR), or --estimator WLSMV --ordered all to fit them as "
            "ordered categories (lavaan's WLSMV).",
            "warning",
            ", ".join(few),
        )
    ]
