"""Reliability of measurement blocks: Cronbach's alpha, rho_A, rho_C and AVE.

Every function takes plain inputs so that it works with any engine (PLS, covariance-based
SEM, or none): a DataFrame of indicators in which NaN means "cannot answer", a ``blocks``
mapping from construct to its indicator columns and, where the statistic needs them, the
outer loadings or weights as a matrix with one row per indicator and one column per
construct (the layout of seminr's and SmartPLS's ``outer_loadings``/``outer_weights``).

Missing answers are handled pairwise: every covariance or correlation uses the respondents
who answered both indicators. That keeps every answer a respondent gave, at the price of a
matrix that may not be positive semi-definite when answers are missing in large numbers.

Each function returns a DataFrame indexed by ``construct``. Reliability is not defined for a
single-item construct (there is nothing to check the item against), so its row holds NaN
rather than the meaningless 1 that seminr and SmartPLS print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["Blocks", "ave", "cronbach_alpha", "rho_a", "rho_c"]

Blocks = Mapping[str, Sequence[str]]

# Correlations from fewer joint answers than this are too unstable to report.
_MIN_PAIRWISE_N = 3


# --------------------------------------------------------------------------- input checks
# Shared with models.validity and models.quality (same package, same input conventions).


def _check_blocks(blocks: Blocks) -> dict[str, list[str]]:
    """Return ``blocks`` as a plain dict of lists, refusing malformed blocks."""
    if not isinstance(blocks, Mapping) or not blocks:
        raise ValueError(
            "blocks must be a non-empty mapping from construct to its indicator columns, "
            "e.g. {'Satisfaction': ['sat1', 'sat2', 'sat3']}"
        )
    checked: dict[str, list[str]] = {}
    for construct, items in blocks.items():
        # A bare string is a Sequence too: 'sat1' would silently become ['s', 'a', 't', '1'].
        if isinstance(items, str):
            raise ValueError(
                f"block {construct!r} is the string {items!r}; give a list of column names, "
                f"e.g. [{items!r}]"
            )
        items = list(items)
        if not items:
            raise ValueError(
                f"block {construct!r} has no indicators; give at least one column or remove "
                "the construct"
            )
        repeated = sorted({item for item in items if items.count(item) > 1})
        if repeated:
            raise ValueError(f"block {construct!r} lists {repeated} more than once; list each once")
        checked[construct] = items
    return checked


def _block_items(blocks: Mapping[str, list[str]]) -> list[str]:
    """All indicators of all blocks, each once, in block order."""
    return list(dict.fromkeys(item for items in blocks.values() for item in items))


def _indicator_frame(frame: pd.DataFrame, blocks: Mapping[str, list[str]]) -> pd.DataFrame:
    """The indicators named by ``blocks`` as float64 columns (NaN = no answer)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame of indicators, not {type(frame)!r}")
    for construct, items in blocks.items():
        absent = [item for item in items if item not in frame.columns]
        if absent:
            shown = list(frame.columns[:20]) + (["..."] if frame.shape[1] > 20 else [])
            raise ValueError(
                f"block {construct!r} names columns that are not in the frame: {absent}; "
                f"fix the block or add the columns (the frame has {shown})"
            )
    return _numeric(frame[_block_items(blocks)], "frame")


