"""The importance-performance map analysis (IPMA) on 0-100 construct scores.

:func:`ipma` maps, for one target construct, each driver's importance (its unstandardized
total effect on the target, as in :mod:`scoring.impacts`) against its performance (its
0-100 index), and each driver's items likewise, with bootstrap intervals on both axes and
the per-resample draws for priority rules built on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from scoring import _report
from scoring.prepared import Bounds, Prepared, prepare
from scoring.rescaled import (
    Stack,
    bootstrap_stack,
    check_bootstrap_settings,
    point_stack,
    result_warnings,
)

__all__ = [
    "AXIS_COLUMNS",
    "CONSTRUCT_COLUMNS",
    "ITEM_COLUMNS",
    "IPMADraws",
    "IPMAResult",
    "ipma",
]

FloatArray = npt.NDArray[np.float64]
#: The two axes of a map, each with its percentile interval.
AXIS_COLUMNS = (
    "importance",
    "importance_ci_low",
    "importance_ci_high",
    "performance",
    "performance_ci_low",
    "performance_ci_high",
)
CONSTRUCT_COLUMNS = ("construct", *AXIS_COLUMNS)
ITEM_COLUMNS = ("construct", "item", "weight", *AXIS_COLUMNS)


# --- IPMA ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IPMADraws:
    """Bootstrap replicates behind an IPMA, one row per kept resample.

    Columns follow the rows of :attr:`IPMAResult.constructs` and :attr:`IPMAResult.items`;
    importance and performance of a row come from the same resample, so joint statements
    (quadrant probabilities, rank intervals) can be computed from them. Arrays are
    read-only.
    """

    construct_importance: FloatArray
    construct_performance: FloatArray
    item_importance: FloatArray
    item_performance: FloatArray
    target_performance: FloatArray
    constructs: tuple[str, ...]
    items: tuple[tuple[str, str], ...]
    n_boot: int
    n_failed: int
    seed: int | None

    @property
    def n_kept(self) -> int:
        return int(self.construct_importance.shape[0])


@dataclass(frozen=True, eq=False)
class IPMAResult(_report.TextReport):
    """Importance-performance map for one target construct.

    Attributes
    ----------
    target : str
    constructs : pandas.DataFrame
        ``CONSTRUCT_COLUMNS``, one row per construct with a total effect on the target:
        importance (unstandardized total effect on the target's 0-100 score),
        performance (mean 0-100 score, the index), each with its percentile interval.
    items : pandas.DataFrame
        ``ITEM_COLUMNS``, the items of those constructs: normalised ``weight``,
        importance (weight times the construct's importance), performance (item mean on
        0-100), with intervals.
    target_performance : float
        The target's own 0-100 index.
    target_performance_ci : tuple of float
    draws : IPMADraws
    level : float
    warnings : tuple of ModelWarning
        The model's warnings (engine and measurement quality), then the IPMA's.
    provenance : dict
    """

    target: str
    constructs: pd.DataFrame
    items: pd.DataFrame
    target_performance: float
    target_performance_ci: tuple[float, float]
    draws: IPMADraws
    level: float
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Plain-text report: construct and item maps, warnings."""
        low, high = self.target_performance_ci
        parts = [
            f"IPMA for {self.target} (0-100), n = {self.provenance['n_obs']}"
            + _report.boot_line(self.provenance, self.level)
            + f"\n  {self.target} performance {self.target_performance:.2f}"
            + ("" if np.isnan(low) else f" [{low:.2f}, {high:.2f}]"),
            "Constructs\n" + _report.text_table(self.constructs, 3),
            "Items\n" + _report.text_table(self.items, 3),
        ]
        return _report.summary_text(parts, self.warnings)

    def _repr_html_(self) -> str:
        return _report.html_report(
            f"IPMA for {self.target}",
            f"n = {self.provenance['n_obs']}, target performance {self.target_performance:.2f}",
            [("Constructs", self.constructs), ("Items", self.items)],
            self.warnings,
        )

    def to_dict(self, include_draws: bool = False) -> dict[str, Any]:
        """JSON-ready dict (NaN as None); ``include_draws`` adds the replicates."""
        low, high = self.target_performance_ci
        fields = {
            "target": self.target,
            "level": self.level,
            "target_performance": self.target_performance,
            "target_performance_ci": [_report.number(low), _report.number(high)],
            "constructs": _report.records(self.constructs),
            "items": _report.records(self.items),
        }
        draws: dict[str, Any] | None = None
        if include_draws:
            d = self.draws
            draws = {
                "constructs": list(d.constructs),
                "items": [list(pair) for pair in d.items],
                "construct_importance": d.construct_importance.tolist(),
                "construct_performance": d.construct_performance.tolist(),
                "item_importance": d.item_importance.tolist(),
                "item_performance": d.item_performance.tolist(),
                "target_performance": d.target_performance.tolist(),
            }
        return _report.result_dict(fields, self.warnings, self.provenance, draws)


def ipma(
    model: Any,
    frame: pd.DataFrame,
    bounds: Bounds,
    target: str,
    *,
    weights: str | npt.ArrayLike | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> IPMAResult:
    """Importance-performance map analysis for ``target``, constructs and items.

    Parameters
    ----------
    model : PLSResult or ModelFit
        A PLS fit; a :class:`models.fit.ModelFit` brings its measurement-quality warnings
        onto the map.
    frame : pandas.DataFrame
        The data the model was fitted to ("cannot answer" as NaN), possibly with a
        weight column.
    bounds : tuple, mapping or questionnaire
        The items' scale bounds, as in :func:`scoring.indexes.rescale`.
    target : str
        An endogenous construct (e.g. ``"satisfaction"``).
    weights : str, array-like or None
        Respondent weights for the means (performance); importance comes from the
        unweighted model.
    n_boot : int
        Bootstrap resamples (0 skips the intervals). Each resample re-estimates the PLS
        weights and paths and recomputes item means and sds, so both axes get intervals
        from the same resamples.
    level : float
        Coverage of the percentile intervals.
    random_state : int, numpy.random.Generator or None
        Seed of the resampling (local generator; recorded in the provenance).

    Returns
    -------
    IPMAResult

    Raises
    ------
    ValueError
        For an unknown or exogenous target, a frame that is not the model's data, values
        outside the bounds, invalid weights or settings.

    See Also
    --------
    scoring.impacts.impacts : all unstandardized total effects.
    scoring.indexes.construct_indexes : the performance axis as indexes.

    Notes
    -----
    Items are rescaled to 0-100 with the scale bounds,
    :math:`x^{0-100} = (x - \\min)/(\\max - \\min) \\cdot 100`; the normalised
    unstandardized weights are
    :math:`\\tilde w_i = (w_i/\\tilde s_i) / \\sum_{k \\in j} (w_k/\\tilde s_k)`.

    - construct :math:`j`: performance :math:`P_j = \\sum_{i \\in j} \\tilde w_i \\bar x_i`
      (the mean 0-100 score); importance
      :math:`I_j = \\beta^T_{tj}\\, sd(Y_t^{0-100}) / sd(Y_j^{0-100})`, the
      unstandardized total effect on the target :math:`t`;
    - item :math:`i` of driver :math:`j`: performance :math:`\\bar x_i` on 0-100,
      importance :math:`\\tilde w_i I_j`.

    Every construct with a total effect on the target is mapped (direct and indirect
    drivers). The bootstrap draws rows with replacement as :func:`models.pls.fit_pls`
    does; each resample's correlations, item sds and means come from its weighted
    moments in one batched pass, and the PLS algorithm runs on the stack of resample
    correlation matrices (:func:`models.pls_algorithm.estimate`), which gives the same
    estimates as refitting each resample. Failed resamples (a constant item) are
    discarded and counted. IPMA assumes positive outer weights; a non-positive weight
    gives a ``"negative-outer-weight"`` warning. For a PLSc model (``consistent=True``)
    the standardized effects are the disattenuated ones, rescaled by the sds of the
    0-100 composite scores.

    Validated against a direct loop implementation (fit_pls once, 0-100 scores, OLS of
    the target's score on its drivers, total effects by path tracing) to 1e-8, and each
    bootstrap replicate against fit_pls on the resampled rows.

    References
    ----------
    Ringle, C. M., & Sarstedt, M. (2016). Gain more insight from your PLS-SEM results:
    The importance-performance map analysis. *Industrial Management & Data Systems*,
    116(9), 1865-1886. doi:10.1108/IMDS-10-2015-0449

    Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996). The
    American Customer Satisfaction Index: nature, purpose, and findings. *Journal of
    Marketing*, 60(4), 7-18. doi:10.2307/1251898
    """
    check_bootstrap_settings(n_boot, level)
    prep = prepare(model, frame, bounds, weights, need_pls=True)
    t = _target_index(prep, target)
    drivers = np.flatnonzero(prep.layout.reachable()[t])  # type: ignore[union-attr]
    item_pairs = [(int(j), int(i)) for j in drivers for i in prep.blocks[j]]
    point = point_stack(prep)
    boot = bootstrap_stack(prep, n_boot, random_state, pls=True) if n_boot else None
    names = prep.constructs

    def axes(stack: Stack) -> dict[str, FloatArray]:
        importance = stack.total[:, t, drivers]
        jj = np.array([j for j, _ in item_pairs], dtype=np.intp)
        ii = np.array([i for _, i in item_pairs], dtype=np.intp)
        return {
            "construct_importance": importance,
            "construct_performance": stack.construct_performance[:, drivers],
            "item_importance": stack.norm_weights[:, ii, jj] * stack.total[:, t, jj],
            "item_performance": stack.item_performance[:, ii],
            "target_performance": stack.construct_performance[:, t],
        }

    est = axes(point)
    if boot is not None:
        drawn = axes(boot.draws)
    else:
        drawn = {k: np.empty((0, *v.shape[1:])) for k, v in est.items()}
    constructs = pd.DataFrame({"construct": [names[j] for j in drivers]})
    _add_axes(constructs, est, drawn, "construct", level)
    items = pd.DataFrame(
        {
            "construct": [names[j] for j, _ in item_pairs],
            "item": [prep.items[i] for _, i in item_pairs],
            "weight": [point.norm_weights[0, i, j] for j, i in item_pairs],
        }
    )
    _add_axes(items, est, drawn, "item", level)
    t_low, t_high = _report.interval(
        drawn["target_performance"][:, None], level, 1, _report.INDEX_SCALE
    )
    draws = IPMADraws(
        **{k: _report.frozen(v) for k, v in drawn.items()},
        constructs=tuple(constructs["construct"]),
        items=tuple(zip(items["construct"], items["item"], strict=True)),
        n_boot=n_boot,
        n_failed=boot.n_failed if boot else 0,
        seed=boot.seed if boot else None,
    )
    provenance = _report.provenance(prep, boot, n_boot, level)
    provenance["target"] = target
    return IPMAResult(
        target=target,
        constructs=constructs[list(CONSTRUCT_COLUMNS)],
        items=items[list(ITEM_COLUMNS)],
        target_performance=float(est["target_performance"][0]),
        target_performance_ci=(float(t_low[0]), float(t_high[0])),
        draws=draws,
        level=level,
        warnings=result_warnings(prep, point, boot),
        provenance=provenance,
    )


# --- helpers ---------------------------------------------------------------------------


def _target_index(prep: Prepared, target: str) -> int:
    if target not in prep.constructs:
        raise ValueError(f"target {target!r} is not a construct of the model: {prep.constructs}")
    t = prep.constructs.index(target)
    if not prep.layout.reachable()[t].any():  # type: ignore[union-attr]
        raise ValueError(
            f"target {target!r} has no predictors: choose an endogenous construct "
            f"({', '.join(prep.layout.endogenous)})"  # type: ignore[union-attr]
        )
    return t


def _add_axes(
    table: pd.DataFrame,
    estimates: dict[str, FloatArray],
    draws: dict[str, FloatArray],
    level_name: str,
    level: float,
) -> None:
    for axis in ("importance", "performance"):
        key = f"{level_name}_{axis}"
        scale = _report.INDEX_SCALE if axis == "performance" else None
        low, high = _report.interval(draws[key], level, table.shape[0], scale)
        table[axis] = estimates[key][0]
        table[f"{axis}_ci_low"] = low
        table[f"{axis}_ci_high"] = high
