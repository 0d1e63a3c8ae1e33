"""The two axes of a priority matrix, with paired bootstrap draws.

:func:`ipma_axes` takes them from an :class:`scoring.ipma.IPMAResult`; :func:`method_axes`
computes them with another importance measure (Johnson's relative weights, exact
Shapley/LMG, zero-order correlation) on the 0-100 construct and item scores, resampling
the rows exactly as :func:`scoring.ipma.ipma` does with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from models.pls_bootstrap import bootstrap_batches, generator
from scoring import _report
from scoring.importance import correlation_importance, lmg, relative_weights
from scoring.ipma import IPMAResult, ipma
from scoring.prepared import Bounds, prepare
from scoring.rescaled import mean_stack, point_stack

__all__ = ["LEVELS", "METHODS", "Axes", "ipma_axes", "method_axes"]

FloatArray = npt.NDArray[np.float64]
METHODS: tuple[str, ...] = ("ipma", "relative-weights", "shapley", "correlation")
LEVELS: tuple[str, ...] = ("construct", "item")
_IMPORTANCE = {
    "relative-weights": relative_weights,
    "shapley": lmg,
    "correlation": correlation_importance,
}


@dataclass(frozen=True, eq=False)
class Axes:
    """Importance and performance of each driver (a construct or an item), point and draws.

    Row ``k`` of ``importance_draws`` and of ``performance_draws`` come from the same
    bootstrap resample.
    """

    method: str
    level: str
    target: str
    names: tuple[str, ...]
    constructs: tuple[str, ...]
    importance: FloatArray
    performance: FloatArray
    importance_draws: FloatArray
    performance_draws: FloatArray
    target_performance: float
    target_performance_draws: FloatArray
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def restrict(self, dimension: str) -> Axes:
        """The items of one dimension only (item level)."""
        keep = np.array([c == dimension for c in self.constructs])
        if self.level != "item":
            raise ValueError("dimension= restricts an item-level matrix; use level='item'")
        if not keep.any():
            raise ValueError(
                f"dimension {dimension!r} is not a driver of {self.target!r}: choose one of "
                f"{', '.join(dict.fromkeys(self.constructs))}"
            )
        return Axes(
            self.method,
            self.level,
            self.target,
            tuple(n for n, k in zip(self.names, keep, strict=True) if k),
            tuple(c for c, k in zip(self.constructs, keep, strict=True) if k),
            self.importance[keep],
            self.performance[keep],
            self.importance_draws[:, keep],
            self.performance_draws[:, keep],
            self.target_performance,
            self.target_performance_draws,
            self.warnings,
            {**self.provenance, "dimension": dimension},
        )


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def ipma_axes(result: IPMAResult, level: str = "construct") -> Axes:
    """The axes of an IPMA: construct total effects or item importances, 0-100 means."""
    _check_level(level)
    d = result.draws
    if level == "construct":
        table = result.constructs
        names = tuple(table["construct"])
        constructs = names
        imp_draws, perf_draws = d.construct_importance, d.construct_performance
    else:
        table = result.items
        names = tuple(table["item"])
        constructs = tuple(table["construct"])
        imp_draws, perf_draws = d.item_importance, d.item_performance
    return Axes(
        method="ipma",
        level=level,
        target=result.target,
        names=names,
        constructs=constructs,
        importance=table["importance"].to_numpy(dtype=np.float64),
        performance=table["performance"].to_numpy(dtype=np.float64),
        importance_draws=np.asarray(imp_draws),
        performance_draws=np.asarray(perf_draws),
        target_performance=result.target_performance,
        target_performance_draws=np.asarray(d.target_performance),
        warnings=result.warnings,
        provenance=dict(result.provenance),
    )


def method_axes(
    model: Any,
    frame: pd.DataFrame,
    bounds: Bounds,
    target: str,
    *,
    method: str,
    level: str = "construct",
    weights: str | npt.ArrayLike | None = None,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> Axes:
    """Importance by relative weights, Shapley/LMG or correlation; 0-100 performance.

    Parameters
    ----------
    model, frame, bounds, target, weights, n_boot, random_state
        As in :func:`scoring.ipma.ipma`.
    method : {"relative-weights", "shapley", "correlation"}
    level : {"construct", "item"}
    ci_level : float
        Coverage of the percentile intervals (only recorded here).

    Returns
    -------
    Axes

    Notes
    -----
    The drivers are those of the IPMA (every construct with a total effect on the
    target). Their 0-100 construct scores use the model's normalised unstandardized outer
    weights, missing answers replaced by the item's (respondent-weighted) mean as in the
    model. Construct importance is the method applied to the regression of the target's
    score on the drivers' scores (:func:`scoring.importance.relative_weights`, ``lmg``,
    ``correlation_importance``), with respondent weights. An item's importance is its
    dimension's importance times the item's share within the dimension: the method's
    share of the R² (correlation: the item's correlation over the sum of its dimension's)
    when the target's score is regressed on the dimension's 0-100 items, so that item
    importances add up to their dimension's, as IPMA's do.

    Performance is the (respondent-weighted) mean 0-100 score, the same point value as
    the IPMA's. In each resample the scores are taken as data (outer weights fixed at the
    full sample's), so performance intervals omit the small uncertainty of the weights
    that :func:`scoring.ipma.ipma` re-estimates. Resamples are drawn by the same generator
    calls as :func:`scoring.ipma.ipma`, so one seed gives the same resampled rows to every
    method. A resample whose importance cannot be computed (a constant score) is dropped
    and counted.
    """
    _check_level(level)
    if method not in _IMPORTANCE:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    base = ipma(model, frame, bounds, target, weights=weights, n_boot=0, level=ci_level)
    prep = prepare(model, frame, bounds, weights, need_pls=True)
    point = point_stack(prep)
    norm = point.norm_weights[0]
    drivers = list(base.constructs["construct"])
    cols = [prep.constructs.index(c) for c in drivers]
    t = prep.constructs.index(target)
    means = point.item_performance[0]
    scaled = (prep.raw - prep.low) * (100.0 / prep.span)
    filled = np.where(np.isnan(scaled), means, scaled)
    scores = filled @ norm
    items = [(c, i) for c, i in zip(base.items["construct"], base.items["item"], strict=True)]
    item_cols = [prep.items.index(i) for _, i in items]
    blocks = {c: [prep.items.index(i) for cc, i in items if cc == c] for c in drivers}

    def importance(freq: FloatArray | None) -> FloatArray:
        return _importance(method, level, scores, cols, t, filled, blocks, drivers, items, freq)

    imp = importance(prep.respondent_weights)
    if level == "construct":
        names, constructs = tuple(drivers), tuple(drivers)
        perf = point.construct_performance[0, cols]
    else:
        names, constructs = tuple(i for _, i in items), tuple(c for c, _ in items)
        perf = means[item_cols]
    imp_draws, perf_draws, target_draws, failed, seed = [], [], [], 0, None
    if n_boot:
        rng, seed = generator(random_state)
        for counts in bootstrap_batches(rng, prep.n, n_boot):
            stack = mean_stack(prep, counts)
            construct_perf = stack.item_performance @ norm
            for r, c in enumerate(counts):
                freq = c if prep.respondent_weights is None else c * prep.respondent_weights
                try:
                    value = importance(freq)
                except ValueError:
                    failed += 1
                    continue
                imp_draws.append(value)
                if level == "construct":
                    perf_draws.append(construct_perf[r, cols])
                else:
                    perf_draws.append(stack.item_performance[r, item_cols])
                target_draws.append(construct_perf[r, t])
    d = len(names)
    warnings = base.warnings
    if failed:
        warnings += (
            ModelWarning(
                "bootstrap-failed-resamples",
                f"{failed} of {n_boot} bootstrap resamples gave no {method} importance (a "
                "constant score in the resample) and were discarded.",
            ),
        )
    provenance = dict(base.provenance)
    provenance.update(n_boot=n_boot, n_failed=failed, seed=seed, level=ci_level)
    return Axes(
        method=method,
        level=level,
        target=target,
        names=names,
        constructs=constructs,
        importance=np.asarray(imp, dtype=np.float64),
        performance=np.asarray(perf, dtype=np.float64),
        importance_draws=np.array(imp_draws, dtype=np.float64).reshape(-1, d),
        performance_draws=np.array(perf_draws, dtype=np.float64).reshape(-1, d),
        target_performance=base.target_performance,
        target_performance_draws=np.array(target_draws, dtype=np.float64),
        warnings=warnings,
        provenance=_report.jsonable(provenance),
    )


def _importance(method, level, scores, cols, t, filled, blocks, drivers, items, freq):
    """Importance of the drivers (construct level) or of their items, one replicate."""
    compute = _IMPORTANCE[method]
    y = scores[:, t]
    X = pd.DataFrame(scores[:, cols], columns=drivers)
    construct = compute(X, y, freq)["importance"].to_numpy()
    if level == "construct":
        return construct
    out = []
    for j, c in enumerate(drivers):
        rows = blocks[c]
        if len(rows) == 1:
            out.append(np.array([construct[j]]))
            continue
        table = compute(pd.DataFrame(filled[:, rows]), y, freq)
        raw = table["importance"].to_numpy()
        share = table["share"].to_numpy() if "share" in table else raw / raw.sum()
        out.append(construct[j] * share)
    return np.concatenate(out)
