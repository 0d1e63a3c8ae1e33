"""Satisfaction indexes on 0-100: ACSI-style PLS-weighted indexes and plain mean indexes.

:func:`rescale` puts item scores on 0-100 with the questionnaire's scale bounds;
:func:`construct_indexes` combines them into one index per construct, weighted by the
model's outer weights (``method="pls-weighted"``, Fornell et al. 1996) or equally
(``method="mean"``), with bootstrap intervals and per-respondent 0-100 scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from scoring import _report
from scoring.prepared import Bounds, bound_arrays, check_in_bounds, prepare
from scoring.rescaled import (
    bootstrap_stack,
    check_bootstrap_settings,
    mean_stack,
    point_stack,
    respondent_scores,
    result_warnings,
)

__all__ = ["INDEX_COLUMNS", "IndexMethod", "IndexResult", "construct_indexes", "rescale"]

FloatArray = npt.NDArray[np.float64]
IndexMethod = Literal["pls-weighted", "mean"]
INDEX_COLUMNS = ("construct", "method", "index", "se", "ci_low", "ci_high", "n_items", "n_obs")
_METHODS = ("pls-weighted", "mean")


def rescale(frame: pd.DataFrame, bounds: Bounds) -> pd.DataFrame:
    """Item scores on 0-100 from the scale's bounds (not the observed range).

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric item scores, "cannot answer" as NaN.
    bounds : tuple, mapping or questionnaire
        ``(min, max)`` applied to every column of ``frame``; or a mapping item ->
        ``(min, max)``, whose items are rescaled; or a questionnaire (an object whose
        ``item(name).bounds`` is the scale's ``(min, max)``), for every column of
        ``frame``.

    Returns
    -------
    pandas.DataFrame
        The rescaled columns, same index, NaN kept.

    Raises
    ------
    ValueError
        For a non-numeric column, an item without bounds or with ``max <= min``, or a
        value outside its scale (typically a missing code such as 6 = "cannot answer"
        left as a number).

    Notes
    -----
    :math:`x^{0-100} = (x - \\min) / (\\max - \\min) \\times 100` with the scale's
    :math:`\\min` and :math:`\\max`, as the ACSI reports indexes (Fornell et al. 1996;
    Ringle & Sarstedt 2016). Using the observed range instead would make a sample that
    never answers 1 or 5 look like it spans the whole scale.

    References
    ----------
    Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996). The
    American Customer Satisfaction Index: nature, purpose, and findings. *Journal of
    Marketing*, 60(4), 7-18. doi:10.2307/1251898

    Examples
    --------
    >>> rescale(pd.DataFrame({"a": [1.0, 3.0, 5.0, None]}), (1, 5))["a"].tolist()
    [0.0, 50.0, 100.0, nan]
    """
    if isinstance(bounds, dict) or hasattr(bounds, "keys"):
        items = list(bounds.keys())  # type: ignore[union-attr]
        absent = [c for c in items if c not in frame.columns]
        if absent:
            raise ValueError(f"items not in frame: {', '.join(map(str, absent))}")
    else:
        items = list(frame.columns)
    non_numeric = [c for c in items if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f"item columns must be numeric; not numeric: {', '.join(non_numeric)}")
    low, span = bound_arrays(bounds, [str(c) for c in items])
    raw = frame.loc[:, items].to_numpy(dtype=np.float64, na_value=np.nan)
    check_in_bounds(raw, [str(c) for c in items], low, span)
    return pd.DataFrame((raw - low) * (100.0 / span), index=frame.index, columns=items)


@dataclass(frozen=True, eq=False)
class IndexResult(_report.TextReport):
    """0-100 construct indexes with their intervals.

    Attributes
    ----------
    indexes : pandas.DataFrame
        ``INDEX_COLUMNS``: construct, method (``"pls-weighted"`` or ``"mean"``), index,
        bootstrap se, ci_low, ci_high (NaN without a bootstrap), n_items, n_obs.
    items : pandas.DataFrame
        ``construct, item, weight, performance``: each item's normalised weight in its
        construct (``1/k`` for the mean method) and its (weighted) mean on 0-100.
    scores : pandas.DataFrame
        0-100 construct scores per respondent (rows used by the model).
    draws : numpy.ndarray
        ``(n_kept, n_constructs)`` bootstrap replicates of the indexes, columns in the
        order of ``indexes``; read-only, empty without a bootstrap.
    method : str
    level : float
        Coverage of the intervals.
    warnings : tuple of ModelWarning
        The model's warnings (engine and measurement quality) followed by the index's.
    provenance : dict
        Method, bootstrap settings and seed, bounds, weighting, the model's identity.
    """

    indexes: pd.DataFrame
    items: pd.DataFrame
    scores: pd.DataFrame
    draws: FloatArray
    method: str
    level: float
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def index(self, construct: str) -> float:
        """The index of one construct."""
        row = self.indexes.loc[self.indexes["construct"] == construct, "index"]
        if row.empty:
            raise KeyError(f"no construct {construct!r}")
        return float(row.iloc[0])

    def summary(self) -> str:
        """Plain-text report: indexes with intervals, item weights, warnings."""
        p = self.provenance
        head = f"Construct indexes (0-100), method {self.method}, n = {p['n_obs']}"
        head += _report.boot_line(p, self.level)
        if p["weighted"]:
            head += "\n  respondent-weighted means"
        parts = [
            head,
            "Indexes\n" + _report.text_table(self.indexes),
            "Items\n" + _report.text_table(self.items, 3),
        ]
        return _report.summary_text(parts, self.warnings)

    def _repr_html_(self) -> str:
        facts = f"method {self.method}, n = {self.provenance['n_obs']}"
        return _report.html_report(
            "Construct indexes (0-100)", facts, [("Indexes", self.indexes)], self.warnings
        )

    def to_dict(self, include_draws: bool = False) -> dict[str, Any]:
        """JSON-ready dict (NaN as None); ``include_draws`` adds the bootstrap replicates."""
        fields = {
            "method": self.method,
            "level": self.level,
            "indexes": _report.records(self.indexes),
            "items": _report.records(self.items),
        }
        draws = self.draws.tolist() if include_draws else None
        return _report.result_dict(fields, self.warnings, self.provenance, draws)


def construct_indexes(
    model: Any,
    frame: pd.DataFrame,
    bounds: Bounds,
    *,
    method: IndexMethod = "pls-weighted",
    weights: str | npt.ArrayLike | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> IndexResult:
    """ACSI-style 0-100 indexes per construct, PLS-weighted or plain means.

    Parameters
    ----------
    model : PLSResult, ModelFit or mapping
        A PLS fit (:func:`models.pls.fit_pls`, or :func:`models.fit.fit_model` with the
        PLS engine, whose measurement-quality warnings then travel onto the index). For
        ``method="mean"`` also a mapping construct -> items.
    frame : pandas.DataFrame
        The data the model was fitted to (checked against the model's data hash): item
        scores, "cannot answer" as NaN; may hold other columns (a weight column).
    bounds : tuple, mapping or questionnaire
        The items' scale bounds, as in :func:`rescale`.
    method : {"pls-weighted", "mean"}
        ``"pls-weighted"``: items weighted by the model's normalised unstandardized outer
        weights; ``"mean"``: equal item weights.
    weights : str, array-like or None
        Respondent weights: a column of ``frame`` or one value per row. They weight the
        item means (and so the index); the PLS weights stay those of the (unweighted)
        model. Variance estimation for weighted designs is left to
        :mod:`scoring.weights`: the bootstrap here resamples respondents with their
        weights attached.
    n_boot : int
        Bootstrap resamples (0 skips the intervals). Under ``"pls-weighted"`` every
        resample re-estimates the PLS weights.
    level : float
        Coverage of the percentile intervals.
    random_state : int, numpy.random.Generator or None
        Seed of the resampling (a local generator; None draws a seed, recorded in the
        provenance).

    Returns
    -------
    IndexResult

    Raises
    ------
    ValueError
        For a frame that is not the model's data, values outside the bounds, invalid
        weights or settings.
    TypeError
        For a model that is not a PLS fit (a SEM fit has no outer weights).

    See Also
    --------
    rescale : the 0-100 item scores.
    scoring.ipma.ipma : importance-performance map from the same quantities.

    Notes
    -----
    With item scores :math:`x^{0-100}_i = (x_i - \\min_i)/(\\max_i - \\min_i) \\cdot 100`,
    their (weighted) means :math:`\\bar x_i`, sds :math:`\\tilde s_i` and the model's
    standardized outer weights :math:`w_i`, the normalised unstandardized weights of
    construct :math:`j` are

    .. math:: \\tilde w_i = \\frac{w_i / \\tilde s_i}{\\sum_{k \\in j} w_k / \\tilde s_k},

    and the index is :math:`I_j = \\sum_{i \\in j} \\tilde w_i \\bar x_i` (Fornell et al.
    1996); for ``"mean"``, :math:`\\tilde w_i = 1/k_j`. The respondent's score is
    :math:`\\sum_i \\tilde w_i x^{0-100}_i`, a missing answer replaced by the item's mean
    as in the model's mean replacement, so the (weighted) mean of the scores is the index.
    Items on one scale have :math:`\\tilde w_i \\propto w_i / s_i`, the model's
    ``unstandardized_weights``. A bootstrap resample (rows drawn with replacement, as
    :func:`models.pls.fit_pls` draws them) re-estimates the PLS weights from its own
    moments, mean replacement included; resamples with a constant item are discarded
    and counted. Intervals are percentile (type-7 quantiles).

    Validated against a direct loop implementation of these formulas on the sample
    survey (tests/unit/scoring/test_indexes.py), to 1e-8.

    References
    ----------
    Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996). The
    American Customer Satisfaction Index: nature, purpose, and findings. *Journal of
    Marketing*, 60(4), 7-18. doi:10.2307/1251898

    Ringle, C. M., & Sarstedt, M. (2016). Gain more insight from your PLS-SEM results:
    The importance-performance map analysis. *Industrial Management & Data Systems*,
    116(9), 1865-1886. doi:10.1108/IMDS-10-2015-0449

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> frame = pd.DataFrame(rng.integers(1, 6, size=(50, 2)).astype(float),
    ...                      columns=["a1", "a2"])
    >>> result = construct_indexes({"A": ["a1", "a2"]}, frame, (1, 5), method="mean",
    ...                            n_boot=0)
    >>> round(result.index("A"), 2) == round(float(((frame - 1) / 4 * 100).mean().mean()), 2)
    True
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    check_bootstrap_settings(n_boot, level)
    pls = method == "pls-weighted"
    prep = prepare(model, frame, bounds, weights, need_pls=pls)
    point = point_stack(prep) if pls else mean_stack(prep)
    norm = point.norm_weights[0]
    boot = bootstrap_stack(prep, n_boot, random_state, pls=pls) if n_boot else None
    draws = boot.draws.construct_performance if boot else np.empty((0, len(prep.constructs)))
    low, high = _report.interval(draws, level, len(prep.constructs), _report.INDEX_SCALE)
    indexes = pd.DataFrame(
        {
            "construct": list(prep.constructs),
            "method": method,
            "index": point.construct_performance[0],
            "se": _report.se(draws),
            "ci_low": low,
            "ci_high": high,
            "n_items": [len(rows) for rows in prep.blocks],
            "n_obs": prep.n,
        },
        columns=list(INDEX_COLUMNS),
    )
    item_rows = [(j, int(i)) for j, rows in enumerate(prep.blocks) for i in rows]
    items = pd.DataFrame(
        {
            "construct": [prep.constructs[j] for j, _ in item_rows],
            "item": [prep.items[i] for _, i in item_rows],
            "weight": [norm[i, j] for j, i in item_rows],
            "performance": [point.item_performance[0, i] for _, i in item_rows],
        }
    )
    provenance = {"method": method, **_report.provenance(prep, boot, n_boot, level)}
    return IndexResult(
        indexes=indexes,
        items=items,
        scores=respondent_scores(prep, norm),
        draws=_report.frozen(draws),
        method=method,
        level=level,
        warnings=result_warnings(prep, point, boot, pls=pls),
        provenance=provenance,
    )
