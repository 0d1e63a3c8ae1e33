"""Robust ML (lavaan's ``estimator="MLR"``): Huber-White standard errors and the Yuan-Bentler
scaled chi-square with its robust CFI, TLI and RMSEA.

Survey items are not normal (1-5 ratings are skewed and bounded), so the normal-theory
standard errors and chi-square of ML are too optimistic. MLR keeps the ML estimates and
corrects what is computed from them, as lavaan 0.6 does for complete data:

- **Standard errors**: the sandwich ``A⁻¹ B A⁻¹ / N`` with ``A`` the observed information
  (the Hessian of lavaan's ML discrepancy) and ``B`` the first-order information, the mean
  outer product of each row's score.
- **Test statistic** (``yuan.bentler.mplus``): the scaling factor
  ``c = [tr(A₁⁻¹B₁) − tr(A⁻¹B)] / df``, ``A₁`` and ``B₁`` being the same two informations of
  the unrestricted model at the sample moments; ``chisq_scaled = chisq / c``.
- **Robust fit measures** (Brosseau-Liard & Savalei 2014; Savalei 2018), lavaan's
  ``cfi.robust``, ``tli.robust`` and ``rmsea.robust``: the ML chi-squares with ``c·df`` in
  place of ``df``, the baseline with its own scaling factor.

Everything takes plain arrays: the raw rows of each group, the model-implied moments and
their Jacobians (:mod:`models.sem_groups` supplies them). Validated against lavaan 0.6-14
(``tests/reference/lavaan_mlr.R``).

References
----------
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean and
covariance structure analysis with nonnormal missing data. *Sociological Methodology*,
30(1), 165-200. doi:10.1111/0081-1750.00078

Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit indices for
nonnormality. *Multivariate Behavioral Research*, 49(5), 460-470.
doi:10.1080/00273171.2014.933697

Savalei, V. (2018). On the computation of the RMSEA and CFI from the mean-and-variance
corrected test statistic with nonnormal data in SEM. *Multivariate Behavioral Research*,
53(3), 419-429. doi:10.1080/00273171.2018.1455142
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "baseline_trace",
    "casewise_scores",
    "robust_fit_measures",
    "unrestricted_trace",
]

# Rows per block when accumulating outer products of scores: bounded memory for any N.
_CHUNK = 20_000


def casewise_scores_product(
    rows: np.ndarray, sigma: np.ndarray, mu: np.ndarray, d_sigma: np.ndarray, d_mu: np.ndarray
) -> np.ndarray:
    """``Σ_i s_i s_iᵀ / n``: the first-order information of one group, per row.

    ``s_i`` is the gradient of lavaan's per-row discrepancy (minus the row's normal
    log-likelihood) with respect to the parameters whose Jacobians are ``d_sigma``
    (k × p × p) and ``d_mu`` (k × p); the sign does not matter in the outer product.
    """
    inverse = np.linalg.inv(sigma)
    traces = np.einsum("ij,kji->k", inverse, d_sigma)
    product = np.zeros((len(d_sigma), len(d_sigma)))
    for start in range(0, len(rows), _CHUNK):
        scores = casewise_scores(rows[start : start + _CHUNK], inverse, mu, d_sigma, d_mu, traces)
        product += scores.T @ scores
    return product / len(rows)


def casewise_scores(rows, inverse, mu, d_sigma, d_mu, traces) -> np.ndarray:
    """Each row's score (n × k): ``½(eᵀΣ⁻¹ΣₖΣ⁻¹e − tr(Σ⁻¹Σₖ)) + eᵀΣ⁻¹μₖ``, e = x − μ."""
    centred = (rows - mu) @ inverse  # Σ⁻¹ e per row
    quadratic = np.einsum("ni,kij,nj->nk", centred, d_sigma, centred, optimize=True)
    return 0.5 * (quadratic - traces) + centred @ d_mu.T


