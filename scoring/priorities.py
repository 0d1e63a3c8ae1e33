"""Importance-performance priority matrices with their uncertainty, per segment and period.

:func:`priority_matrix` turns an importance-performance map (by default the IPMA of
:func:`scoring.ipma.ipma`) into what a manager acts on: each driver's quadrant, a priority
rank with its bootstrap interval, the probability that it really lies in "concentrate
here", and priority tiers that never order two drivers the bootstrap cannot tell apart.
The model's measurement warnings travel with the matrix. :func:`segment_priorities` builds
the same matrix per region, service hall, tier, channel, month or quarter, and an explicit
"too-few-responses" block where a segment is too small.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.fit import ModelFit, fit_model
from models.pls import PLSResult
from scoring import _report
from scoring.ipma import AXIS_COLUMNS, IPMAResult, ipma
from scoring.prepared import Bounds, prepare
from scoring.priority_axes import LEVELS, METHODS, Axes, ipma_axes, method_axes
from scoring.priority_rules import (
    CROSSHAIR_RULES,
    QUADRANTS,
    crosshairs,
    iso_priority_curve,
    p_concentrate,
    priority_score,
    priority_tiers,
    quadrant_codes,
    rank_intervals,
)
from scoring.segments import STATUS_OK, STATUS_TOO_FEW
from scoring.trends import _periods
from scoring.weights import design_effect, kish_effective_n

__all__ = [
    "DRIVER_KEYS",
    "MIN_SEGMENT_N",
    "PriorityMatrix",
    "SegmentBlock",
    "SegmentedPriorities",
    "matrix_from_axes",
    "priority_matrix",
    "segment_priorities",
]

FloatArray = npt.NDArray[np.float64]
#: The keys of a driver in :meth:`PriorityMatrix.to_dict`, in order: the issue's shape,
#: then the rank interval and the priority score.
DRIVER_KEYS: tuple[str, ...] = (
    "name",
    "construct",
    *AXIS_COLUMNS,
    "quadrant",
    "p_concentrate",
    "rank",
    "tier",
    "rank_ci_low",
    "rank_ci_high",
    "priority",
)
#: Default smallest segment: ten times the largest number of arrows pointing at a construct
#: in the sample CSI model (six drivers of satisfaction), the PLS rule of thumb of Hair et
#: al., rounded up to 100 so that bootstrap tiers are not read from a handful of answers.
MIN_SEGMENT_N = 100
STATUS_FAILED = "not-estimable"


@dataclass(frozen=True, eq=False)
class PriorityMatrix(_report.TextReport):
    """An importance-performance matrix with quadrants, ranks, tiers and warnings.

    Attributes
    ----------
    target, method, level : str
    target_performance : float
        The target's 0-100 index.
    crosshair : dict
        ``{"importance", "performance"}`` of the full sample, and ``rule``.
    drivers : pandas.DataFrame
        ``DRIVER_KEYS``, one row per driver, sorted by rank.
    iso_priority : list of (importance, performance)
        The iso-priority line through the crosshair.
    warnings : tuple of ModelWarning
        The model's (measurement quality, engine), the map's, then the matrix's own.
    n, effective_n, design_effect : float
        Responses, Kish's effective sample size and design effect of the respondent weights.
    ci_level, decisive : float
    axes : Axes
        Point values and the paired bootstrap draws behind the matrix.
    provenance : dict
    """

    target: str
    method: str
    level: str
    target_performance: float
    crosshair: dict[str, Any]
    drivers: pd.DataFrame
    iso_priority: list[tuple[float, float]]
    warnings: tuple[ModelWarning, ...]
    n: int
    effective_n: float
    design_effect: float
    ci_level: float
    decisive: float
    axes: Axes
    provenance: dict[str, Any] = field(default_factory=dict)

    def driver(self, name: str) -> dict[str, Any]:
        """One driver's row as a dict."""
        rows = self.drivers[self.drivers["name"] == name]
        if rows.empty:
            raise KeyError(f"no driver {name!r}; drivers: {', '.join(self.drivers['name'])}")
        return _report.records(rows)[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the issue's shape (NaN as None), then the matrix's context."""
        drivers = _report.records(self.drivers[list(DRIVER_KEYS)])
        for row in drivers:
            for key in ("rank", "tier", "rank_ci_low", "rank_ci_high"):
                row[key] = None if row[key] is None else int(row[key])
        return {
            "target": self.target,
            "target_performance": _report.number(self.target_performance),
            "method": self.method,
            "level": self.level,
            "crosshair": {
                "importance": _report.number(self.crosshair["importance"]),
                "performance": _report.number(self.crosshair["performance"]),
            },
            "drivers": drivers,
            "warnings": [w.to_dict() for w in self.warnings],
            "crosshair_rule": self.crosshair["rule"],
            "priority_score": "importance * (100 - performance)",
            "iso_priority": [list(p) for p in self.iso_priority],
            "n": self.n,
            "effective_n": _report.number(self.effective_n),
            "design_effect": _report.number(self.design_effect),
            "ci_level": self.ci_level,
            "decisive": self.decisive,
            "n_boot": self.provenance.get("n_boot"),
            "seed": self.provenance.get("seed"),
            "quadrants": {q.code: {"zh": q.zh, "en": q.en} for q in QUADRANTS},
        }

    def summary(self) -> str:
        """Plain-text report: the matrix sorted by priority, then every warning."""
        names = {q.code: f"{q.zh} {q.en}" for q in QUADRANTS}
        head = (
            f"Priorities for {self.target} ({self.method}, {self.level} level): "
            f"{self.target} performance {self.target_performance:.2f}, n = {self.n}, "
            f"effective n {self.effective_n:.0f}, design effect {self.design_effect:.2f}\n"
            f"  crosshair ({self.crosshair['rule']}): importance "
            f"{self.crosshair['importance']:.3f}, performance "
            f"{self.crosshair['performance']:.2f}; priority = importance x (100 - performance)"
            f"; tiers split at P >= {self.decisive:.2f}"
        )
        lines = []
        for row in _report.records(self.drivers):
            rank_ci = (
                ""
                if row["rank_ci_low"] is None
                else f" [{int(row['rank_ci_low'])}-{int(row['rank_ci_high'])}]"
            )
            tier = "-" if row["tier"] is None else int(row["tier"])
            p = "" if row["p_concentrate"] is None else f"{row['p_concentrate']:.2f}"
            lines.append(
                f"  {int(row['rank']):>2}{rank_ci:<8} tier {tier}  {row['name']:<18}"
                f" importance {_ci(row, 'importance', 3)}  performance "
                f"{_ci(row, 'performance', 1)}  {names[row['quadrant']]}  P(concentrate) {p}"
            )
        return _report.summary_text([head, "\n".join(lines)], self.warnings)

    def _repr_html_(self) -> str:
        return _report.html_report(
            f"Priorities for {self.target} ({self.method}, {self.level})",
            f"n = {self.n}, effective n {self.effective_n:.0f}, "
            f"target performance {self.target_performance:.2f}",
            [("Drivers", self.drivers)],
            self.warnings,
        )


def _ci(row: dict[str, Any], axis: str, digits: int) -> str:
    low, high = row[f"{axis}_ci_low"], row[f"{axis}_ci_high"]
    text = f"{row[axis]:.{digits}f}"
    return text if low is None else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


# --- building a matrix ----------------------------------------------------------------


def matrix_from_axes(
    axes: Axes,
    *,
    crosshair: str = "mean",
    ci_level: float = 0.95,
    decisive: float = 0.95,
    respondent_weights: npt.ArrayLike | None = None,
    n: int | None = None,
) -> PriorityMatrix:
    """A priority matrix from importance and performance with paired draws.

    Parameters
    ----------
    axes : Axes
        From :func:`scoring.priority_axes.ipma_axes` or ``method_axes``.
    crosshair : {"mean", "midpoint"}
    ci_level : float
        Coverage of the percentile and rank intervals.
    decisive : float
        Probability from which one driver is said to matter more (tiers).
    respondent_weights : array-like, optional
        The weights behind the performance means, for Kish's effective n.
    n : int, optional
        Responses (default: the provenance's ``n_obs``).

    Returns
    -------
    PriorityMatrix
    """
    if crosshair not in CROSSHAIR_RULES:
        raise ValueError(f"crosshair must be one of {CROSSHAIR_RULES}, got {crosshair!r}")
    if not (isinstance(decisive, numbers.Real) and 0.5 < decisive < 1.0):
        raise ValueError(f"decisive must be a probability in (0.5, 1), got {decisive!r}")
    if not (isinstance(ci_level, numbers.Real) and 0.0 < ci_level < 1.0):
        raise ValueError(f"ci_level must be strictly between 0 and 1, got {ci_level!r}")
    imp, perf = axes.importance, axes.performance
    imp_draws, perf_draws = axes.importance_draws, axes.performance_draws
    d = len(axes.names)
    cross_i, cross_p = (float(v[0]) for v in crosshairs(imp[None], perf[None], crosshair))
    priority = priority_score(imp, perf)
    prio_draws = priority_score(imp_draws, perf_draws)
    order = sorted(range(d), key=lambda j: (-priority[j], axes.names[j]))
    rank = np.empty(d, dtype=np.int64)
    rank[order] = np.arange(1, d + 1)
    own: list[ModelWarning] = []
    has_draws = imp_draws.shape[0] >= 2
    if has_draws and d > 1:
        tiers: list[Any] = priority_tiers(priority, prio_draws, list(axes.names), decisive)[0]
        if max(tiers) == 1:
            own.append(
                ModelWarning(
                    "single-tier",
                    f"the bootstrap orders no driver decisively (P >= {decisive:.2f}): all "
                    "share tier 1; the ranks are not evidence of an order.",
                    "info",
                )
            )
    elif has_draws:
        tiers = [1]
    else:
        tiers = [None] * d
        own.append(
            ModelWarning(
                "no-bootstrap",
                "no bootstrap draws: intervals, rank intervals, P(concentrate) and tiers "
                "need a bootstrap (n_boot >= 2); the point ranking alone overstates precision.",
            )
        )
    imp_low, imp_high = _report.interval(imp_draws, ci_level, d)
    perf_low, perf_high = _report.interval(perf_draws, ci_level, d, _report.INDEX_SCALE)
    rank_low, rank_high = rank_intervals(prio_draws, ci_level)
    table = pd.DataFrame(
        {
            "name": list(axes.names),
            "construct": list(axes.constructs),
            "importance": imp,
            "importance_ci_low": imp_low,
            "importance_ci_high": imp_high,
            "performance": perf,
            "performance_ci_low": perf_low,
            "performance_ci_high": perf_high,
            "quadrant": quadrant_codes(imp, perf, cross_i, cross_p),
            "p_concentrate": p_concentrate(imp_draws, perf_draws, crosshair)
            if has_draws
            else np.full(d, np.nan),
            "rank": rank,
            "tier": pd.array(tiers, dtype="Int64"),
            "rank_ci_low": rank_low,
            "rank_ci_high": rank_high,
            "priority": priority,
        }
    )
    table = table.iloc[order].reset_index(drop=True)
    n_obs = int(n if n is not None else axes.provenance.get("n_obs", 0))
    if respondent_weights is None:
        n_eff, deff = float(n_obs), 1.0
    else:
        w = np.asarray(respondent_weights, dtype=np.float64)
        known = bool(np.isfinite(w).all())
        n_eff = kish_effective_n(w) if known else float("nan")
        deff = design_effect(w) if known else float("nan")
    span = (min(0.0, float(imp.min())), float(imp.max()) * 1.15 if imp.max() > 0 else 1.0)
    return PriorityMatrix(
        target=axes.target,
        method=axes.method,
        level=axes.level,
        target_performance=axes.target_performance,
        crosshair={"importance": cross_i, "performance": cross_p, "rule": crosshair},
        drivers=table,
        iso_priority=iso_priority_curve(cross_i, cross_p, span),
        warnings=tuple(axes.warnings) + tuple(own),
        n=n_obs,
        effective_n=n_eff,
        design_effect=deff,
        ci_level=float(ci_level),
        decisive=float(decisive),
        axes=axes,
        provenance=dict(axes.provenance),
    )


def priority_matrix(
    source: Any,
    frame: pd.DataFrame | None = None,
    bounds: Bounds | None = None,
    target: str | None = None,
    *,
    method: str = "ipma",
    level: str = "construct",
    dimension: str | None = None,
    weights: str | npt.ArrayLike | None = None,
    crosshair: str = "mean",
    n_boot: int = 1000,
    ci_level: float = 0.95,
    decisive: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> PriorityMatrix:
    """Importance-performance priority matrix of the drivers of ``target``.

    Parameters
    ----------
    source : ModelFit, PLSResult or IPMAResult
        A PLS model (then ``frame``, ``bounds`` and ``target`` are needed), or an
        existing IPMA (``method="ipma"`` only; its bootstrap is reused).
    frame : pandas.DataFrame
        The data the model was fitted to ("cannot answer" as NaN), possibly with a weight
        column.
    bounds : tuple, mapping or questionnaire
        The items' scale bounds (see :data:`scoring.prepared.Bounds`).
    target : str
        An endogenous construct, e.g. ``"satisfaction"`` or ``"loyalty"``.
    method : {"ipma", "relative-weights", "shapley", "correlation"}
        Importance: IPMA's unstandardized total effect (default), Johnson's relative
        weights, exact Shapley/LMG, or the zero-order correlation, each on 0-100 scores
        (see :func:`scoring.priority_axes.method_axes`).
    level : {"construct", "item"}
        Drivers of the target, or the items of those drivers.
    dimension : str, optional
        With ``level="item"``: only this driver's items (its own crosshair, ranks, tiers),
        the per-dimension ranking of the operator's studies.
    weights : str or array-like, optional
        Respondent weights for the performance means (and the alternative methods'
        importances); Kish's effective n and design effect are reported.
    crosshair : {"mean", "midpoint"}
        Crosshair at the mean importance and mean performance of the drivers (default), or
        performance at the scale midpoint 50.
    n_boot, random_state
        Bootstrap resamples and seed (one seed resamples the same rows for every method).
    ci_level : float
        Coverage of the percentile intervals and rank intervals.
    decisive : float
        Probability from which a driver is said to matter more than another (tiers).

    Returns
    -------
    PriorityMatrix

    Raises
    ------
    ValueError
        For an unknown target, method, level, dimension or crosshair rule, a frame that
        is not the model's data, or invalid weights or bootstrap settings.

    See Also
    --------
    scoring.ipma.ipma : the default importance-performance map.
    segment_priorities : the same matrix per segment or period.
    scoring.plots.plot_matrix, scoring.plots.matrix_spec : pictures of the matrix.

    Notes
    -----
    Quadrants follow Martilla & James (1977), split by the crosshair (a point on a line
    counts as high): high importance and low performance is *concentrate here*
    (重点改进区), high and high *keep up the good work* (优势保持区), low and low *low
    priority* (次要改进区), low importance and high performance *maintain* (维持区; Martilla
    & James's "possible overkill", renamed: above the drivers' mean is not "too good").

    The priority score combines influence and score, as the operator's studies rank items
    ("综合考虑得分和影响大小"): :math:`\\pi_j = I_j (100 - P_j)`. With IPMA importance (target
    points per driver point, Ringle & Sarstedt 2016) it is the gain in the target's 0-100
    index if the driver reached 100, the ACSI reading of impact. Ranks order
    :math:`\\pi_j` (ties by name). The iso-priority line is the contour of :math:`\\pi`
    through the crosshair (drivers below and right of it have above-average priority),
    the curved counterpart of the diagonals of Bacon (2003) and Abalo et al. (2007).

    Uncertainty comes from paired bootstrap draws (both axes from the same resample):
    percentile intervals on both axes; a rank interval, the ``(1 - ci_level)/2`` and
    ``(1 + ci_level)/2`` quantiles of the driver's rank over resamples;
    ``p_concentrate``, the share of resamples in which the driver lies in *concentrate
    here* against that resample's own crosshairs; and tiers from
    :func:`scoring.priority_rules.priority_tiers` (walk down the ranking, open a new tier
    when the driver is below every member of the current tier with probability
    >= ``decisive``).

    References
    ----------
    Martilla, J. A., & James, J. C. (1977). Importance-performance analysis. *Journal of
    Marketing*, 41(1), 77-79. doi:10.1177/002224297704100112

    Ringle, C. M., & Sarstedt, M. (2016). Gain more insight from your PLS-SEM results:
    The importance-performance map analysis. *Industrial Management & Data Systems*,
    116(9), 1865-1886. doi:10.1108/IMDS-10-2015-0449

    Bacon, D. R. (2003). A comparison of approaches to importance-performance analysis.
    *International Journal of Market Research*, 45(1), 55-71.
    doi:10.1177/147078530304500101

    Abalo, J., Varela, J., & Manzano, V. (2007). Importance values for
    importance-performance analysis: a formula for spreading out values derived from
    preference rankings. *Journal of Business Research*, 60(2), 115-121.
    doi:10.1016/j.jbusres.2006.10.009

    Examples
    --------
    >>> from models.fit import fit_model
    >>> from api.cli.fit_inputs import load_fit_inputs  # doctest: +SKIP
    >>> m = priority_matrix(fit, frame, questionnaire, "satisfaction",
    ...                     n_boot=500, random_state=1)  # doctest: +SKIP
    >>> m.drivers.loc[0, ["name", "quadrant", "tier"]].tolist()  # doctest: +SKIP
    ['network', 'concentrate-here', 1]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if crosshair not in CROSSHAIR_RULES:
        raise ValueError(f"crosshair must be one of {CROSSHAIR_RULES}, got {crosshair!r}")
    respondent = None
    if isinstance(source, IPMAResult):
        if method != "ipma":
            raise ValueError(
                f"an IPMAResult gives IPMA importance; method {method!r} needs the model"
            )
        axes = ipma_axes(source, level)
        ci_level = source.level
        n = int(source.provenance.get("n_obs", 0))
        if weights is not None and not isinstance(weights, str):
            respondent = np.asarray(weights, dtype=np.float64)
        elif source.provenance.get("weighted"):
            respondent = np.full(n, np.nan)  # weighted, but the weights were not given
    else:
        if frame is None or bounds is None or target is None:
            raise ValueError("priority_matrix(model, frame, bounds, target): all four are needed")
        prep = prepare(source, frame, bounds, weights, need_pls=True)
        respondent, n = prep.respondent_weights, prep.n
        if method == "ipma":
            result = ipma(
                source, frame, bounds, target, weights=weights, n_boot=n_boot,
                level=ci_level, random_state=random_state,
            )  # fmt: skip
            axes = ipma_axes(result, level)
        else:
            axes = method_axes(
                source, frame, bounds, target, method=method, level=level, weights=weights,
                n_boot=n_boot, ci_level=ci_level, random_state=random_state,
            )  # fmt: skip
    if dimension is not None:
        axes = axes.restrict(dimension)
    return matrix_from_axes(
        axes, crosshair=crosshair, ci_level=ci_level, decisive=decisive,
        respondent_weights=respondent, n=n,
    )  # fmt: skip


# --- segments and periods -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SegmentBlock:
    """One segment: a matrix, or the reason there is none."""

    segment: str
    status: str  # "ok", "too-few-responses" or "not-estimable"
    n: int
    matrix: PriorityMatrix | None = None
    message: str = ""
    #: Whether its indexes are comparable with the other segments' (MICOM step 2,
    #: :mod:`scoring.invariance`); None when not checked.
    comparable: bool | None = None
    not_comparable_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"segment": self.segment, "status": self.status,
                                "comparable": self.comparable,
                                "not_comparable_on": list(self.not_comparable_on)}  # fmt: skip
        if self.matrix is not None:
            return {**head, **self.matrix.to_dict()}
        return {**head, "n": self.n, "message": self.message}


@dataclass(frozen=True, eq=False)
class SegmentedPriorities(_report.TextReport):
    """The priority matrix per segment (or period), in segment order."""

    by: str
    period: str | None
    min_n: int
    blocks: tuple[SegmentBlock, ...]
    warnings: tuple[ModelWarning, ...] = ()

    def block(self, segment: str) -> SegmentBlock:
        for b in self.blocks:
            if b.segment == segment:
                return b
        raise KeyError(f"no segment {segment!r}: {', '.join(b.segment for b in self.blocks)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "period": self.period,
            "min_n": self.min_n,
            "segments": [b.to_dict() for b in self.blocks],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def summary(self) -> str:
        parts = []
        for b in self.blocks:
            title = f"== {self.by} = {b.segment} (n = {b.n}) =="
            if b.comparable is False:
                title += (f"\nNOT COMPARABLE with the other segments: the items of "
                          f"{', '.join(b.not_comparable_on)} combine differently here "
                          "(MICOM compositional invariance fails)")  # fmt: skip
            body = b.matrix.summary() if b.matrix is not None else f"{b.status}: {b.message}"
            parts.append(f"{title}\n{body}")
        return _report.summary_text(parts, self.warnings)


def segment_priorities(
    model: ModelFit | PLSResult,
    frame: pd.DataFrame,
    bounds: Bounds,
    target: str,
    *,
    by: str,
    period: str | None = None,
    min_n: int = MIN_SEGMENT_N,
    permutations: int = 0,
    **options: Any,
) -> SegmentedPriorities:
    """The priority matrix of each segment, refitting the model inside each one.

    Parameters
    ----------
    model : ModelFit or PLSResult
        A PLS model (its specification and settings are refitted per segment).
    frame : pandas.DataFrame
        Item scores ("cannot answer" as NaN) and the ``by`` column (and a weight column).
    bounds, target
        As in :func:`priority_matrix`.
    by : str
        Segment column: region, service_hall, tier, channel, campaign, or a date column
        with ``period``.
    period : {"month", "quarter"}, optional
        Cut a date column into local calendar months ("2026-01") or quarters ("2026Q1").
    min_n : int
        Segments with fewer responses get a ``"too-few-responses"`` block, no matrix.
    permutations : int
        Permutations of the check that the segments' indexes are comparable
        (:func:`scoring.invariance.unit_comparability`, MICOM step 2 of each segment
        against the rest); each block then says whether it is, and a ``not-comparable``
        warning names each segment that is not. 0 (default) skips the check.
    **options
        ``method``, ``level``, ``dimension``, ``weights``, ``crosshair``, ``n_boot``,
        ``ci_level``, ``decisive``, ``random_state`` as in :func:`priority_matrix`.

    Returns
    -------
    SegmentedPriorities

    Notes
    -----
    Every segment gets its own PLS fit (weights, paths and measurement quality, whose
    warnings travel with the segment's matrix) and its own bootstrap with the same seed.
    Rows with no value of ``by`` belong to no segment (a warning counts them). A segment
    whose model cannot be estimated (an item constant inside it, say) gets a
    ``"not-estimable"`` block with the reason.
    """
    views = segment_priority_views(
        model, frame, bounds, target, by=by, views={"": {}}, period=period, min_n=min_n,
        permutations=permutations, **options,
    )  # fmt: skip
    return views[""]


def segment_priority_views(
    model: ModelFit | PLSResult,
    frame: pd.DataFrame,
    bounds: Bounds,
    target: str,
    *,
    by: str,
    views: Mapping[str, Mapping[str, Any]],
    period: str | None = None,
    min_n: int = MIN_SEGMENT_N,
    permutations: int = 0,
    **options: Any,
) -> dict[str, SegmentedPriorities]:
    """:func:`segment_priorities` for several views of one segmentation at once.

    ``views`` names each view's own options (e.g. ``{"constructs": {}, "network":
    {"level": "item", "dimension": "network"}}``), merged over ``options``. Each segment's
    model is fitted once and serves every view: the same matrices as one
    :func:`segment_priorities` call per view, without refitting the segment each time.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if by not in frame.columns:
        raise ValueError(f"segment column {by!r} is not in the data")
    if isinstance(min_n, bool) or not isinstance(min_n, numbers.Integral) or min_n < 2:
        raise ValueError(f"min_n must be an integer >= 2, got {min_n!r}")
    result, fit_options = _pls_of(model)
    labels = _segment_labels(frame[by], period)
    warnings: tuple[ModelWarning, ...] = ()
    unlabelled = int(labels.isna().sum())
    if unlabelled:
        warnings += (
            ModelWarning(
                "rows-without-segment",
                f"{unlabelled} rows have no {by} and belong to no segment.",
                "info",
            ),
        )
    blocks: dict[str, list[SegmentBlock]] = {name: [] for name in views}
    for segment, rows in _groups(labels):
        part = frame.loc[rows]
        if len(part) < min_n:
            too_few = SegmentBlock(
                segment, STATUS_TOO_FEW, len(part),
                message=f"{len(part)} responses, fewer than the {min_n} needed for a "
                "priority matrix: no matrix is shown.",
            )  # fmt: skip
            for name in views:
                blocks[name].append(too_few)
            continue
        try:
            fitted = fit_model(result.spec, part, engine="pls", **fit_options)
        except (ValueError, np.linalg.LinAlgError) as error:
            for name in views:
                blocks[name].append(
                    SegmentBlock(segment, STATUS_FAILED, len(part), message=str(error))
                )
            continue
        for name, view in views.items():
            try:
                matrix = priority_matrix(fitted, part, bounds, target, **{**options, **view})
            except (ValueError, np.linalg.LinAlgError) as error:
                blocks[name].append(
                    SegmentBlock(segment, STATUS_FAILED, len(part), message=str(error))
                )
                continue
            blocks[name].append(SegmentBlock(segment, STATUS_OK, len(part), matrix))
    if permutations:
        from scoring.invariance import unit_comparability  # MICOM: only when asked for

        check = unit_comparability(
            result.spec, frame.assign(**{by: labels}), by, min_n=min_n,
            n_permutations=permutations, random_state=options.get("random_state"),
        )  # fmt: skip
        verdicts = {str(unit): row for unit, row in check.table.iterrows()}
        blocks = {
            name: [
                replace(b, comparable=verdicts[b.segment]["comparable"],
                        not_comparable_on=tuple(verdicts[b.segment]["not_comparable_on"]))
                if b.segment in verdicts else b
                for b in found
            ]
            for name, found in blocks.items()
        }  # fmt: skip
        warnings += tuple(check.warnings())
    return {
        name: SegmentedPriorities(by, period, int(min_n), tuple(found), warnings)
        for name, found in blocks.items()
    }


def _pls_of(model: Any) -> tuple[PLSResult, dict[str, Any]]:
    result = model.result if isinstance(model, ModelFit) else model
    if not isinstance(result, PLSResult):
        raise TypeError("segment_priorities needs a PLS model (fit with engine='pls')")
    p = result.provenance
    return result, {k: p[k] for k in ("scheme", "missing", "consistent")}


_PERIODS = {"month": "M", "quarter": "Q"}


def _segment_labels(column: pd.Series, period: str | None) -> pd.Series:
    if period is None:
        return column.astype(object).where(column.notna(), None)
    if period not in _PERIODS:
        raise ValueError(f"period must be 'month' or 'quarter', got {period!r}")
    periods = _periods(column, _PERIODS[period])  # type: ignore[arg-type]
    return periods.astype(str).where(periods.notna(), None)


def _groups(labels: pd.Series) -> list[tuple[str, pd.Index]]:
    groups: dict[Hashable, list[Any]] = {}
    for index, label in labels.items():
        if label is not None:
            groups.setdefault(label, []).append(index)
    keys = sorted(groups, key=lambda k: (str(type(k)), k))
    return [(str(k), pd.Index(groups[k])) for k in keys]
