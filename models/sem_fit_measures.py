"""Fit measures of covariance-based SEM, computed as lavaan computes them.

Pure numpy/scipy functions over sample and model-implied moments; no semopy here, so each
formula can be read and tested on its own. :func:`models.sem.fit_sem` assembles them.

All functions follow lavaan's conventions for a single group with ``likelihood="normal"``:
the sample covariance matrix uses the biased divisor N, and statistics are scaled by N
(not N - 1).

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software*, 48(2), 1-36. doi:10.18637/jss.v048.i02

Bollen, K. A. (1989). *Structural Equations with Latent Variables*. Wiley.
doi:10.1002/9781118619179

Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit. In K. A.
Bollen & J. S. Long (Eds.), *Testing Structural Equation Models* (pp. 136-162). Sage.

Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance structure
analysis. *Structural Equation Modeling*, 6(1), 1-55. doi:10.1080/10705519909540118
"""

from __future__ import annotations

import math

import numpy as np

from models.distributions import chi2_cdf, chi2_sf, noncentral_chi2_cdf

_LOG_2PI = math.log(2.0 * math.pi)


def _logdet(matrix: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(matrix)
    if sign <= 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return float(value)


def saturated_loglik(cov: np.ndarray, n_obs: int) -> float:
    """Log-likelihood of the unrestricted (H1) normal model.

    Parameters
    ----------
    cov : ndarray of shape (p, p)
        Sample covariance matrix with divisor N.
    n_obs : int
        Number of observations N.

    Returns
    -------
    float

    Notes
    -----
    With means and covariances free, the maximum of the normal log-likelihood is
    ``-N/2 (p log 2π + log|S| + p)``; the sample means drop out.
    """
    p = cov.shape[0]
    return -0.5 * n_obs * (p * _LOG_2PI + _logdet(cov) + p)


def ml_baseline(cov: np.ndarray, n_obs: int, fixed: np.ndarray) -> tuple[float, int]:
    """Chi-square and df of lavaan's independence (baseline) model under ML.

    Parameters
    ----------
    cov, n_obs
        Sample covariance matrix (divisor N) and N, as in :func:`saturated_loglik`.
    fixed : ndarray of bool, shape (p,)
        Observed exogenous covariates whose covariance block lavaan keeps at its sample
        value (``fixed.x = TRUE``).

    Returns
    -------
    chisq, df : float, int

    Notes
    -----
    The baseline model frees only the variances of the other variables, whose ML
    estimates are the sample variances, so ``tr(S Σ⁻¹) = p`` and
    ``χ²_B = N (log|S_xx| + Σ_y log s_yy − log|S|)``, on ``p(p+1)/2 − k(k+1)/2 − (p − k)``
    degrees of freedom with k fixed covariates.
    """
    p = cov.shape[0]
    k = int(fixed.sum())
    free = ~fixed
    log_baseline = float(np.sum(np.log(np.diag(cov)[free])))
    if k:
        log_baseline += _logdet(cov[np.ix_(fixed, fixed)])
    chisq = n_obs * (log_baseline - _logdet(cov))
    df = p * (p + 1) // 2 - k * (k + 1) // 2 - (p - k)
    return max(chisq, 0.0), df


def gls_baseline(cov: np.ndarray, n_obs: int, fixed: np.ndarray) -> tuple[float, int]:
    """Chi-square and df of the independence model under GLS.

    Notes
    -----
    With ``V = S⁻¹`` and ``Σ_B = S_xx ⊕ diag(d)``, the GLS discrepancy
    ``F = tr((Σ_B V − I)²)`` is quadratic in d, minimised by
    ``d = −((V∘V)_yy)⁻¹ diag(V M)_y`` with ``M = S_x0 V − I``; ``χ²_B = N F / 2``.
    """
    p = cov.shape[0]
    k = int(fixed.sum())
    free = ~fixed
    v = np.linalg.inv(cov)
    s_x0 = np.zeros_like(cov)
    s_x0[np.ix_(fixed, fixed)] = cov[np.ix_(fixed, fixed)]
    m = s_x0 @ v - np.eye(p)
    d = -np.linalg.solve((v * v)[np.ix_(free, free)], np.diag(v @ m)[free])
    sigma = s_x0.copy()
    sigma[free, free] = d
    r = sigma @ v - np.eye(p)
    chisq = 0.5 * n_obs * float(np.einsum("ij,ji->", r, r))
    df = p * (p + 1) // 2 - k * (k + 1) // 2 - (p - k)
    return chisq, df


def chisq_pvalue(chisq: float, df: int) -> float:
    """Upper-tail p-value of the model chi-square (NaN when df is 0 or chisq unknown)."""
    if df <= 0 or not np.isfinite(chisq):
        return math.nan
    return chi2_sf(chisq, df)


def cfi(chisq: float, df: int, baseline_chisq: float, baseline_df: int) -> float:
    """Comparative fit index (Bentler 1990), lavaan's formula.

    Notes
    -----
    ``CFI = 1 − max(χ² − df, 0) / max(χ² − df, χ²_B − df_B, 0)``; 1 when the denominator
    is 0.
    """
    if df < 0:
        return math.nan
    numerator = max(chisq - df, 0.0)
    denominator = max(chisq - df, baseline_chisq - baseline_df, 0.0)
    if not np.isfinite(numerator) or not np.isfinite(denominator):
        return math.nan
    return 1.0 if denominator == 0 else 1.0 - numerator / denominator


def tli(chisq: float, df: int, baseline_chisq: float, baseline_df: int) -> float:
    """Tucker-Lewis index (non-normed fit index), lavaan's formula.

    Notes
    -----
    ``TLI = (χ²_B/df_B − χ²/df) / (χ²_B/df_B − 1)``; lavaan reports 1 for a saturated
    model (df = 0).
    """
    if df == 0:
        return 1.0
    if df < 0 or baseline_df <= 0:
        return math.nan
    ratio_baseline = baseline_chisq / baseline_df
    return (ratio_baseline - chisq / df) / (ratio_baseline - 1.0)


def rmsea(chisq: float, df: int, n_obs: int) -> float:
    """Root mean square error of approximation, ``sqrt(max(χ²/N/df − 1/N, 0))``.

    Notes
    -----
    lavaan divides by N (not N − 1) under ``likelihood="normal"``; 0 for df = 0.
    """
    if df < 0 or not np.isfinite(chisq):
        return math.nan
    if df == 0:
        return 0.0
    return math.sqrt(max(chisq / n_obs / df - 1.0 / n_obs, 0.0))


def _noncentrality(chisq: float, df: int, tail: float) -> float:
    """λ such that the noncentral χ²(df, λ) CDF at chisq equals ``tail`` (0 if none)."""

    def gap(lam: float) -> float:
        return (noncentral_chi2_cdf(chisq, df, lam) if lam > 0 else chi2_cdf(chisq, df)) - tail

    if gap(0.0) < 0:
        # Even a central χ² puts less than `tail` below the statistic: the bound is 0.
        return 0.0
    low, high = 1e-12, max(chisq, 1.0)
    # The CDF decreases in λ; widen the bracket until it changes sign, then bisect it
    # (a root finder of its own: scipy.optimize costs a fit 0.5 s to import).
    while gap(high) > 0:
        low, high = high, high * 2.0
    while high - low > 1e-10 + 1e-13 * high:
        middle = 0.5 * (low + high)
        if gap(middle) > 0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def rmsea_ci(chisq: float, df: int, n_obs: int, level: float = 0.90) -> tuple[float, float]:
    """Confidence interval of RMSEA by inverting the noncentral chi-square.

    Parameters
    ----------
    chisq, df, n_obs
        Model chi-square, its degrees of freedom and the number of observations N.
    level : float
        Coverage, 0.90 as in lavaan.

    Returns
    -------
    low, high : float

    Notes
    -----
    Browne & Cudeck (1993): find λ_L with ``F(χ²; df, λ_L) = (1 + level)/2`` and λ_U
    with ``F(χ²; df, λ_U) = (1 − level)/2``; the bounds are ``sqrt(λ / (N df))``.
    """
    if df <= 0 or not np.isfinite(chisq):
        return math.nan, math.nan
    lam_low = _noncentrality(chisq, df, (1.0 + level) / 2.0)
    lam_high = _noncentrality(chisq, df, (1.0 - level) / 2.0)
    return math.sqrt(lam_low / (n_obs * df)), math.sqrt(lam_high / (n_obs * df))


def srmr(
    sample_cov: np.ndarray,
    implied_cov: np.ndarray,
    sample_mean: np.ndarray | None = None,
    implied_mean: np.ndarray | None = None,
) -> float:
    """Standardized root mean square residual, lavaan's ``srmr`` (Bentler's definition).

    Parameters
    ----------
    sample_cov, implied_cov : ndarray of shape (p, p)
    sample_mean, implied_mean : ndarray of shape (p,), optional
        Given for a model with a mean structure; the mean residuals then enter too.

    Returns
    -------
    float

    Notes
    -----
    Both matrices are scaled by the *sample* standard deviations,
    ``r_ij = (s_ij − σ̂_ij) / sqrt(s_ii s_jj)``, and
    ``SRMR = sqrt(Σ_{i≤j} r_ij² / (p(p+1)/2))``; with a mean structure the standardized
    mean residuals ``(m_i − μ̂_i) / sqrt(s_ii)`` are added and the count becomes
    ``p(p+1)/2 + p``.
    """
    sd = np.sqrt(np.diag(sample_cov))
    residual = (sample_cov - implied_cov) / np.outer(sd, sd)
    squares = residual[np.triu_indices_from(residual)] ** 2
    if sample_mean is not None and implied_mean is not None:
        squares = np.concatenate([squares, ((sample_mean - implied_mean) / sd) ** 2])
    return float(np.sqrt(np.mean(squares)))


def information_criteria(loglik: float, n_free: int, n_obs: int) -> tuple[float, float]:
    """AIC and BIC on lavaan's scale: ``−2 logL + 2q`` and ``−2 logL + q log N``."""
    return -2.0 * loglik + 2.0 * n_free, -2.0 * loglik + n_free * math.log(n_obs)


def em_saturated(
    data: np.ndarray, max_iter: int = 1000, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray, float]:
    """ML means and covariance of incomplete normal data by EM, with the log-likelihood.

    This is the H1 model of FIML: the chi-square of a FIML fit compares the model with
    the unrestricted normal model fitted to the same incomplete rows.

    Parameters
    ----------
    data : ndarray of shape (n, p)
        Rows with NaN for missing cells; every row has at least one observed cell.
    max_iter, tol
        EM stops when the largest change of a mean or covariance element is below tol.

    Returns
    -------
    mean, cov : ndarray
    loglik : float
        Observed-data log-likelihood at the EM solution.

    Notes
    -----
    Rows are grouped by missingness pattern, so each iteration costs one conditional
    regression per pattern (Little & Rubin 2002, ch. 11).
    """
    patterns = _missing_patterns(data)
    mean = np.nanmean(data, axis=0)
    cov = np.diag(np.nanvar(data, axis=0))
    n = data.shape[0]
    for _ in range(max_iter):
        sum_x = np.zeros_like(mean)
        sum_xx = np.zeros_like(cov)
        for seen, rows in patterns:
            block = data[np.ix_(rows, seen)]
            miss = ~seen
            filled = np.empty((len(rows), data.shape[1]))
            filled[:, seen] = block
            extra = np.zeros_like(cov)
            if miss.any():
                coef = np.linalg.solve(cov[np.ix_(seen, seen)], cov[np.ix_(seen, miss)])
                filled[:, miss] = mean[miss] + (block - mean[seen]) @ coef
                extra[np.ix_(miss, miss)] = len(rows) * (
                    cov[np.ix_(miss, miss)] - cov[np.ix_(miss, seen)] @ coef
                )
            sum_x += filled.sum(axis=0)
            sum_xx += filled.T @ filled + extra
        new_mean = sum_x / n
        new_cov = sum_xx / n - np.outer(new_mean, new_mean)
        change = max(np.abs(new_mean - mean).max(), np.abs(new_cov - cov).max())
        mean, cov = new_mean, new_cov
        if change < tol:
            break
    return mean, cov, fiml_loglik(data, mean, cov, patterns)


def _missing_patterns(data: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    seen = np.isfinite(data)
    keys, inverse = np.unique(seen, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    return [(keys[i], np.flatnonzero(inverse == i)) for i in range(len(keys))]


def fiml_loglik(
    data: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    patterns: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> float:
    """Observed-data normal log-likelihood of incomplete rows (casewise, by pattern)."""
    if patterns is None:
        patterns = _missing_patterns(data)
    total = 0.0
    for seen, rows in patterns:
        sub_cov = cov[np.ix_(seen, seen)]
        centred = data[np.ix_(rows, seen)] - mean[seen]
        chol = np.linalg.cholesky(sub_cov)
        solved = np.linalg.solve(chol, centred.T)
        logdet = 2.0 * np.sum(np.log(np.diag(chol)))
        total -= 0.5 * (len(rows) * (seen.sum() * _LOG_2PI + logdet) + float(np.sum(solved**2)))
    return total


def fiml_baseline_loglik(data: np.ndarray) -> float:
    """Log-likelihood of the independence model with free means under FIML.

    Notes
    -----
    Independent normal variables factorise the likelihood, so each variable's ML mean
    and (biased) variance come from its own observed cells.
    """
    total = 0.0
    for column in data.T:
        seen = column[np.isfinite(column)]
        total += -0.5 * len(seen) * (_LOG_2PI + math.log(seen.var()) + 1.0)
    return total


def pattern_moments(data: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray, np.ndarray]]:
    """Sufficient statistics of incomplete rows: per missingness pattern, the observed
    mask, row count, mean and biased covariance of the observed cells."""
    moments = []
    for seen, rows in _missing_patterns(data):
        block = data[np.ix_(rows, seen)]
        mean = block.mean(axis=0)
        centred = block - mean
        moments.append((seen, len(rows), mean, centred.T @ centred / len(rows)))
    return moments


def fiml_discrepancy(
    patterns: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]],
    sigma: np.ndarray,
    mu: np.ndarray,
) -> float:
    """``−2 logL`` of incomplete normal data without the ``log 2π`` terms.

    Notes
    -----
    ``Σ_k n_k [log|Σ_k| + tr(Σ_k⁻¹ T_k)]`` with ``T_k = S_k + (ȳ_k − μ_k)(ȳ_k − μ_k)'``:
    the same value as semopy's row-wise ``ModelMeans.obj_fiml``, from pattern statistics.
    Raises ``LinAlgError`` when a pattern's Σ_k is not positive definite.
    """
    total = 0.0
    for seen, n, mean, cov in patterns:
        chol = np.linalg.cholesky(sigma[np.ix_(seen, seen)])
        gap = mean - mu[seen]
        solved = np.linalg.solve(chol, cov + np.outer(gap, gap))
        inverse_chol = np.linalg.inv(chol)
        total += n * (2.0 * np.sum(np.log(np.diag(chol))) + np.trace(inverse_chol.T @ solved))
    return float(total)


def fiml_gradient(
    patterns: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]],
    sigma: np.ndarray,
    mu: np.ndarray,
    d_sigma: np.ndarray,
    d_mu: np.ndarray,
) -> np.ndarray:
    """Gradient of ``−2 logL`` of incomplete normal data with structured Σ(θ), μ(θ).

    Parameters
    ----------
    patterns
        Output of :func:`pattern_moments`.
    sigma, mu
        Model-implied covariance (p, p) and mean (p,).
    d_sigma, d_mu
        Their derivatives, shapes (q, p, p) and (q, p).

    Notes
    -----
    Per pattern k with n_k rows, ``T_k = S_k + (ȳ_k − μ_k)(ȳ_k − μ_k)'`` and
    ``∂(−2 logL)/∂θ_i = Σ_k n_k [tr((Σ_k⁻¹ − Σ_k⁻¹ T_k Σ_k⁻¹) ∂_iΣ_k)
    − 2 (ȳ_k − μ_k)' Σ_k⁻¹ ∂_iμ_k]``. It only needs the pattern statistics, so its
    cost does not grow with the number of rows.
    """
    gradient = np.zeros(d_sigma.shape[0])
    for seen, n, mean, cov in patterns:
        inverse = np.linalg.inv(sigma[np.ix_(seen, seen)])
        gap = mean - mu[seen]
        t = cov + np.outer(gap, gap)
        a = inverse - inverse @ t @ inverse
        gradient += n * (
            np.einsum("iab,ba->i", d_sigma[:, seen][:, :, seen], a)
            - 2.0 * d_mu[:, seen] @ (inverse @ gap)
        )
    return gradient
