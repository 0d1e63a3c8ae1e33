"""Covariance-based structural equation modelling: lavaan syntax in, :class:`SEMResult` out.

ML and MLR are fitted by Manyi's own Fisher scoring (:mod:`models.sem_groups`, validated
against lavaan 0.6-14 with the multi-group work), which needs neither semopy nor sympy:
their import alone cost a command-line fit of 200,000 responses more than the fit. semopy
does the optimisation for GLS, ULS, FIML, and for ML of a model with observed exogenous
predictors (which lavaan fixes at their sample moments); Manyi feeds it summary
statistics, reads its matrices back, and computes standard errors, the standardized
solution, R² and every fit measure itself, on lavaan's scale, because semopy's own
AIC/BIC use another scale and it has no SRMR or RMSEA interval. This module is the public
entry point and assembles the result from:

``models.sem_moments``
    input rows or covariance matrix -> checked sample moments and the data fingerprint;
``models.sem_semopy``
    the adapter to semopy, the only module that imports it, and its lock;
``models.sem_estimates``
    standard errors, the std.all solution, R², the estimates table;
``models.sem_fit_measures`` and ``models.sem_checks``
    fit-measure formulas and warning codes;
``models.sem_result``
    the frozen :class:`SEMResult` and its text, HTML and dict forms.

Estimators exposed (``estimator=``) and why:

``"ML"`` (default)
    Normal-theory maximum likelihood on the biased (divisor N) sample covariance matrix,
    by Fisher scoring (semopy's ``"MLW"`` objective for a model with observed exogenous
    predictors). Raw rows are reduced to their covariance matrix in one pass, so a
    million rows cost about as much as a thousand. Rows with missing values are dropped
    (lavaan's ``missing="listwise"``). Validated against lavaan 0.6.
``"GLS"``
    Normal-theory generalized least squares (Browne 1974), semopy's ``"GLS"``; also from
    the covariance matrix. Chi-square ``(N - 1) F_GLS / 2`` and standard errors from the
    GLS information ``(N - 1)/2 tr(∂_iΣ S⁻¹ ∂_jΣ S⁻¹)``, as lavaan 0.6 computes them; no
    log-likelihood, so no AIC/BIC.
``"ULS"``
    Unweighted least squares, semopy's ``"ULS"``: makes no use of the inverse covariance,
    so it survives near-singular item sets. Standard errors are normal-theory sandwich
    estimates; there is no normal-theory chi-square, so chi-square-based indices are NaN
    (only SRMR is reported) and an info warning ``no-test-statistic`` says so.
``"MLR"``
    ML estimates with robust (Huber-White) standard errors and the Yuan-Bentler scaled
    chi-square with lavaan's robust CFI, TLI and RMSEA (``chisq_scaled``,
    ``scaling_factor``, ``cfi_robust``, ``tli_robust``, ``rmsea_robust``): for skewed,
    bounded rating items. Computed by :mod:`models.sem_groups` and :mod:`models.sem_robust`
    from the raw rows (listwise complete); validated against lavaan 0.6-14.
``"FIML"``
    Full-information ML for incomplete rows (missing at random), semopy's ``ModelMeans``
    with its ``"FIML"`` objective: needs raw rows and costs time per row. Adds intercepts
    (lavaan's ``missing="ml"``); H1 is the EM-estimated unrestricted model; standard
    errors come from the observed information (numerical Hessian of semopy's analytic
    gradient), as lavaan's default for ``missing="ml"``. Observed exogenous covariates
    are not supported with FIML here.

Not exposed, on purpose: semopy's ``"WLS"`` and ``"DWLS"`` weight residuals with fourth
moments of the *Pearson* product data, built as an N × p(p+1)/2 array in memory; they are
the ADF estimator for continuous data, not lavaan's WLSMV on polychoric correlations, and
their memory grows with N·p². semopy's ``ordinal`` declaration swaps in a polychoric
matrix but still runs the normal-theory objective with N-based standard errors, which
are then wrong. lavaan's WLSMV for ordered items is :func:`models.sem_ordinal.fit_ordinal`.
For five- to ten-point Likert items ML with robust corrections (``"MLR"``) is a
defensible choice too (Rhemtulla, Brosseau-Liard & Savalei 2012, doi:10.1037/a0029315);
a fit on items with seven or fewer categories warns (``few-categories``).

Thread safety: semopy keeps class-level state that two models built at the same time in
two threads would share; ``models.sem_semopy`` serialises every use of semopy under one
lock, so ``fit_sem`` may be called from several threads.
"""

