"""Ranking of units (service halls, regions, ...) that says which ones cannot be told apart.

A league table of means invites managers to review "the bottom three halls". Two halls
whose means differ by less than their sampling error are not distinguishable, and the
ranking must say so: :func:`rank_units` tests every pair, corrects the tests for
multiplicity, and reports for each unit a rank interval, the units it cannot be told apart
from and a compact letter display.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr

from scoring.segments import STATUS_OK

__all__ = [
    "PAIRWISE_COLUMNS",
    "RANKING_COLUMNS",
    "Correction",
    "UnitRanking",
    "adjust_p_values",
    "compact_letter_display",
    "rank_units",
]

FloatArray = npt.NDArray[np.float64]
Correction = Literal["holm", "bh"]

RANKING_COLUMNS: tuple[str, ...] = (
    "mean",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "status",
    "rank",
    "rank_low",
    "rank_high",
    "group",
    "indistinguishable_from",
)
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "unit_a",
    "unit_b",
    "difference",
    "se",
    "z",
    "p_value",
    "p_adjusted",
    "significant",
)


@dataclass(frozen=True, eq=False)
class UnitRanking:
    """Units ranked by their mean, with the pairs that cannot be told apart.

    Attributes
    ----------
    ranking : pandas.DataFrame
        Indexed by unit, best first, columns ``RANKING_COLUMNS``. ``rank`` is the point
        rank (1 = best, ties share the smaller rank); ``rank_low`` and ``rank_high``
        bound the ranks compatible with the corrected tests; ``group`` is the compact
        letter display (units sharing a letter are not distinguishable);
        ``indistinguishable_from`` is the tuple of the other units not significantly
        different from this one. Units that are not ``"ok"`` (too few responses) come
        last with NA ranks and an empty group: they are not ranked.
    pairwise : pandas.DataFrame
        ``PAIRWISE_COLUMNS``, one row per pair of ranked units, ``unit_a`` the better
        ranked: ``difference = mean_a - mean_b``, its ``se``, ``z``, two-sided
        ``p_value``, the corrected ``p_adjusted`` and ``significant``
        (``p_adjusted <= alpha``).
    correction : {"holm", "bh"}
    alpha : float
    higher_is_better : bool
    """

    ranking: pd.DataFrame
    pairwise: pd.DataFrame
    correction: Correction
    alpha: float
    higher_is_better: bool


def adjust_p_values(p_values: Sequence[float] | npt.ArrayLike, method: Correction) -> FloatArray:
    """Multiplicity-adjusted p-values: Holm's step-down or Benjamini-Hochberg's step-up.

    Parameters
    ----------
    p_values : array-like of float
        Raw p-values in [0, 1]; NaN entries stay NaN and do not count as tests.
    method : {"holm", "bh"}
        ``"holm"`` controls the familywise error rate, ``"bh"`` the false discovery rate
        (for independent or positively dependent tests).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order; reject where ``adjusted <= alpha``.

    Notes
    -----
    With :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    - Holm: :math:`\\tilde p_{(k)} = \\max_{j \\le k} \\min\\{1, (m - j + 1) p_{(j)}\\}`;
    - BH: :math:`\\tilde p_{(k)} = \\min_{j \\ge k} \\min\\{1, m p_{(j)} / j\\}`.

    BH's adjusted p-values are never larger than Holm's, so BH separates at least as many
    pairs. Checked against ``statsmodels.stats.multitest.multipletests`` (methods
    ``"holm"`` and ``"fdr_bh"``) to 1e-12.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics*, 6(2), 65-70.
    Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate: a
    practical and powerful approach to multiple testing. *Journal of the Royal
    Statistical Society: Series B*, 57(1), 289-300.
    https://doi.org/10.1111/j.2517-6161.1995.tb02031.x

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03], "holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], "bh").round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"correction must be 'holm' or 'bh', got {method!r}")
    p = np.asarray(p_values, dtype="float64")
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0) | (p[tested] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    adjusted = np.full_like(p, np.nan)
    m = int(tested.sum())
    if m == 0:
        return adjusted
    raw = p[tested]
    order = np.argsort(raw, kind="stable")
    ranked = raw[order]
    k = np.arange(1, m + 1)
    if method == "holm":
        stepped = np.maximum.accumulate(np.minimum(1.0, (m - k + 1) * ranked))
    else:
        stepped = np.minimum.accumulate(np.minimum(1.0, m * ranked / k)[::-1])[::-1]
    result = np.empty(m)
    result[order] = stepped
    adjusted[tested] = result
    return adjusted


def compact_letter_display(n_units: int, different: Sequence[tuple[int, int]]) -> list[str]:
    """Letters such that two units share a letter exactly when they are not different.

    Parameters
    ----------
    n_units : int
        Units ``0 .. n_units - 1``, in the order letters should follow (best first).
    different : sequence of (int, int)
        Pairs declared significantly different.

    Returns
    -------
    list of str
        One string of letters per unit: ``a`` ... ``z``, then ``A`` ... ``Z``, then
        ``a1``, ``b1``, ... (joined by ``.`` once labels are longer than one character).

    Notes
    -----
    Piepho's insert-and-absorb algorithm: start from one letter shared by all units; for
    each different pair, split every letter holding both into a copy without the one and
    a copy without the other; drop letters whose units are a subset of another letter's.
    Then the paper's sweep removes a unit from a letter when every pair it forms within
    that letter is also held by another letter. The result represents the tests exactly:
    a pair shares a letter if and only if it was not declared different. Letters are
    named in the order of their best unit.

    References
    ----------
    Piepho, H.-P. (2004). An algorithm for a letter-based representation of all-pairwise
    comparisons. *Journal of Computational and Graphical Statistics*, 13(2), 456-466.
    https://doi.org/10.1198/1061860043515

    Examples
    --------
    >>> compact_letter_display(3, [(0, 2)])
    ['a', 'ab', 'b']
    """
    columns: list[frozenset[int]] = [frozenset(range(n_units))] if n_units else []
    for i, j in different:
        split: list[frozenset[int]] = []
        for column in columns:
            if i in column and j in column:
                split.extend((column - {i}, column - {j}))
            else:
                split.append(column)
        columns = _absorb(split)
    columns = _absorb(_sweep(columns))
    columns.sort(key=lambda column: sorted(column))
    labels = _letter_labels(len(columns))
    joiner = "" if all(len(label) == 1 for label in labels) else "."
    return [
        joiner.join(label for label, column in zip(labels, columns, strict=True) if unit in column)
        for unit in range(n_units)
    ]


def _absorb(columns: list[frozenset[int]]) -> list[frozenset[int]]:
    """Drop empty and repeated letters and letters whose units another letter holds."""
    unique = list(dict.fromkeys(c for c in columns if c))
    return [c for c in unique if not any(c < other for other in unique)]


def _sweep(columns: list[frozenset[int]]) -> list[frozenset[int]]:
    """Remove a unit from a letter when every pair it forms there is held by another letter."""
    swept = [set(column) for column in columns]
    for index, column in enumerate(swept):
        for unit in sorted(column):
            others = [c for k, c in enumerate(swept) if k != index and unit in c]
            covered = all(any(peer in c for c in others) for peer in column if peer != unit)
            if others and covered:
                column.discard(unit)
    return [frozenset(column) for column in swept]


def _letter_labels(count: int) -> list[str]:
    alphabet = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    alphabet += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    return [
        alphabet[k % len(alphabet)] + (str(k // len(alphabet)) if k >= len(alphabet) else "")
        for k in range(count)
    ]


def rank_units(
    summary: pd.DataFrame,
    *,
    correction: Correction = "holm",
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> UnitRanking:
    """Rank units by their mean, saying which units cannot be told apart.

    Parameters
    ----------
    summary : pandas.DataFrame
        Indexed by unit with columns ``mean`` and ``se`` (and optionally ``status``,
        ``n``, ``ci_low``, ``ci_high``), as returned by
        :func:`scoring.segments.segment_summary`. Only units with status ``"ok"`` and
        a finite mean and standard error are ranked.
    correction : {"holm", "bh"}, default "holm"
        Multiplicity correction of the pairwise tests: Holm (familywise error rate) or
        Benjamini-Hochberg (false discovery rate, separates more pairs).
    alpha : float, default 0.05
        Level at which a corrected test declares two units different.
    higher_is_better : bool, default True
        Rank 1 goes to the highest mean (satisfaction); False for e.g. complaint rates.

    Returns
    -------
    UnitRanking
        ``ranking`` (per unit) and ``pairwise`` (per pair) tables.

    See Also
    --------
    scoring.segments.segment_summary, adjust_p_values, compact_letter_display

    Notes
    -----
    For units :math:`a, b` with estimated means and standard errors,
    :math:`z = (\\bar y_a - \\bar y_b) / \\sqrt{se_a^2 + se_b^2}` and the two-sided
    :math:`p = 2\\Phi(-|z|)`: a Welch-type large-sample test that treats the units as
    independent samples (true for disjoint units of one survey when their weights are
    fixed; raking to margins that cut across units induces a small covariance that is
    ignored). The :math:`K(K-1)/2` p-values are corrected with ``correction``.

    **Rule.** Two units are declared different only when their corrected test is
    significant at ``alpha``; otherwise they are indistinguishable, whatever their point
    ranks, and they share at least one letter of ``group``. In particular the top and
    bottom units are never declared different unless their own corrected test is
    significant.

    **Rank interval.** Unit :math:`a` is ranked between
    :math:`1 + \\#\\{b \\text{ declared better than } a\\}` and
    :math:`K - \\#\\{b \\text{ declared worse than } a\\}`. With a familywise-error
    correction (Holm) this is the rank set of Klein, Wright and Wieczorek (2020) built
    from the corrected tests; under BH it only controls the expected share of false
    separations, so read BH rank intervals as descriptive.

    Validated on simulated units: clearly different means are separated, equal true
    means end in one group, and the corrections agree with statsmodels.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics*, 6(2), 65-70.
    Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate.
    *Journal of the Royal Statistical Society: Series B*, 57(1), 289-300.
    https://doi.org/10.1111/j.2517-6161.1995.tb02031.x
    Piepho, H.-P. (2004). An algorithm for a letter-based representation of all-pairwise
    comparisons. *Journal of Computational and Graphical Statistics*, 13(2), 456-466.
    https://doi.org/10.1198/1061860043515
    Klein, M., Wright, T., & Wieczorek, J. (2020). A joint confidence region for an
    overall ranking of populations. *Journal of the Royal Statistical Society: Series C*,
    69(3), 589-606. https://doi.org/10.1111/rssc.12402

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"mean": [4.1, 3.2, 4.0], "se": [0.05, 0.05, 0.05]},
    ...                        index=pd.Index(["H1", "H2", "H3"], name="service_hall"))
    >>> ranked = rank_units(summary)
    >>> ranked.ranking[["rank", "rank_low", "rank_high", "group"]]  # doctest: +NORMALIZE_WHITESPACE
                  rank  rank_low  rank_high group
    service_hall
    H1               1         1          2     a
    H3               2         1          2     a
    H2               3         3          3     b
    """
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(
            f"summary must be a DataFrame such as segment_summary returns, not {type(summary)!r}"
        )
    absent = [c for c in ("mean", "se") if c not in summary.columns]
    if absent:
        raise ValueError(f"summary lacks columns {absent}; pass segment_summary's result")
    if summary.index.has_duplicates:
        raise ValueError("summary lists a unit more than once; one row per unit")
    if correction not in ("holm", "bh"):
        raise ValueError(f"correction must be 'holm' or 'bh', got {correction!r}")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")

    table = summary.copy()
    if "status" not in table.columns:
        table["status"] = STATUS_OK
    for column in ("n", "ci_low", "ci_high"):
        if column not in table.columns:
            table[column] = np.nan
    mean = table["mean"].to_numpy(dtype="float64")
    se = table["se"].to_numpy(dtype="float64")
    rankable = (
        (table["status"] == STATUS_OK).to_numpy() & np.isfinite(mean) & np.isfinite(se) & (se >= 0)
    )
    sign = 1.0 if higher_is_better else -1.0
    ranked = table.loc[rankable]
    # Best first; a stable sort keeps the input order among tied means.
    order = np.argsort(-sign * ranked["mean"].to_numpy(dtype="float64"), kind="stable")
    ranked = ranked.iloc[order]
    units: list[Hashable] = list(ranked.index)
    m = ranked["mean"].to_numpy(dtype="float64")
    s = ranked["se"].to_numpy(dtype="float64")
    k = len(units)

    pairs = list(combinations(range(k), 2))
    a = np.array([p[0] for p in pairs], dtype=np.intp)
    b = np.array([p[1] for p in pairs], dtype=np.intp)
    difference = m[a] - m[b]
    pair_se = np.sqrt(s[a] ** 2 + s[b] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(pair_se > 0, difference / pair_se, np.where(difference == 0, 0.0, np.inf))
    p_value = 2.0 * ndtr(-np.abs(z))
    p_adjusted = adjust_p_values(p_value, correction)
    significant = p_adjusted <= alpha
    pairwise = pd.DataFrame(
        {
            "unit_a": pd.Series([units[i] for i in a], dtype="object"),
            "unit_b": pd.Series([units[j] for j in b], dtype="object"),
            "difference": difference,
            "se": pair_se,
            "z": z,
            "p_value": p_value,
            "p_adjusted": p_adjusted,
            "significant": significant,
        },
        columns=list(PAIRWISE_COLUMNS),
    )

    # Direction from the estimates: a is ranked ahead of b, so a declared-different pair
    # means a is better, except for tied means (never significant).
    better = np.zeros(k, dtype=int)
    worse = np.zeros(k, dtype=int)
    peers: list[list[Hashable]] = [[] for _ in range(k)]
    for i, j, sig in zip(a, b, significant, strict=True):
        if sig:
            better[j] += 1
            worse[i] += 1
        else:
            peers[i].append(units[j])
            peers[j].append(units[i])
    point_rank = (
        pd.Series(-sign * m).rank(method="min").astype("int64").to_numpy() if k else np.array([])
    )
    letters = compact_letter_display(
        k, [(int(i), int(j)) for i, j, sig in zip(a, b, significant, strict=True) if sig]
    )

    ranked = ranked.assign(
        rank=pd.array(point_rank, dtype="Int64"),
        rank_low=pd.array(1 + better, dtype="Int64"),
        rank_high=pd.array(k - worse, dtype="Int64"),
        group=letters,
        indistinguishable_from=[tuple(p) for p in peers],
    )
    ranking = ranked[list(RANKING_COLUMNS)]
    n_unranked = int((~rankable).sum())
    if n_unranked:
        missing = pd.array([pd.NA] * n_unranked, dtype="Int64")
        unranked = table.loc[~rankable].assign(
            rank=missing,
            rank_low=missing,
            rank_high=missing,
            group="",
            indistinguishable_from=[()] * n_unranked,
        )
        ranking = pd.concat([ranking, unranked[list(RANKING_COLUMNS)]])
    return UnitRanking(
        ranking=ranking,
        pairwise=pairwise,
        correction=correction,
        alpha=float(alpha),
        higher_is_better=bool(higher_is_better),
    )
