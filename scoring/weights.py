"""Respondent weights: raking to population margins, and Kish's design effect of weighting.

A survey sample never mirrors the customer base: five-star customers answer more often
than one-star ones, a CATI wave reaches one region better than another. :func:`rake`
adjusts respondent weights so that the weighted sample reproduces known population
counts (margins) taken from the sample frame, e.g. customers per tier and per region, or
per tier x region jointly. :func:`kish_effective_n` and :func:`design_effect` say what the
weighting costs in precision.

Errors are :class:`RakingError` with a stable kebab-case ``code`` that the API and the
command line can act on, a message naming the margin and categories concerned, and a fix.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.margins import (
    MARGIN_COLUMNS,
    MarginKey,
    RakingError,
    base_weights_of,
    check_cells,
    margin_table,
    prepare_margin,
    relative_error,
    scale_targets,
)

__all__ = [
    "MARGIN_COLUMNS",
    "RakeResult",
    "RakingError",
    "design_effect",
    "kish_effective_n",
    "rake",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RakeResult:
    """Raked respondent weights and how well they reproduce the margins.

    Attributes
    ----------
    weights : pandas.Series
        One weight per respondent, indexed like the sample, named ``"weight"``. Weights
        sum to the population total (count margins) or to the sum of the base weights
        (share margins only).
    iterations : int
        Full sweeps over the margins performed.
    max_relative_error : float
        Largest ``|achieved - target| / target`` over all margin cells with a positive
        target, at the end.
    margins : pandas.DataFrame
        ``MARGIN_COLUMNS``: per margin and category, the respondents ``n``, the ``target``
        population count and the weighted count ``achieved``. ``category`` holds a tuple
        for a joint margin.
    n_trimmed : int
        Respondents whose weight sits at the cap (0 without a cap).
    effective_n : float
        Kish's effective sample size of the weights.
    design_effect : float
        Kish's design effect due to weighting, ``n / effective_n``.
    warnings : tuple of str
        Things a researcher should know, e.g. respondents given weight 0 because their
        category has no population.
    """

    weights: pd.Series
    iterations: int
    max_relative_error: float
    margins: pd.DataFrame
    n_trimmed: int
    effective_n: float
    design_effect: float
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- Kish


def _weight_array(weights: object) -> FloatArray:
    """``weights`` as a 1-D float array, refusing NaN, infinite and negative values."""
    values = np.asarray(weights, dtype="float64")
    if values.ndim != 1:
        raise ValueError(f"weights must be one-dimensional, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("weights contain NaN or infinite values; every respondent needs a weight")
    if np.any(values < 0):
        raise ValueError("weights contain negative values; weights must be >= 0")
    return values


def kish_effective_n(weights: Sequence[float] | npt.ArrayLike) -> float:
    """Kish's effective sample size of a set of weights.

    Parameters
    ----------
    weights : array-like of float
        Non-negative respondent weights. Respondents with weight 0 contribute nothing.

    Returns
    -------
    float
        ``(sum w)^2 / sum w^2``; NaN when no weight is positive.

    See Also
    --------
    design_effect : ``n / effective_n``.

    Notes
    -----
    The effective sample size is the size of a simple random sample giving a mean with the
    same variance as the weighted mean, under Kish's assumption that the weights are
    unrelated to the values measured:

    .. math:: n_{\\mathrm{eff}} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2}

    It equals ``n`` for equal weights and is never larger than the number of positive
    weights (Cauchy-Schwarz).

    References
    ----------
    Kish, L. (1965). *Survey Sampling*. New York: Wiley, section 11.7.
    Kish, L. (1992). Weighting for unequal P_i. *Journal of Official Statistics*, 8(2),
    183-200.

    Examples
    --------
    >>> kish_effective_n([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> kish_effective_n([1.0, 3.0])
    1.6
    """
    values = _weight_array(weights)
    sum_squares = float(np.sum(values**2))
    if sum_squares == 0.0:
        return float("nan")
    return float(np.sum(values) ** 2 / sum_squares)


def design_effect(weights: Sequence[float] | npt.ArrayLike) -> float:
    """Kish's design effect due to unequal weighting.

    Parameters
    ----------
    weights : array-like of float
        Non-negative respondent weights.

    Returns
    -------
    float
        ``n * sum w^2 / (sum w)^2`` with ``n`` the number of positive weights; NaN when
        no weight is positive.

    See Also
    --------
    kish_effective_n : ``n / design_effect``.

    Notes
    -----
    .. math:: \\mathrm{deff} = \\frac{n \\sum_i w_i^2}{(\\sum_i w_i)^2}
              = 1 + \\mathrm{cv}^2(w)

    with :math:`\\mathrm{cv}` the coefficient of variation of the weights (population
    form, divisor ``n``). It is 1 for equal weights and grows with their spread; a mean's
    variance is inflated by this factor when the weights are unrelated to the values.
    A respondent weighted 0 (a category with no population) is not counted in ``n``:
    they are outside the estimate, not a respondent whose weight is unequal.

    References
    ----------
    Kish (1965, section 11.7; 1992), cited in full under :func:`kish_effective_n`.

    Examples
    --------
    >>> design_effect([2.0, 2.0, 2.0])
    1.0
    >>> design_effect([1.0, 3.0])
    1.25
    """
    values = _weight_array(weights)
    n_positive = int(np.count_nonzero(values))
    if n_positive == 0:
        return float("nan")
    return float(n_positive * np.sum(values**2) / np.sum(values) ** 2)


# --------------------------------------------------------------------------- raking


def rake(
    sample: pd.DataFrame,
    margins: Mapping[MarginKey, pd.Series | Mapping[Hashable, float]],
    *,
    base_weights: str | npt.ArrayLike | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
    cap: float | None = None,
) -> RakeResult:
    """Rake respondent weights to population margins (iterative proportional fitting).

    Parameters
    ----------
    sample : pandas.DataFrame
        One row per respondent, with the columns the margins name.
    margins : mapping
        Column name (or tuple of column names, for a joint margin) to a Series of
        population counts or shares indexed by category (a MultiIndex for a joint margin),
        e.g. ``{"tier": frame.groupby("tier").size(), ("region", "channel"): ...}``. A
        margin summing to 1 is read as shares. Count margins must agree on the population
        total (to a relative 1e-6); share margins are scaled to it, or, when every margin
        is a share, to the sum of the base weights.
    base_weights : str or array-like, optional
        Design weights to start from: a column of ``sample`` or one value per respondent.
        Default: 1 for everyone.
    max_iter : int, default 100
        Maximum number of full sweeps over the margins.
    tol : float, default 1e-8
        Convergence when every margin cell with a positive target is reproduced to this
        relative error, ``|achieved - target| / target <= tol``.
    cap : float, optional
        Trim weights at ``cap`` times the mean weight (e.g. 5), re-raking after each trim
        so that the margins still hold. Must exceed 1.

    Returns
    -------
    RakeResult
        The weights, iterations, the margin table and Kish's effective n and design effect.

    Raises
    ------
    RakingError
        ``code`` says why: ``"unknown-column"``, ``"missing-category"`` (a respondent with
        no value), ``"unknown-category"`` (a respondent category absent from a margin),
        ``"empty-cell"`` (a category with population but no respondent), ``"invalid-margin"``,
        ``"inconsistent-totals"``, ``"invalid-weights"``, ``"invalid-argument"``,
        ``"not-converged"`` (margins not met within ``max_iter`` sweeps, e.g. margins that
        contradict each other or a cap too tight to be met).

    See Also
    --------
    design_effect, kish_effective_n

    Notes
    -----
    Each sweep visits the margins in turn and multiplies the weights of the respondents
    in category :math:`c` of margin :math:`m` by :math:`T_{mc} / \\sum_{i \\in c} w_i`
    (Deming and Stephan 1940). At convergence the weights are the base weights times a
    product of one factor per margin category: the raking-ratio calibration estimator,
    which minimises the Kullback-Leibler distance :math:`\\sum_i w_i \\log(w_i/d_i) - w_i
    + d_i` to the base weights :math:`d_i` subject to the margins (Deville and Särndal
    1992; Deville, Särndal and Sautory 1993). A single joint margin is post-stratification.

    With a cap, weights above ``cap * mean(w)`` are set to it after every sweep and the
    next sweep restores the margins; the loop ends when both the margins and the cap hold
    (the practice of the ANES raking procedure, DeBell and Krosnick 2009). Trimming moves
    weight to untrimmed respondents of the same categories, so it cannot meet a cap below
    what the margins require: that is reported as ``"not-converged"``.

    Validated against a direct Newton solve of the calibration equations (Deville and
    Särndal's dual) for overlapping one-way and joint margins, the closed-form 2 x 2
    solution (the sample odds ratio is preserved, leaving a quadratic), and
    post-stratification counts, to 1e-9 relative (``tests/unit/scoring/test_weights.py``).

    References
    ----------
    Deming, W. E., & Stephan, F. F. (1940). On a least squares adjustment of a sampled
    frequency table when the expected marginal totals are known. *The Annals of
    Mathematical Statistics*, 11(4), 427-444. https://doi.org/10.1214/aoms/1177731829
    Deville, J.-C., & Särndal, C.-E. (1992). Calibration estimators in survey sampling.
    *Journal of the American Statistical Association*, 87(418), 376-382.
    https://doi.org/10.1080/01621459.1992.10475217
    Deville, J.-C., Särndal, C.-E., & Sautory, O. (1993). Generalized raking procedures in
    survey sampling. *Journal of the American Statistical Association*, 88(423),
    1013-1020. https://doi.org/10.1080/01621459.1993.10476369
    DeBell, M., & Krosnick, J. A. (2009). *Computing weights for American National
    Election Study survey data* (ANES Technical Report nes012427).

    Examples
    --------
    >>> import pandas as pd
    >>> sample = pd.DataFrame({"tier": [1, 1, 1, 2], "region": ["a", "b", "a", "b"]})
    >>> result = rake(sample, {"tier": pd.Series({1: 50, 2: 50}),
    ...                        "region": pd.Series({"a": 40, "b": 60})})
    >>> result.weights.round(6).tolist()
    [20.0, 10.0, 20.0, 50.0]
    """
    if not isinstance(sample, pd.DataFrame):
        raise TypeError(f"sample must be a pandas DataFrame, not {type(sample)!r}")
    if not isinstance(margins, Mapping) or not margins:
        raise RakingError(
            "invalid-margin",
            "no margins given",
            "pass a mapping such as {'tier': frame.groupby('tier').size()}",
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise RakingError("invalid-argument", f"max_iter={max_iter!r}", "give an integer >= 1")
    if not (np.isfinite(tol) and tol > 0):
        raise RakingError("invalid-argument", f"tol={tol!r}", "give a positive tolerance")
    if cap is not None and not (np.isfinite(cap) and cap > 1):
        raise RakingError(
            "invalid-argument",
            f"cap={cap!r}",
            "give the largest weight allowed as a multiple of the mean weight, above 1 "
            "(e.g. 5), or None",
        )
    if len(sample) == 0:
        raise RakingError("empty-cell", "the sample has no respondents", "rake a non-empty sample")

    base = base_weights_of(sample, base_weights)
    prepared = [prepare_margin(sample, key, margin) for key, margin in margins.items()]
    targets = scale_targets(prepared, float(base.sum()))
    notes = check_cells(targets, base)

    weights = base.copy()
    iterations = 0
    error = np.inf
    capped = np.zeros(len(weights), dtype=bool)
    while iterations < max_iter:
        iterations += 1
        for margin in targets:
            achieved = np.bincount(margin.codes, weights=weights, minlength=len(margin.target))
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(achieved > 0, margin.target / achieved, 0.0)
            weights = weights * factor[margin.codes]
        capped[:] = False
        if cap is not None:
            limit = cap * weights[weights > 0].mean()
            capped = weights > limit * (1 + tol)
            weights = np.minimum(weights, limit)
        error = relative_error(targets, weights)
        if error <= tol and not capped.any():
            break
    else:
        reason = (
            f"the cap of {cap} x the mean weight still binds on {int(capped.sum())} respondent(s)"
            if capped.any()
            else "the margins may contradict each other or a cell pattern makes them unreachable"
        )
        raise RakingError(
            "not-converged",
            f"raking did not converge in {max_iter} sweeps: largest relative margin error "
            f"{error:.3g} > tol={tol:g}; {reason}",
            "raise max_iter, loosen or drop the cap, or collapse sparse categories",
        )

    table = margin_table(targets, weights)
    at_cap = 0
    if cap is not None:
        at_cap = int(np.sum(weights >= cap * weights[weights > 0].mean() * (1 - tol)))
    return RakeResult(
        weights=pd.Series(weights, index=sample.index, name="weight"),
        iterations=iterations,
        max_relative_error=error,
        margins=table,
        n_trimmed=at_cap,
        effective_n=kish_effective_n(weights),
        design_effect=design_effect(weights),
        warnings=tuple(notes),
    )