from __future__ import annotations

import math
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from models import sem_checks, sem_estimates, sem_fit_measures, sem_groups, sem_semopy
from models.diagnostics import ModelWarning
from models.sem_moments import Moments, moments_from_cov, moments_from_rows
from models.sem_result import SEMResult, json_number
from models.syntax import PathSpec

__all__ = ["ESTIMATORS", "SEMResult", "fit_sem"]

ESTIMATORS: tuple[str, ...] = ("ML", "GLS", "ULS", "FIML", "MLR")
_FIT_KEYS = (
    "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high",
    "srmr", "aic", "bic", "loglik", "baseline_chisq", "baseline_df",
)  # fmt: skip


def fit_sem(
    model: str | PathSpec,
    data: pd.DataFrame | None = None,
    *,
    cov: pd.DataFrame | None = None,
    means: pd.Series | None = None,
    n_obs: int | None = None,
    estimator: str = "ML",
    max_iter: int = 10_000,
    ci_level: float = 0.95,
) -> SEMResult:
    """Fit a covariance-based SEM written in lavaan syntax.

    Parameters
    ----------
    model : str or PathSpec
        lavaan model syntax (``=~``, ``~``, ``~~``, ``a*x`` labels and fixed values), or
        a spec from :func:`models.syntax.parse_model`, which is fitted as its
        ``to_lavaan()`` text.
    data : DataFrame, optional
        Raw rows, one column per observed variable. For ``"ML"``, ``"GLS"`` and
        ``"ULS"`` they are reduced to the biased covariance matrix in one pass and rows
        with missing values are dropped; ``"FIML"`` uses the rows themselves.
    cov : DataFrame, optional
        Sample covariance matrix labelled by variable, instead of ``data``. Use the
        divisor N (lavaan's ``sample.cov.rescale`` does the same to an N − 1 matrix).
    means : Series, optional
        Sample means accompanying ``cov``. The models fitted here have no mean
        structure, so ML, GLS and ULS estimates do not depend on them; they are checked
        and kept only so that a summary-statistics input can be complete.
    n_obs : int, optional
        Number of observations behind ``cov`` (required with ``cov``).
    estimator : {"ML", "GLS", "ULS", "FIML"}
        See the module notes for what each means and when to use it.
    max_iter : int
        Iteration cap of the optimizer (Fisher scoring, or semopy's SLSQP).
    ci_level : float
        Coverage of the Wald intervals ``ci_low, ci_high``.

    Returns
    -------
    SEMResult

    Raises
    ------
    ValueError
        Bad input: both or neither of ``data``/``cov``, missing variables, a sample
        covariance that is not positive definite, unsupported syntax or estimator.
    TypeError
        ``model`` is neither a string nor a :class:`models.syntax.PathSpec`.

    See Also
    --------
    models.sem_fit_measures : the fit-measure formulas.
    models.sem_checks : the warning codes.
    models.syntax.parse_model : the model text as an immutable spec.

    Notes
    -----
    ML minimises ``F = log|Σ(θ)| + tr(S Σ(θ)⁻¹) − log|S| − p`` with S the biased sample
    covariance; ``χ² = N F``. Standard errors come from the expected information
    ``I_ij = N/2 tr(Σ⁻¹ ∂_iΣ Σ⁻¹ ∂_jΣ)`` (lavaan's default). GLS uses its own information
    with W = S⁻¹ and N − 1 (lavaan's). ULS uses the normal-theory sandwich
    ``(2/N) A⁻¹ B A⁻¹`` with ``A_ij = tr(∂_iΣ W ∂_jΣ W)`` and ``B_ij = tr(∂_iΣ G ∂_jΣ G)``,
    ``G = W Σ W``, W = I. The
    log-likelihood is ``logL = logL_H1 − χ²/2`` with
    ``logL_H1 = −N/2 (p log 2π + log|S| + p)``; AIC and BIC count the free parameters,
    not the covariates fixed at their sample moments (lavaan's ``fixed.x``).
    Variances are unbounded, as in lavaan, so improper solutions show as negative
    variances and are reported, not hidden at a bound. ``std_estimate`` is lavaan's
    ``std.all``: both variables scaled by their model-implied SDs, and (residual)
    covariances by the square roots of the corresponding (residual) variances.

    Validated against lavaan's published results for the Holzinger-Swineford CFA and
    Bollen's political-democracy model (``tests/unit/models/test_sem.py``).

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal
    of Statistical Software*, 48(2), 1-36. doi:10.18637/jss.v048.i02

    Bollen, K. A. (1989). *Structural Equations with Latent Variables*. Wiley.
    doi:10.1002/9781118619179

    Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of
    covariance structures. *British Journal of Mathematical and Statistical
    Psychology*, 37(1), 62-83. doi:10.1111/j.2044-8317.1984.tb00789.x

    Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit. In
    K. A. Bollen & J. S. Long (Eds.), *Testing Structural Equation Models*. Sage.

    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance
    structure analysis. *Structural Equation Modeling*, 6(1), 1-55.
    doi:10.1080/10705519909540118

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> hs = holzinger39.get_data()
    >>> result = fit_sem("visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\n"
    ...                  "speed =~ x7 + x8 + x9", hs)
    >>> round(result.fit["chisq"], 3), result.fit["df"]
    (85.306, 24)
    """
    if isinstance(model, PathSpec):
        model = model.to_lavaan()
    elif not isinstance(model, str):
        raise TypeError(f"model must be lavaan text or a PathSpec, got {type(model).__name__}")
    _check_arguments(data, cov, n_obs, estimator, max_iter)
    if estimator == "MLR":
        return _fit_mlr(model, data, ci_level)
    # What semopy is given says what lavaan means by the text (see semopy_syntax); the
    # text is read so, and refused where it must be, whichever engine fits it.
    description = sem_semopy.semopy_syntax(model, estimator)
    if estimator == "ML":
        try:
            structure = sem_groups.parameter_table(model)
        except sem_groups.ModelOutOfReach:
            pass  # observed exogenous predictors, fixed at their sample moments: semopy's
        else:
            if data is not None:
                moments = moments_from_rows(data, structure.observed, keep_missing=False)
            else:
                moments = moments_from_cov(cov, means, n_obs, structure.observed)
            return _fit_ml(model, structure, moments, data, max_iter, ci_level)
    built, observed = sem_semopy.build_model(description, estimator)
    if estimator == "FIML":
        moments = moments_from_rows(data, observed, keep_missing=True)
    elif data is not None:
        moments = moments_from_rows(data, observed, keep_missing=False)
    else:
        moments = moments_from_cov(cov, means, n_obs, observed)
    fitted = sem_semopy.fit(built, description, moments, estimator, max_iter)

    se, information = sem_estimates.standard_errors(fitted, moments, estimator)
    implied = sem_estimates.variances(fitted)
    estimates = sem_estimates.estimate_table(fitted, se, implied, ci_level)
    fit = _fit_measures(fitted, moments, estimator)
    warnings = _collect_warnings(
        fitted, implied, estimates, information, se, fit, moments, estimator
    )
    if data is not None:
        warnings += sem_checks.check_categories(data, observed)
    return SEMResult(
        model=model,
        estimates=estimates,
        fit=fit,
        r2=sem_estimates.r_squared(fitted, implied),
        n_obs=moments.n_obs,
        converged=fitted.success,
        proper=not any(w.severity == "error" for w in warnings),
        warnings=tuple(warnings),
        provenance=_provenance(estimator, moments, fitted),
    )