def unrestricted_trace(rows: np.ndarray, meanstructure: bool) -> float:
    """``tr(A₁⁻¹ B₁)`` of the unrestricted normal model of one group, at the sample moments.

    Its parameters are the means (when ``meanstructure``) and the distinct covariances
    σ_ij (i ≤ j). With z = S⁻¹(x − x̄), a row's score for σ_ij is ``z_i z_j − (S⁻¹)_ij``
    (halved on the diagonal), so ``B₁`` costs one product of an n × p(p+1)/2 matrix.
    """
    n, p = rows.shape
    mean = rows.mean(axis=0)
    cov = (rows - mean).T @ (rows - mean) / n
    inverse = np.linalg.inv(cov)
    upper_i, upper_j = np.triu_indices(p)
    half = np.where(upper_i == upper_j, 0.5, 1.0)
    # A₁ for σ_ij, σ_kl: ½ tr(S⁻¹ ∂_ijΣ S⁻¹ ∂_klΣ), ∂_ijΣ having ones at (i, j) and (j, i).
    a_cov = half[:, None] * half[None, :] * (
        inverse[upper_i][:, upper_i] * inverse[upper_j][:, upper_j]
        + inverse[upper_i][:, upper_j] * inverse[upper_j][:, upper_i]
    )
    b_cov = np.zeros_like(a_cov)
    for start in range(0, n, _CHUNK):
        z = (rows[start : start + _CHUNK] - mean) @ inverse
        scores = half * (z[:, upper_i] * z[:, upper_j] - inverse[upper_i, upper_j])
        b_cov += scores.T @ scores
    b_cov /= n
    trace = float(np.trace(np.linalg.solve(a_cov, b_cov)))
    # The means' block: A = S⁻¹ and B = S⁻¹ S S⁻¹ at the sample moments, so p; the blocks
    # between means and covariances do not enter the trace, A₁ being block-diagonal.
    return trace + (p if meanstructure else 0)


def baseline_trace(rows: np.ndarray, meanstructure: bool) -> tuple[float, float]:
    """``tr(A₁⁻¹B₁)`` and ``tr(A⁻¹B)`` of the independence (baseline) model of one group.

    Its parameters are the variances (and means); at their estimates the observed
    information is diagonal, ``1/(2 s_jj²)`` per variance (and ``1/s_jj`` per mean), so
    the model's trace is ``Σ_j ½(m₄ⱼ/s_jj² − 1)`` (+ p), m₄ being the fourth central
    moment.
    """
    centred = rows - rows.mean(axis=0)
    variance = (centred**2).mean(axis=0)
    kurtosis = (centred**4).mean(axis=0) / variance**2
    model = float(np.sum(0.5 * (kurtosis - 1.0))) + (rows.shape[1] if meanstructure else 0)
    return unrestricted_trace(rows, meanstructure), model


def robust_fit_measures(
    chisq: float,
    df: int,
    scaling: float,
    baseline_chisq: float,
    baseline_df: int,
    baseline_scaling: float,
    n_total: int,
    groups: int,
) -> dict[str, float]:
    """lavaan 0.6-14's scaled and robust measures from the ML statistics and scalings."""
    measures = {
        "chisq_scaled": chisq / scaling if df > 0 else math.nan,
        "scaling_factor": scaling,
        "baseline_chisq_scaled": baseline_chisq / baseline_scaling,
        "baseline_scaling_factor": baseline_scaling,
    }
    if df <= 0:
        return {**measures, "cfi_robust": math.nan, "tli_robust": math.nan,
                "rmsea_robust": math.nan}  # fmt: skip
    t1 = max(chisq - scaling * df, 0.0)
    t2 = max(chisq - scaling * df, baseline_chisq - baseline_scaling * baseline_df, 0.0)
    cfi = 1.0 if t1 == 0 and t2 == 0 else 1.0 - t1 / t2
    tli_top = (chisq - scaling * df) * baseline_df
    tli_bottom = (baseline_chisq - baseline_scaling * baseline_df) * df
    tli = 1.0 - tli_top / tli_bottom if tli_bottom != 0 else 1.0
    rmsea = math.sqrt(max(chisq / n_total / df - scaling / n_total, 0.0)) * math.sqrt(groups)
    return {**measures, "cfi_robust": cfi, "tli_robust": tli, "rmsea_robust": rmsea}
