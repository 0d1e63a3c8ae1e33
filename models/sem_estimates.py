"""Parameter estimates of a fitted SEM: standard errors, the std.all solution and R².

Works on the plain numbers the semopy adapter reads back (:class:`models.sem_semopy.Fitted`)
and produces the estimates table in the shared vocabulary
(:data:`models.vocabulary.ESTIMATE_COLUMNS`), in lavaan's ``parameterEstimates`` order.
The formulas are in the Notes of :func:`models.sem.fit_sem`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models import sem_checks
from models.distributions import normal_quantile, two_sided_p
from models.vocabulary import ESTIMATE_COLUMNS

if TYPE_CHECKING:
    from models.sem_moments import Moments
    from models.sem_semopy import Fitted

__all__ = [
    "estimate_table",
    "free_labels",
    "r_squared",
    "standard_errors",
    "standardize",
    "variances",
]


def standard_errors(
    fitted: Fitted, moments: Moments, estimator: str
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the free parameters and the information matrix behind them."""
    if estimator == "FIML":
        # semopy's FIML objective is −2 logL up to a constant: observed information = H/2.
        information = fitted.hessian / 2.0
        acov = _inverse_or_none(information, fitted)
    else:
        deltas = np.array(fitted.sigma_grad)
        weight = {
            "ML": lambda: np.linalg.inv(fitted.sigma),
            "GLS": lambda: np.linalg.inv(moments.cov),
            "ULS": lambda: np.eye(len(moments.columns)),
        }[estimator]()
        a = _trace_products(deltas, weight)
        # GLS: lavaan 0.6's information is the GLS weight's, with N - 1 (its test statistic
        # uses N - 1 too), and no sandwich. Checked against lavaan on HS39.
        n = moments.n_obs - 1 if estimator == "GLS" else moments.n_obs
        information = n / 2.0 * a
        acov = _inverse_or_none(information, fitted)
        if acov is not None and estimator == "ULS":
            # ULS weighs by I, not by the model's information: the normal-theory sandwich.
            # (Under ML, B = A and it would collapse to the inverse information.)
            b = _trace_products(deltas, weight @ fitted.sigma @ weight)
            acov = acov @ (moments.n_obs / 2.0 * b) @ acov
    if acov is None:
        return np.full(fitted.n_free, np.nan), information
    diagonal = np.diag(acov)
    with np.errstate(invalid="ignore"):
        return np.where(diagonal >= 0, np.sqrt(np.abs(diagonal)), np.nan), information


def _trace_products(deltas: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``M_ij = tr(Δ_i W Δ_j W)`` for a stack of symmetric Δ."""
    weighted = deltas @ weight
    return np.einsum("iab,jba->ij", weighted, weighted)


def _inverse_or_none(information: np.ndarray, fitted: Fitted) -> np.ndarray | None:
    labels = free_labels(fitted)
    if sem_checks._weakest_parameter(information, labels) is not None:
        return None
    try:
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return None


def free_labels(fitted: Fitted) -> list[str]:
    """``"lhs op rhs"`` of each free parameter, in the optimizer's order."""
    labels = [""] * fitted.n_free
    for lhs, op, rhs, _, free, _ in fitted.table:
        if free is not None and not labels[free]:
            labels[free] = f"{lhs} {op} {rhs}".strip()
    return labels


def variances(fitted: Fitted) -> dict[str, dict[str, float]]:
    """Model-implied total and residual variances of every variable."""
    mx = fitted.matrices
    c = np.linalg.inv(np.eye(len(fitted.names_inner)) - mx["beta"])
    inner_cov = c @ mx["psi"] @ c.T
    total = dict(zip(fitted.names_inner, np.diag(inner_cov), strict=True))
    total.update(zip(fitted.names_obs, np.diag(fitted.sigma), strict=True))
    residual = dict(zip(fitted.names_obs, np.diag(mx["theta"]), strict=True))
    residual.update(zip(fitted.names_inner, np.diag(mx["psi"]), strict=True))
    return {"total": total, "residual": residual, "inner_cov": inner_cov}


def standardize(lhs: str, op: str, rhs: str, value: float, implied) -> float:
    """lavaan's std.all for one parameter (cov.std = TRUE)."""
    total, residual = implied["total"], implied["residual"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "=~":
            return value * math.sqrt(max(total[lhs], 0)) / math.sqrt(total[rhs])
        if op == "~":
            return value * math.sqrt(max(total[rhs], 0)) / math.sqrt(total[lhs])
        if op == "~1":
            return value / math.sqrt(total[lhs])
        if lhs == rhs:
            return value / total[lhs] if total[lhs] else math.nan
        scale = residual[lhs] * residual[rhs]
        return value / math.sqrt(scale) if scale > 0 else math.nan


def estimate_row(
    lhs: str, op: str, rhs: str, value: float, error: float, implied, z_crit: float
) -> dict[str, object]:
    """One row of an estimates table (:data:`models.vocabulary.ESTIMATE_COLUMNS`): the
    std.all value and the Wald test and interval; ``error`` is NaN for a fixed parameter,
    whose z, p and interval are NaN then."""
    z = value / error if error > 0 else math.nan
    return {
        "lhs": lhs,
        "op": op,
        "rhs": rhs,
        "estimate": value,
        "std_estimate": standardize(lhs, op, rhs, value, implied),
        "se": error,
        "z": z,
        "p_value": two_sided_p(z),
        "ci_low": value - z_crit * error,
        "ci_high": value + z_crit * error,
    }


def estimate_table(fitted: Fitted, se: np.ndarray, implied, ci_level: float) -> pd.DataFrame:
    """The estimates table, ``implied`` being :func:`variances` of ``fitted``."""
    z_crit = normal_quantile(0.5 + ci_level / 2.0)
    records = [
        estimate_row(lhs, op, rhs, value, se[free] if free is not None else math.nan, implied,
                     z_crit)
        for lhs, op, rhs, value, free, _ in fitted.table
    ]  # fmt: skip
    frame = pd.DataFrame.from_records(records, columns=list(ESTIMATE_COLUMNS))
    latents, rank = set(fitted.latents), fitted.rank
    order = [
        (_row_group(r.lhs, r.op, r.rhs, latents), rank.get(r.lhs, 0), rank.get(r.rhs, 0))
        for r in frame.itertuples()
    ]
    frame = frame.iloc[sorted(range(len(frame)), key=order.__getitem__)]
    return frame.reset_index(drop=True)


def _row_group(lhs: str, op: str, rhs: str, latents: set[str]) -> int:
    # lavaan's parameterEstimates order: loadings, regressions, residual covariances,
    # variances of observed variables, latent variances, latent covariances, intercepts.
    if op == "=~":
        return 0
    if op == "~":
        return 1
    if op == "~1":
        return 6
    if lhs in latents or rhs in latents:
        return 4 if lhs == rhs else 5
    return 3 if lhs == rhs else 2


def r_squared(fitted: Fitted, implied) -> dict[str, float]:
    """R² of every endogenous variable, ``implied`` being :func:`variances` of ``fitted``."""
    total, residual = implied["total"], implied["residual"]
    order = list(
        dict.fromkeys(
            [r[2] for r in fitted.table if r[1] == "=~"]
            + [r[0] for r in fitted.table if r[1] == "~"]
        )
    )
    return {
        v: float(1.0 - residual[v] / total[v])
        for v in order
        if v in fitted.endogenous and v in residual and total.get(v, 0) > 0
    }