def _fit_ml(
    model: str,
    structure: sem_groups.ParameterTable,
    moments: Moments,
    data: pd.DataFrame | None,
    max_iter: int,
    ci_level: float,
) -> SEMResult:
    """ML by :mod:`models.sem_groups`'s Fisher scoring (one group, no mean structure);
    ``moments`` are in the order of ``structure.observed``."""
    fitted = sem_groups.fit_covariance(
        model, structure, moments.cov, moments.n_obs, ci_level=ci_level, max_iter=max_iter
    )
    warnings = [*fitted.warnings, *_listwise_deletion(moments.dropped, "ML")]
    if data is not None:
        warnings += sem_checks.check_categories(data, moments.columns)
    return SEMResult(
        model=model,
        estimates=fitted.group_estimates(sem_groups.SINGLE_GROUP),
        fit={key: fitted.fit[key] for key in _FIT_KEYS},
        r2=fitted.r2[sem_groups.SINGLE_GROUP],
        n_obs=moments.n_obs,
        converged=fitted.converged,
        proper=not any(w.severity == "error" for w in warnings),
        warnings=tuple(warnings),
        provenance={
            "engine": "sem", "estimator": "ML", "objective": "ML",
            "optimizer": "Fisher scoring", "iterations": fitted.provenance["iterations"],
            "n_free_parameters": fitted.fit["npar"], "rows_dropped": moments.dropped,
            "data_sha256": moments.source, "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": metadata.version("scipy"),
        },  # fmt: skip
    )