def _numeric(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` as float64, refusing text columns rather than guessing a coding."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise ValueError(
                f"column {column!r} of {name} is not numeric (dtype {frame[column].dtype}); "
                "recode answers as numbers and 'cannot answer' as NaN"
            )
    # Nullable integer columns (Int64 with pd.NA) become float64 with NaN here.
    return frame.astype("float64")


def _block_vector(matrix: pd.DataFrame, construct: str, items: list[str], name: str) -> np.ndarray:
    """The ``items`` x ``construct`` entries of a loadings or weights matrix."""
    if not isinstance(matrix, pd.DataFrame):
        raise TypeError(
            f"{name} must be a DataFrame with one row per indicator and one column per "
            f"construct (as seminr's outer_{name}), not {type(matrix)!r}"
        )
    if construct not in matrix.columns:
        raise ValueError(
            f"{name} has no column for construct {construct!r}; its columns are "
            f"{list(matrix.columns)}"
        )
    absent = [item for item in items if item not in matrix.index]
    if absent:
        raise ValueError(
            f"{name} has no row for indicators {absent} of construct {construct!r}; pass the "
            "matrix estimated for these blocks"
        )
    values = matrix.loc[items, construct].to_numpy(dtype="float64")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} of construct {construct!r} contain NaN or infinite values")
    return values


# --------------------------------------------------------------------------- moments


def _complete_moments(data: pd.DataFrame, *, correlation: bool) -> pd.DataFrame | None:
    """The same matrix as pandas' pairwise one when no cell is missing, by one BLAS product
    (pandas' pairwise loop takes 40 ms per call on 200,000 rows); None otherwise."""
    values = data.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) < _MIN_PAIRWISE_N or np.isnan(values).any():
        return None
    centred = values - values.mean(axis=0)
    matrix = centred.T @ centred / (len(values) - 1)
    if correlation:
        sd = np.sqrt(np.diag(matrix))
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.where(np.outer(sd, sd) > 0, matrix / np.outer(sd, sd), np.nan)
        np.fill_diagonal(matrix, np.where(sd > 0, 1.0, np.nan))
    return pd.DataFrame(matrix, index=data.columns, columns=data.columns)


def _undefined_pair(matrix: pd.DataFrame) -> tuple[str, str] | None:
    """The first pair of indicators whose covariance/correlation is NaN, if any."""
    rows, cols = np.nonzero(matrix.isna().to_numpy())
    if rows.size == 0:
        return None
    return str(matrix.index[rows[0]]), str(matrix.columns[cols[0]])


def _correlations(data: pd.DataFrame) -> pd.DataFrame:
    """Pairwise-complete Pearson correlations, refusing cells that are undefined."""
    corr = _complete_moments(data, correlation=True)
    if corr is None:
        corr = data.corr(min_periods=_MIN_PAIRWISE_N)
    pair = _undefined_pair(corr)
    if pair is not None:
        a, b = pair
        what = f"indicator {a!r}" if a == b else f"indicators {a!r} and {b!r}"
        raise ValueError(
            f"the correlation of {what} is undefined: fewer than {_MIN_PAIRWISE_N} respondents "
            "answered both, or the answers do not vary; drop the indicator or collect more "
            "answers"
        )
    return corr


def _covariances(data: pd.DataFrame) -> pd.DataFrame:
    """Pairwise-complete covariances (n - 1 denominator), refusing undefined cells."""
    cov = _complete_moments(data, correlation=False)
    if cov is None:
        cov = data.cov(min_periods=_MIN_PAIRWISE_N)
    pair = _undefined_pair(cov)
    if pair is not None:
        raise ValueError(
            f"the covariance of indicators {pair[0]!r} and {pair[1]!r} is undefined: fewer "
            f"than {_MIN_PAIRWISE_N} respondents answered both; collect more answers or drop one"
        )
    return cov


def _alpha_from_matrix(matrix: np.ndarray, construct: str) -> float:
    """Cronbach's alpha from a covariance (raw) or correlation (standardized) matrix."""
    k = matrix.shape[0]
    total = float(matrix.sum())
    if total <= 0.0:
        raise ValueError(
            f"the sum score of construct {construct!r} has no variance, so alpha is undefined; "
            "check that its indicators vary and are coded in the same direction"
        )
    return k / (k - 1) * (1.0 - float(np.trace(matrix)) / total)


def _complete_rows(data: pd.DataFrame) -> int:
    return int(data.notna().all(axis=1).sum())


def _per_construct(
    blocks: dict[str, list[str]],
    column: str,
    value_of: Callable[[str, list[str]], float],
) -> pd.DataFrame:
    """``column`` and ``n_items`` per construct, ``value_of(construct, items)`` or NaN.

    NaN for a single-item block: there is nothing to check the item against (see the
    module docstring), so ``value_of`` is only called for two or more items.
    """
    rows = []
    for construct, items in blocks.items():
        value = value_of(construct, items) if len(items) > 1 else np.nan
        rows.append({"construct": construct, column: value, "n_items": len(items)})
    return pd.DataFrame(rows).set_index("construct")


# --------------------------------------------------------------------------- statistics


def cronbach_alpha(frame: pd.DataFrame, blocks: Blocks, standardized: bool = False) -> pd.DataFrame:
    r"""Cronbach's alpha of each construct's indicators.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per indicator, one row per respondent; NaN means "cannot answer".
    blocks : Mapping[str, Sequence[str]]
        Construct name -> its indicator columns in ``frame``.
    standardized : bool, default False
        False: raw alpha from the covariance matrix (Cronbach 1951, as pingouin and
        ``psych::alpha``'s ``raw_alpha``). True: standardized alpha from the correlation
        matrix, which is what seminr and SmartPLS report because they standardize the
        indicators first.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``construct``, with columns ``alpha``, ``variant`` (``"raw"`` or
        ``"standardized"``), ``n_items`` and ``n_complete`` (respondents who answered every
        item of the block). ``alpha`` is NaN for a single-item construct.

    See Also
    --------
    rho_a, rho_c : reliability coefficients that do not assume equal loadings.

    Notes
    -----
    With :math:`k` items and covariance (or correlation) matrix :math:`S`,

    .. math:: \alpha = \frac{k}{k-1}
              \left(1 - \frac{\operatorname{tr} S}{\mathbf 1' S \mathbf 1}\right).

    On a correlation matrix this equals :math:`k\bar r / (1 + (k-1)\bar r)` with
    :math:`\bar r` the mean inter-item correlation. Each cell of :math:`S` uses the
    respondents who answered both items (pairwise deletion, pingouin's default
    ``nan_policy="pairwise"``). Alpha is a lower bound to reliability when loadings differ
    and can be negative when items are coded in opposite directions.

    Validated against ``pingouin.cronbach_alpha`` (raw, to 1e-12) and seminr's reliability
    table on the ECSI ``mobi`` data (standardized, to 1e-6).

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    Psychometrika, 16(3), 297-334. doi:10.1007/BF02310555
    """
    checked = _check_blocks(blocks)
    data = _indicator_frame(frame, checked)
    moments = _correlations if standardized else _covariances
    rows = []
    for construct, items in checked.items():
        value = np.nan
        if len(items) > 1:
            value = _alpha_from_matrix(moments(data[items]).to_numpy(), construct)
        rows.append(
            {
                "construct": construct,
                "alpha": value,
                "variant": "standardized" if standardized else "raw",
                "n_items": len(items),
                "n_complete": _complete_rows(data[items]),
            }
        )
    return pd.DataFrame(rows).set_index("construct")


def _rho_a_value(weights: np.ndarray, corr: np.ndarray, construct: str) -> float:
    """Dijkstra-Henseler rho_A of one block (see :func:`rho_a` for the formula)."""
    composite_variance = float(weights @ corr @ weights)
    if composite_variance <= 0.0:
        raise ValueError(
            f"the weights of construct {construct!r} give a composite with no variance; pass "
            "the outer weights estimated for this block"
        )
    # PLS scales weights so the composite of standardized indicators has unit variance, and
    # rho_A is only meaningful on that scale; rescaling makes the result the same whether an
    # engine hands over those weights or, say, weights normalised to sum to one.
    w = weights / np.sqrt(composite_variance)
    wtw = float(w @ w)
    off_diagonal_corr = float(w @ corr @ w - np.sum(w * w * np.diag(corr)))
    off_diagonal_ww = wtw * wtw - float(np.sum(w**4))
    if off_diagonal_ww <= 0.0:
        raise ValueError(
            f"construct {construct!r} has fewer than two non-zero weights, so rho_A is "
            "undefined; check the outer weights passed for it"
        )
    return wtw * wtw * off_diagonal_corr / off_diagonal_ww


def rho_a(frame: pd.DataFrame, blocks: Blocks, weights: pd.DataFrame) -> pd.DataFrame:
    r"""Dijkstra-Henseler's rho_A of each construct's indicators.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per indicator; NaN means "cannot answer".
    blocks : Mapping[str, Sequence[str]]
        Construct name -> its indicator columns in ``frame``.
    weights : pandas.DataFrame
        PLS outer weights: one row per indicator, one column per construct (entries outside
        a construct's block are ignored).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``construct``, with columns ``rho_a`` and ``n_items``. ``rho_a`` is NaN
        for a single-item construct.

    See Also
    --------
    cronbach_alpha, rho_c

    Notes
    -----
    With :math:`S` the correlation matrix of the block's indicators and :math:`w` its outer
    weights scaled so that :math:`w'Sw = 1`,

    .. math:: \rho_A = (w'w)^2 \,
              \frac{w'(S - \operatorname{diag} S)\,w}{w'(ww' - \operatorname{diag} ww')\,w},

    the formula of seminr's ``rho_A`` and SmartPLS. It estimates the reliability of the
    composite under a common-factor model and lies between alpha and rho_C in typical data.
    Correlations are pairwise-complete. The weights are rescaled to unit composite variance
    on these correlations, which leaves PLS weights from complete data unchanged.

    Validated against seminr's reliability table on the ECSI ``mobi`` data (to 1e-6).

    References
    ----------
    Dijkstra, T. K., & Henseler, J. (2015). Consistent partial least squares path
    modeling. MIS Quarterly, 39(2), 297-316. doi:10.25300/MISQ/2015/39.2.02
    """
    checked = _check_blocks(blocks)
    data = _indicator_frame(frame, checked)

    def value_of(construct: str, items: list[str]) -> float:
        w = _block_vector(weights, construct, items, "weights")
        return _rho_a_value(w, _correlations(data[items]).to_numpy(), construct)

    return _per_construct(checked, "rho_a", value_of)


def _block_loadings(loadings: pd.DataFrame, construct: str, items: list[str]) -> np.ndarray:
    """Standardized loadings of one block, refusing improper (|loading| > 1) values."""
    values = _block_vector(loadings, construct, items, "loadings")
    # |loading| > 1 is a Heywood case: the error variance 1 - loading^2 would be negative
    # and rho_C/AVE would exceed 1, numbers with no meaning.
    improper = [item for item, v in zip(items, values, strict=True) if abs(v) > 1.0 + 1e-9]
    if improper:
        raise ValueError(
            f"standardized loadings of {improper} on {construct!r} exceed 1 in absolute value "
            "(an improper solution); rho_C and AVE need standardized loadings in [-1, 1]"
        )
    return values


def rho_c(loadings: pd.DataFrame, blocks: Blocks) -> pd.DataFrame:
    r"""Composite reliability rho_C (Jöreskog's rho) of each construct.

    Parameters
    ----------
    loadings : pandas.DataFrame
        Standardized (outer) loadings: one row per indicator, one column per construct.
    blocks : Mapping[str, Sequence[str]]
        Construct name -> its indicators (rows of ``loadings``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``construct``, with columns ``rho_c`` and ``n_items``. ``rho_c`` is NaN
        for a single-item construct.

    See Also
    --------
    ave, rho_a

    Notes
    -----
    With standardized loadings :math:`\lambda_i` of the :math:`k` items,

    .. math:: \rho_C = \frac{(\sum_i \lambda_i)^2}
                             {(\sum_i \lambda_i)^2 + \sum_i (1 - \lambda_i^2)}.

    PLS outer loadings are inflated relative to common-factor loadings, so rho_C from PLS
    tends to overstate reliability; rho_A sits between alpha and rho_C.

    Validated against seminr's reliability table on the ECSI ``mobi`` data (to 1e-6).

    References
    ----------
    Jöreskog, K. G. (1971). Statistical analysis of sets of congeneric tests.
    Psychometrika, 36(2), 109-133. doi:10.1007/BF02291393

    Fornell & Larcker (1981), cited in full under :func:`ave`.
    """

    def value_of(construct: str, items: list[str]) -> float:
        lam = _block_loadings(loadings, construct, items)
        explained = float(np.sum(lam)) ** 2
        return explained / (explained + float(np.sum(1.0 - lam**2)))

    return _per_construct(_check_blocks(blocks), "rho_c", value_of)


def ave(loadings: pd.DataFrame, blocks: Blocks) -> pd.DataFrame:
    r"""Average variance extracted (AVE) of each construct.

    Parameters
    ----------
    loadings, blocks
        Standardized loadings and blocks, as in :func:`rho_c`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``construct``, with columns ``ave`` and ``n_items``. ``ave`` is NaN for a
        single-item construct (convergent validity needs at least two items).

    See Also
    --------
    rho_c, models.validity.fornell_larcker

    Notes
    -----
    .. math:: \mathrm{AVE} = \frac{1}{k}\sum_i \lambda_i^2,

    the mean share of an item's variance that the construct explains; at least 0.50 is
    expected (the construct explains more of its items than their error does).

    Validated against seminr's reliability table on the ECSI ``mobi`` data (to 1e-6).

    References
    ----------
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with
    unobservable variables and measurement error. Journal of Marketing Research, 18(1),
    39-50. doi:10.2307/3151312
    """

    def value_of(construct: str, items: list[str]) -> float:
        return float(np.mean(_block_loadings(loadings, construct, items) ** 2))

    return _per_construct(_check_blocks(blocks), "ave", value_of)
