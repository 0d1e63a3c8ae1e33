"""Driver importance for importance-performance maps: LMG, relative weights, correlations.

One function per statistic, each taking a DataFrame ``X`` of driver scores (one column per
driver), a target ``y`` and optional respondent ``weights``, and returning a tidy frame with
one row per driver and the columns ``driver, importance`` plus what the method adds. The
frame's ``attrs`` carry ``method``, ``r2`` (where defined), ``n_obs``, ``n_dropped`` and
``weighted``.

All three work from the (weighted) correlation matrix of ``[X, y]``, so they are invariant
to the scale of each driver and of the target.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

__all__ = ["MAX_LMG_PREDICTORS", "correlation_importance", "lmg", "relative_weights"]

#: Largest number of drivers :func:`lmg` accepts: its 2^p subsets need ~0.2 GB at p = 22,
#: and memory doubles with every further driver.
MAX_LMG_PREDICTORS = 22
# Peak bytes per subset in lmg (sweep arrays plus the Shapley combination), measured with
# tracemalloc for p = 17..22 (6.6 MiB at p = 17); the estimate rounds up to 7 doubles.
_BYTES_PER_SUBSET = 56

# A predictor correlation matrix whose smallest eigenvalue is below this fraction of its
# largest (condition number above 1e10) is treated as collinear: R² increments computed
# from it would be dominated by rounding error.
_COLLINEAR_RTOL = 1e-10
_NAN_POLICIES = ("omit", "raise")


def lmg(X, y, weights=None, *, nan_policy: str = "omit") -> pd.DataFrame:
    """Exact LMG (Shapley) decomposition of R² among the drivers.

    Parameters
    ----------
    X : pandas.DataFrame
        Driver scores, one numeric column per driver (at most :data:`MAX_LMG_PREDICTORS`).
    y : array-like or pandas.Series
        Target (e.g. overall satisfaction), one value per row of ``X``. A Series must share
        ``X``'s index.
    weights : array-like or pandas.Series, optional
        Non-negative respondent weights (frequency or sampling weights give the same point
        estimate; rows of weight 0 are ignored). ``None`` weighs every row equally.
    nan_policy : {"omit", "raise"}, default "omit"
        ``"omit"`` drops every row with a missing value in ``X``, ``y`` or ``weights``
        (casewise deletion); ``"raise"`` raises instead.

    Returns
    -------
    pandas.DataFrame
        One row per driver, in ``X``'s column order, with columns ``driver``,
        ``importance`` (the LMG share of R², in R² units; they sum to R²) and ``share``
        (``importance / R²``; sums to 1). ``attrs`` holds ``method="lmg"``, ``r2``,
        ``n_obs``, ``n_dropped`` and ``weighted``.

    Raises
    ------
    ValueError
        For more than :data:`MAX_LMG_PREDICTORS` drivers, a constant column, fewer
        usable rows than drivers + 2, collinear drivers (named), non-numeric or
        infinite values, bad weights, or missing values with ``nan_policy="raise"``.

    See Also
    --------
    relative_weights : Johnson's approximation, for many drivers or speed.
    pingouin.linear_regression : ``relimp=True`` gives the same numbers (unweighted only).

    Notes
    -----
    With :math:`R^2(S)` the R² of the regression of :math:`y` on the drivers in
    :math:`S` (with intercept; :math:`R^2(\\emptyset) = 0`), the LMG importance of driver
    :math:`j` among :math:`p` is the increase in R² when :math:`j` enters, averaged over
    all :math:`p!` orderings of the drivers, i.e. its Shapley value:

    .. math::

        \\mathrm{LMG}_j = \\sum_{S \\subseteq P \\setminus \\{j\\}}
            \\frac{|S|!\\,(p - |S| - 1)!}{p!}\\,\\bigl(R^2(S \\cup \\{j\\}) - R^2(S)\\bigr),
        \\qquad \\sum_j \\mathrm{LMG}_j = R^2(P).

    It is computed exactly, not by sampling orderings. Every :math:`R^2(S)` comes from
    the correlation matrix :math:`C` of :math:`[X, y]` by sweeping: drivers are taken in
    turn; for each, every subset built so far is copied twice, once without the driver
    (its row and column are dropped) and once with it (a Gaussian-elimination step on
    that pivot, :math:`E \\leftarrow E - e_{\\cdot m} e_{m \\cdot} / e_{mm}`, then the
    drop). Each step is one vectorised operation over all subsets, and after the last
    driver each subset holds :math:`1 - R^2(S)`, indexed by its bitmask. The cost is
    about :math:`12 \\cdot 2^p` flops; time and memory double with every driver.
    Peak memory is about 7 doubles (56 bytes) per subset of drivers,
    measured with ``tracemalloc``: 6.6 MiB for 17 drivers, 53 MiB for 20, 212 MiB for
    22 (0.03 s, 0.2 s and 0.8 s on one core). More than :data:`MAX_LMG_PREDICTORS`
    drivers are refused.

    Weighted: :math:`C` is the weighted correlation matrix (weighted means, weights
    normalised to their sum), which equals the unweighted one computed on data where
    each row is repeated as often as its integer weight.

    Validated against ``pingouin.linear_regression(relimp=True)`` (10 drivers, 1e-10)
    and a direct average over all 120 orderings of least-squares fits (5 drivers, 1e-12).

    References
    ----------
    .. [1] Lindeman, R. H., Merenda, P. F. & Gold, R. Z. (1980). *Introduction to
       Bivariate and Multivariate Analysis*. Glenview, IL: Scott, Foresman.
    .. [2] Grömping, U. (2006). Relative importance for linear regression in R: the
       package relaimpo. *Journal of Statistical Software*, 17(1), 1-27.
       https://doi.org/10.18637/jss.v017.i01

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scoring.importance import lmg
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame(rng.normal(size=(500, 3)), columns=["network", "billing", "hall"])
    >>> y = 0.5 * X["network"] + 0.3 * X["billing"] + rng.normal(size=500)
    >>> lmg(X, y).round(3)
        driver  importance  share
    0  network       0.206  0.830
    1  billing       0.031  0.126
    2     hall       0.011  0.044
    """
    names = _driver_names(X)
    if len(names) > MAX_LMG_PREDICTORS:
        raise ValueError(
            f"lmg enumerates all 2^p subsets of the drivers; {len(names)} drivers would need "
            f"about {_lmg_peak_bytes(len(names)) / 2**30:.1f} GiB and "
            f"{2 ** (len(names) - 17) * 0.03:.0f}+ s. At most {MAX_LMG_PREDICTORS} drivers are "
            "accepted: group drivers, or use relative_weights(), which scales to many."
        )
    corr, n_obs, n_dropped, weighted = _correlation(X, y, weights, nan_policy, names)
    _check_rank(corr, names)
    r2_subsets = _subset_r2(corr)
    importance = _shapley(r2_subsets, len(names))
    r2 = float(r2_subsets[-1])
    frame = pd.DataFrame({"driver": names, "importance": importance, "share": importance / r2})
    frame.attrs.update(method="lmg", r2=r2, n_obs=n_obs, n_dropped=n_dropped, weighted=weighted)
    return frame


def relative_weights(X, y, weights=None, *, nan_policy: str = "omit") -> pd.DataFrame:
    """Johnson's relative weights: R² split through an orthogonal counterpart of ``X``.

    Parameters
    ----------
    X : pandas.DataFrame
        Driver scores, one numeric column per driver.
    y : array-like or pandas.Series
        Target, one value per row of ``X``. A Series must share ``X``'s index.
    weights : array-like or pandas.Series, optional
        Non-negative respondent weights; ``None`` weighs every row equally.
    nan_policy : {"omit", "raise"}, default "omit"
        ``"omit"`` drops rows with a missing value (casewise deletion); ``"raise"`` raises.

    Returns
    -------
    pandas.DataFrame
        One row per driver with columns ``driver``, ``importance`` (raw relative weight,
        in R² units; they sum to R²) and ``share`` (``importance / R²``, Johnson's
        "rescaled" weight). ``attrs`` as in :func:`lmg`, with
        ``method="relative_weights"``.

    Raises
    ------
    ValueError
        As :func:`lmg` (except the limit on the number of drivers).

    See Also
    --------
    lmg : the exact Shapley decomposition these weights approximate.

    Notes
    -----
    With :math:`R_{xx} = V \\Lambda V^\\top` the eigendecomposition of the drivers'
    correlation matrix and :math:`r_{xy}` their correlations with :math:`y`, the
    orthogonal variables :math:`Z = X R_{xx}^{-1/2}` closest to :math:`X` (least squares)
    relate to :math:`X` through :math:`\\Lambda^* = V \\Lambda^{1/2} V^\\top` and to
    :math:`y` through :math:`\\beta = \\Lambda^{*-1} r_{xy}`. Then

    .. math::

        \\varepsilon_j = \\sum_k \\Lambda^{*2}_{jk}\\, \\beta_k^2, \\qquad
        \\sum_j \\varepsilon_j = \\beta^\\top \\beta = r_{xy}^\\top R_{xx}^{-1} r_{xy} = R^2.

    It costs one eigendecomposition of a :math:`p \\times p` matrix. Relative weights
    usually rank drivers as :func:`lmg` does (rank correlation about 0.99) but are not a
    Shapley decomposition; they are validated here by summing to R² (1e-12) and by
    their agreement with LMG on simulated data.

    References
    ----------
    .. [1] Johnson, J. W. (2000). A heuristic method for estimating the relative weight
       of predictor variables in multiple regression. *Multivariate Behavioral
       Research*, 35(1), 1-19. https://doi.org/10.1207/S15327906MBR3501_1
    """
    names = _driver_names(X)
    corr, n_obs, n_dropped, weighted = _correlation(X, y, weights, nan_policy, names)
    eigenvalues, vectors = _check_rank(corr, names)
    rxx, rxy = corr[:-1, :-1], corr[:-1, -1]
    lam = (vectors * np.sqrt(eigenvalues)) @ vectors.T
    beta = ((vectors / np.sqrt(eigenvalues)) @ vectors.T) @ rxy
    importance = (lam**2) @ (beta**2)
    r2 = float(rxy @ np.linalg.solve(rxx, rxy))
    frame = pd.DataFrame({"driver": names, "importance": importance, "share": importance / r2})
    frame.attrs.update(
        method="relative_weights", r2=r2, n_obs=n_obs, n_dropped=n_dropped, weighted=weighted
    )
    return frame


def correlation_importance(X, y, weights=None, *, nan_policy: str = "omit") -> pd.DataFrame:
    """Zero-order (bivariate) correlation of each driver with the target.

    Parameters
    ----------
    X, y, weights
        Driver scores, target and respondent weights, as in :func:`relative_weights`.
    nan_policy : {"omit", "raise"}, default "omit"
        ``"omit"`` drops rows with a missing value in ``X``, ``y`` or ``weights``
        (casewise deletion, so every correlation uses the same rows); ``"raise"`` raises.

    Returns
    -------
    pandas.DataFrame
        One row per driver with columns ``driver``, ``importance`` (the zero-order
        Pearson correlation :math:`r_j`, signed), ``correlation`` (the same :math:`r_j`,
        under its own name) and ``correlation_squared`` (:math:`r_j^2`). ``attrs`` holds
        ``method="zero-order correlation"``, ``n_obs``, ``n_dropped`` and ``weighted``.

    Raises
    ------
    ValueError
        For a constant column, fewer than 3 usable rows, non-numeric or infinite values,
        bad weights, or missing values with ``nan_policy="raise"``. Collinear drivers are
        allowed: nothing is inverted.

    See Also
    --------
    lmg, relative_weights : decompositions of the multiple-regression R².

    Notes
    -----
    .. math::

        r_j = \\frac{\\sum_i w_i (x_{ij} - \\bar x_j)(y_i - \\bar y)}
                   {\\sqrt{\\sum_i w_i (x_{ij} - \\bar x_j)^2 \\sum_i w_i (y_i - \\bar y)^2}},
        \\qquad \\bar x_j = \\frac{\\sum_i w_i x_{ij}}{\\sum_i w_i}.

    These are not a decomposition of R²: with correlated drivers the :math:`r_j^2` sum
    to more (or less) than the R² of the joint regression, and a driver that merely
    travels with an important one looks important too.

    References
    ----------
    .. [1] Grömping, U. (2006). Relative importance for linear regression in R: the
       package relaimpo. *Journal of Statistical Software*, 17(1), 1-27 (the ``first``
       metric). https://doi.org/10.18637/jss.v017.i01
    """
    names = _driver_names(X)
    corr, n_obs, n_dropped, weighted = _correlation(X, y, weights, nan_policy, names, min_rows=3)
    r = corr[:-1, -1].copy()
    frame = pd.DataFrame(
        {"driver": names, "importance": r, "correlation": r, "correlation_squared": r**2}
    )
    frame.attrs.update(
        method="zero-order correlation", n_obs=n_obs, n_dropped=n_dropped, weighted=weighted
    )
    return frame


def _driver_names(X) -> list[str]:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame of driver scores, not {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError("X has no driver columns")
    names = [str(c) for c in X.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"duplicated driver names in X: {', '.join(duplicated)}")
    not_numeric = [
        str(c)
        for c in X.columns
        if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
    ]
    if not_numeric:
        raise ValueError(f"driver columns must be numeric: {', '.join(not_numeric)}")
    return names


def _as_vector(values, index: pd.Index, what: str) -> np.ndarray:
    # A Series is aligned by label elsewhere in pandas; here rows are matched by position,
    # so a Series with another index would silently pair the wrong respondents.
    if isinstance(values, pd.Series) and not values.index.equals(index):
        raise ValueError(f"{what} is a Series whose index differs from X's; align it first")
    try:
        if isinstance(values, pd.Series):
            # Nullable dtypes (Int64, Float64) hold pd.NA, which asarray cannot turn into NaN.
            vector = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            vector = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be numeric: {error}") from None
    if vector.ndim != 1 or len(vector) != len(index):
        raise ValueError(
            f"{what} must be one-dimensional with one value per row of X "
            f"({len(index)}), got shape {vector.shape}"
        )
    return vector


def _correlation(X, y, weights, nan_policy, names, min_rows=None):
    """Weighted correlation matrix of ``[X, y]`` (target last) on the usable rows."""
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, not {nan_policy!r}")
    p = len(names)
    data = np.column_stack([X.to_numpy(dtype=float, na_value=np.nan), _as_vector(y, X.index, "y")])
    w = None if weights is None else _as_vector(weights, X.index, "weights")
    missing = np.isnan(data).any(axis=1)
    if w is not None:
        missing |= np.isnan(w)
    n_dropped = int(missing.sum())
    if n_dropped and nan_policy == "raise":
        counts = {
            n: int(c) for n, c in zip([*names, "y"], np.isnan(data).sum(axis=0), strict=True) if c
        }
        if w is not None and np.isnan(w).any():
            counts["weights"] = int(np.isnan(w).sum())
        raise ValueError(
            f"rows with missing values: {n_dropped} (per column: {counts}); drop them or "
            "use nan_policy='omit'"
        )
    data = data[~missing]
    if not np.isfinite(data).all():
        bad = [
            n for n, ok in zip([*names, "y"], np.isfinite(data).all(axis=0), strict=True) if not ok
        ]
        raise ValueError(f"infinite values in: {', '.join(bad)}")
    if w is not None:
        w = w[~missing]
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("weights must be finite and non-negative")
        # Zero-weight rows carry no information; dropping them keeps the row count and the
        # constant-column check about the respondents that count.
        data, w = data[w > 0], w[w > 0]
    n_obs = len(data)
    needed = p + 2 if min_rows is None else min_rows
    if n_obs < needed:
        raise ValueError(
            f"{n_obs} usable rows (after dropping {n_dropped} with missing values) for "
            f"{p} drivers; at least {needed} are needed"
        )
    constant = [n for n, r in zip([*names, "y"], np.ptp(data, axis=0), strict=True) if r == 0]
    if constant:
        raise ValueError(
            f"constant columns explain nothing and have no correlation: {', '.join(constant)}"
        )
    if w is None:
        centred = data - data.mean(axis=0)
        cov = centred.T @ centred
    else:
        centred = data - (w @ data) / w.sum()
        cov = (centred * w[:, None]).T @ centred
    scale = np.sqrt(np.diag(cov))
    corr = cov / np.outer(scale, scale)
    np.fill_diagonal(corr, 1.0)
    return corr, n_obs, n_dropped, w is not None


def _check_rank(corr, names):
    """Eigendecomposition of the drivers' correlation matrix; collinear drivers raise."""
    eigenvalues, vectors = np.linalg.eigh(corr[:-1, :-1])
    small = eigenvalues < _COLLINEAR_RTOL * eigenvalues[-1]
    if small.any():
        # The eigenvectors of the (near-)null eigenvalues hold the coefficients of the
        # linear combinations that are (nearly) constant: their non-zero entries name
        # the drivers involved.
        involved = np.abs(vectors[:, small]).max(axis=1) > 1e-3
        listed = ", ".join(n for n, hit in zip(names, involved, strict=True) if hit)
        raise ValueError(
            f"collinear drivers: {listed} (one is, or nearly is, a linear combination of "
            f"the others; smallest eigenvalue of their correlation matrix "
            f"{eigenvalues[0]:.1e}). Drop or merge one of them."
        )
    return eigenvalues, vectors