def _fit_mlr(model: str, data: pd.DataFrame, ci_level: float) -> SEMResult:
    """Robust ML by :mod:`models.sem_groups` (one group, no mean structure, as lavaan)."""
    fitted = sem_groups.fit_multigroup(model, data, None, estimator="MLR", ci_level=ci_level)
    return SEMResult(
        model=model,
        estimates=fitted.group_estimates(sem_groups.SINGLE_GROUP),
        fit=fitted.fit,
        r2=fitted.r2[sem_groups.SINGLE_GROUP],
        n_obs=fitted.n_obs[sem_groups.SINGLE_GROUP],
        converged=fitted.converged,
        proper=fitted.proper,
        warnings=fitted.warnings,
        provenance={
            **fitted.provenance, "engine": "sem", "se": "robust.huber.white",
            "test": "yuan.bentler.mplus", "rows_dropped": fitted.dropped,
            "numpy": np.__version__, "pandas": pd.__version__,
            "scipy": metadata.version("scipy"),
        },  # fmt: skip
    )


# --- input -------------------------------------------------------------------------


def _check_arguments(data, cov, n_obs, estimator, max_iter) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if (data is None) == (cov is None):
        raise ValueError("give exactly one of data (raw rows) or cov (covariance matrix)")
    if cov is not None and (n_obs is None or n_obs < 2):
        raise ValueError("n_obs (the number of observations behind cov) is required")
    if data is not None and n_obs is not None:
        raise ValueError("n_obs is taken from the rows of data; do not pass it with data")
    if estimator in ("FIML", "MLR") and data is None:
        raise ValueError(f"{estimator} needs the raw rows (data), not a covariance matrix")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")


# --- fit measures and warnings ------------------------------------------------------


