"""The rules of a priority matrix: quadrants, crosshairs, priority scores, ranks and tiers.

Pure array functions shared by :mod:`scoring.priorities` (which builds the matrix) and
:mod:`scoring.plots` (which draws it). Every statement about uncertainty works on paired
bootstrap draws: row ``k`` of an importance array and row ``k`` of a performance array come
from the same resample, so a driver's quadrant, rank and priority are judged resample by
resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONCENTRATE",
    "CROSSHAIR_RULES",
    "QUADRANTS",
    "Quadrant",
    "crosshairs",
    "iso_priority_curve",
    "p_concentrate",
    "priority_score",
    "priority_tiers",
    "quadrant_codes",
    "rank_draws",
    "rank_intervals",
]

FloatArray = npt.NDArray[np.float64]
CrosshairRule = Literal["mean", "midpoint"]
CROSSHAIR_RULES: tuple[str, ...] = ("mean", "midpoint")
SCALE_MIDPOINT = 50.0


@dataclass(frozen=True)
class Quadrant:
    """One quadrant of the matrix: a stable code and its names in Chinese and English."""

    code: str
    zh: str
    en: str
    high_importance: bool
    high_performance: bool


#: The four quadrants of Martilla & James (1977), with the names Chinese operators' reports
#: use. ``concentrate-here`` (high importance, low performance) is where improvement pays.
#: The crosshair is relative (the drivers' mean), so a point "above" may still score about
#: 50 of 100: the low-importance, high-performance quadrant is called "maintain", never
#: Martilla & James's "possible overkill", which would read as "too good" (the code stays).
QUADRANTS: tuple[Quadrant, ...] = (
    Quadrant("concentrate-here", "重点改进区", "Concentrate here", True, False),
    Quadrant("keep-up-the-good-work", "优势保持区", "Keep up the good work", True, True),
    Quadrant("low-priority", "次要改进区", "Low priority", False, False),
    Quadrant("possible-overkill", "维持区", "Maintain", False, True),
)
CONCENTRATE = QUADRANTS[0].code


def crosshairs(
    importance: FloatArray, performance: FloatArray, rule: str = "mean"
) -> tuple[FloatArray, FloatArray]:
    """Crosshair (importance, performance) of each row of ``(k, d)`` arrays.

    ``rule="mean"`` puts both lines at the unweighted mean over the drivers (Ringle &
    Sarstedt 2016); ``"midpoint"`` puts the performance line at the scale midpoint 50 and
    keeps the importance line at the mean (importance has no scale midpoint).
    """
    if rule not in CROSSHAIR_RULES:
        raise ValueError(f"crosshair must be one of {CROSSHAIR_RULES}, got {rule!r}")
    imp = importance.mean(axis=1)
    perf = performance.mean(axis=1) if rule == "mean" else np.full(len(imp), SCALE_MIDPOINT)
    return imp, perf


def quadrant_codes(
    importance: FloatArray, performance: FloatArray, cross_imp: float, cross_perf: float
) -> list[str]:
    """Quadrant code per driver; a point on a line counts as high on that axis."""
    codes = []
    for imp, perf in zip(importance, performance, strict=True):
        high_i, high_p = bool(imp >= cross_imp), bool(perf >= cross_perf)
        codes.append(
            next(
                q.code
                for q in QUADRANTS
                if (q.high_importance, q.high_performance) == (high_i, high_p)
            )
        )
    return codes


def p_concentrate(
    importance: FloatArray, performance: FloatArray, rule: str = "mean"
) -> FloatArray:
    """Share of resamples in which each driver lies in "concentrate here".

    Each resample is judged against its own crosshairs (importance at or above the
    resample's crosshair, performance below it), so the probability includes the
    uncertainty of the crosshairs. NaN without draws.
    """
    if importance.shape[0] == 0:
        return np.full(importance.shape[1], np.nan)
    imp, perf = crosshairs(importance, performance, rule)
    inside = (importance >= imp[:, None]) & (performance < perf[:, None])
    return inside.mean(axis=0)


def priority_score(importance: FloatArray, performance: FloatArray) -> FloatArray:
    """``importance * (100 - performance)``: the target points gained by closing the gap.

    With IPMA importance (the unstandardized total effect, target points per driver point)
    this is exactly the gain in the target's 0-100 score if the driver were raised to 100;
    with other importance measures it is the same combination of score and influence, on
    the method's scale.
    """
    return importance * (100.0 - performance)


def rank_draws(priority: FloatArray) -> npt.NDArray[np.int64]:
    """Rank (1 = highest priority) of each driver in each row of a ``(k, d)`` array."""
    order = np.argsort(-priority, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(priority.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, priority.shape[1] + 1)
    return ranks


def rank_intervals(priority_draws: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Rank interval per driver: the (1-level)/2 and (1+level)/2 quantiles of its
    bootstrap ranks, rounded outwards to whole ranks. NaN without draws."""
    d = priority_draws.shape[1]
    if priority_draws.shape[0] < 2:
        return np.full(d, np.nan), np.full(d, np.nan)
    ranks = rank_draws(priority_draws)
    tail = (1.0 - level) / 2.0
    low = np.quantile(ranks, tail, axis=0, method="lower")
    high = np.quantile(ranks, 1.0 - tail, axis=0, method="higher")
    return low.astype(np.float64), high.astype(np.float64)


def priority_tiers(
    point: FloatArray, draws: FloatArray, names: list[str], decisive: float = 0.95
) -> tuple[list[int], FloatArray]:
    """Priority tiers: drivers share a tier unless the bootstrap orders them decisively.

    Parameters
    ----------
    point : ndarray (d,)
        Priority scores of the full sample.
    draws : ndarray (k, d)
        Paired bootstrap priority scores (k >= 2).
    names : list of str
        Driver names (ties of ``point`` are broken by name, so the result is
        deterministic).
    decisive : float
        Probability from which one driver is said to matter more than another.

    Returns
    -------
    tiers : list of int
        Tier of each driver (1 = first), in the input order.
    above : ndarray (d, d)
        ``above[a, b]``: share of resamples in which a's priority exceeds b's (ties
        count one half).

    Notes
    -----
    Drivers are ordered by their point priority and walked down. A driver opens a new
    tier when, for *every* member m of the current tier, P(priority_m > priority_d) is at
    least ``decisive``; otherwise it joins the current tier. Tiers are therefore runs of
    the point ranking (a partition: sharing a tier is an equivalence, so transitive), the
    walk is deterministic, and every driver is decisively below every member of the tier
    just above its own. Because "not decisively different" is not transitive (A ~ B and
    B ~ C with A decisively above C), a tier can hold two members that the bootstrap
    orders; the rule errs towards merging, so tiers never claim an order the data does not
    support between neighbouring tiers.
    """
    d = len(point)
    if draws.ndim != 2 or draws.shape[1] != d or draws.shape[0] < 2:
        raise ValueError("priority_tiers needs paired draws of shape (k >= 2, d)")
    greater = (draws[:, :, None] > draws[:, None, :]).mean(axis=0)
    ties = (draws[:, :, None] == draws[:, None, :]).mean(axis=0)
    above = greater + 0.5 * ties
    order = sorted(range(d), key=lambda j: (-point[j], names[j]))
    tiers = [0] * d
    tier, members = 1, [order[0]]
    tiers[order[0]] = tier
    for j in order[1:]:
        if all(above[m, j] >= decisive for m in members):
            tier, members = tier + 1, []
        members.append(j)
        tiers[j] = tier
    return tiers, above


def iso_priority_curve(
    cross_imp: float, cross_perf: float, importance_range: tuple[float, float], n: int = 50
) -> list[tuple[float, float]]:
    """Points ``(importance, performance)`` of the iso-priority line through the crosshair.

    The line joins every point whose priority score equals the crosshair's,
    ``I (100 - P) = I* (100 - P*)``, i.e. ``P = 100 - I* (100 - P*) / I``: drivers below
    and to the right of it have above-average priority. Where Bacon (2003) and Abalo et al.
    (2007) draw a straight diagonal through the crosshair, this is the diagonal of the
    priority score actually used for ranking. Points with P outside [0, 100] are dropped.
    """
    c = cross_imp * (100.0 - cross_perf)
    low, high = importance_range
    out = []
    for imp in np.linspace(low, high, n):
        if imp <= 0:
            continue
        perf = 100.0 - c / imp
        if 0.0 <= perf <= 100.0:
            out.append((float(imp), float(perf)))
    return out