def _subset_r2(corr: np.ndarray) -> np.ndarray:
    """R² of every subset of drivers, indexed by bitmask (bit j set: driver j in).

    ``corr`` is the correlation matrix of ``[X, y]`` with the target last. Driver m is
    eliminated at step m: each matrix of the previous step (residual correlations of
    drivers m..p-1 and y given a subset of drivers 0..m-1) yields one child without m
    (row and column dropped) and one with m (pivot on m, then drop).
    """
    p = corr.shape[0] - 1
    residual = corr[None, :, :]
    for _ in range(p):
        half, q = residual.shape[0], residual.shape[1]
        children = np.empty((2 * half, q - 1, q - 1))
        rest = residual[:, 1:, 1:]
        children[:half] = rest
        with_m = children[half:]
        factor = residual[:, 1:, 0] / residual[:, 0, 0][:, None]
        np.multiply(factor[:, :, None], residual[:, None, 0, 1:], out=with_m)
        np.subtract(rest, with_m, out=with_m)
        residual = children
    return 1.0 - residual[:, 0, 0]


def _shapley(r2: np.ndarray, p: int) -> np.ndarray:
    """Shapley values of the R² game given by ``r2`` (indexed by bitmask)."""
    sizes = np.zeros(1, dtype=np.int8)
    for _ in range(p):
        sizes = np.concatenate([sizes, sizes + 1])
    # Weight of a coalition of size k not containing j: k! (p - k - 1)! / p!.
    per_size = np.array([1.0 / (p * comb(p - 1, k)) for k in range(p)] + [0.0])
    weight = per_size[sizes]
    values = np.empty(p)
    for j in range(p):
        # Bitmask i with bit j clear and i | 2^j sit at [a, 0, b] and [a, 1, b].
        r2_j = r2.reshape(-1, 2, 2**j)
        values[j] = np.sum(weight.reshape(-1, 2, 2**j)[:, 0, :] * (r2_j[:, 1, :] - r2_j[:, 0, :]))
    return values


def _lmg_peak_bytes(p: int) -> int:
    """Peak memory of :func:`lmg` for ``p`` drivers, from tracemalloc measurements."""
    return _BYTES_PER_SUBSET * 2**p