def _fit_measures(fitted: sem_semopy.Fitted, moments: Moments, estimator: str) -> dict[str, float]:
    fm = sem_fit_measures
    n, p = moments.n_obs, len(moments.columns)
    k = fitted.n_fixed_x
    n_moments = p * (p + 1) // 2 - k * (k + 1) // 2
    loglik = math.nan
    sample_cov, sample_mean = moments.cov, None
    if estimator == "FIML":
        sample_mean, loglik_h1 = moments.mean, moments.loglik_h1
        cells = int(np.isfinite(moments.rows).sum())
        loglik = -0.5 * (fitted.objective + cells * math.log(2.0 * math.pi))
        chisq = max(2.0 * (loglik_h1 - loglik), 0.0)
        df = n_moments + p - fitted.n_free
        baseline_chisq = 2.0 * (loglik_h1 - fm.fiml_baseline_loglik(moments.rows))
        baseline_df = p * (p - 1) // 2
    elif estimator == "ML":
        chisq = n * fitted.objective
        loglik = fm.saturated_loglik(moments.cov, n) - chisq / 2.0
        df = n_moments - fitted.n_free
        baseline_chisq, baseline_df = fm.ml_baseline(moments.cov, n, fitted.fixed_x)
    elif estimator == "GLS":
        # lavaan 0.6 scales the GLS statistic by N - 1, not N (as its information does):
        # the test, the baseline and the RMSEA with it.
        n_test = n - 1
        chisq = n_test * fitted.objective / 2.0
        df = n_moments - fitted.n_free
        baseline_chisq, baseline_df = fm.gls_baseline(moments.cov, n_test, fitted.fixed_x)
    else:  # ULS: no normal-theory test statistic
        chisq, baseline_chisq = math.nan, math.nan
        df = n_moments - fitted.n_free
        baseline_df = n_moments - (p - k)
    n_rmsea = n - 1 if estimator == "GLS" else n
    low, high = fm.rmsea_ci(chisq, df, n_rmsea)
    aic, bic = fm.information_criteria(loglik, fitted.n_free, n)
    values = {
        "chisq": chisq,
        "df": df,
        "pvalue": fm.chisq_pvalue(chisq, df),
        "cfi": fm.cfi(chisq, df, baseline_chisq, baseline_df),
        "tli": fm.tli(chisq, df, baseline_chisq, baseline_df),
        "rmsea": fm.rmsea(chisq, df, n_rmsea),
        "rmsea_ci_low": low,
        "rmsea_ci_high": high,
        "srmr": fm.srmr(sample_cov, fitted.sigma, sample_mean, fitted.implied_mean),
        "aic": aic,
        "bic": bic,
        "loglik": loglik,
        "baseline_chisq": baseline_chisq,
        "baseline_df": baseline_df,
    }
    if estimator == "ULS":
        values["cfi"] = values["tli"] = math.nan
    return {
        key: int(values[key]) if key in ("df", "baseline_df") else float(values[key])
        for key in _FIT_KEYS
    }


def _collect_warnings(fitted, implied, estimates, information, se, fit, moments, estimator):
    checks = sem_checks
    found = checks.check_convergence(fitted.success, fitted.message, fitted.iterations)
    labels = sem_estimates.free_labels(fitted)
    found += checks.check_identification(fit["df"], information, labels, se)
    found += checks.check_variances(estimates)
    found += checks.check_standardized(estimates)
    inner_cov = implied["inner_cov"]
    latent_index = [fitted.names_inner.index(v) for v in fitted.latents]
    found += checks.check_positive_definite(
        inner_cov[np.ix_(latent_index, latent_index)], fitted.latents, latent=True
    )
    outputs = [i for i, v in enumerate(fitted.names_obs) if v not in fitted.names_inner]
    found += checks.check_positive_definite(
        fitted.matrices["theta"][np.ix_(outputs, outputs)],
        [fitted.names_obs[i] for i in outputs],
        latent=False,
    )
    found += _listwise_deletion(moments.dropped, estimator)
    if estimator == "ULS":
        found.append(
            ModelWarning(
                code="no-test-statistic",
                message="ULS has no normal-theory chi-square: chi-square, RMSEA, CFI, TLI, "
                "log-likelihood, AIC and BIC are not reported.",
                severity="info",
            )
        )
    return found


def _listwise_deletion(dropped: int, estimator: str) -> list[ModelWarning]:
    if not dropped:
        return []
    return [
        ModelWarning(
            code="listwise-deletion",
            message=(
                f"{dropped} rows with missing values were dropped; "
                "estimator='FIML' uses them under missing-at-random."
                if estimator != "FIML"
                else f"{dropped} rows with no observed value were dropped."
            ),
            severity="info",
        )
    ]


def _provenance(estimator: str, moments: Moments, fitted: sem_semopy.Fitted) -> dict[str, Any]:
    return {
        "engine": "sem",
        "estimator": estimator,
        "objective": sem_semopy.OBJECTIVES[estimator],
        "optimizer": "SLSQP",
        "iterations": json_number(fitted.iterations),
        "n_free_parameters": fitted.n_free,
        "rows_dropped": moments.dropped,
        # "covariance", or the sha256 fingerprint of the rows (models.sem_moments).
        "data_sha256": moments.source,
        "semopy": metadata.version("semopy"),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": metadata.version("scipy"),
    }
