"""Impacts: unstandardized total effects between 0-100 construct scores.

"One point more satisfaction gives 0.28 points more loyalty": :func:`impacts` states
every total effect of a PLS model the ACSI way, with bootstrap intervals. The IPMA
(:mod:`scoring.ipma`) uses the same quantities as its importance axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.diagnostics import ModelWarning
from scoring import _report
from scoring.prepared import Bounds, prepare
from scoring.rescaled import (
    bootstrap_stack,
    check_bootstrap_settings,
    point_stack,
    result_warnings,
)

__all__ = ["IMPACT_COLUMNS", "ImpactResult", "impacts"]

FloatArray = npt.NDArray[np.float64]
IMPACT_COLUMNS = ("lhs", "rhs", "impact", "impact_direct", "std_total", "se", "ci_low", "ci_high")


@dataclass(frozen=True, eq=False)
class ImpactResult(_report.TextReport):
    """Unstandardized effects between 0-100 construct scores.

    Attributes
    ----------
    impacts : pandas.DataFrame
        ``IMPACT_COLUMNS``, one row per pair joined by a path (lhs the outcome, rhs the
        predictor, as in the model's ``effects``): ``impact`` the unstandardized total
        effect, ``impact_direct`` the unstandardized direct path, ``std_total`` the
        model's standardized total effect, and the impact's bootstrap ``se``, ``ci_low``,
        ``ci_high`` (NaN without a bootstrap).
    draws : numpy.ndarray
        ``(n_kept, n_pairs)`` bootstrap replicates of ``impact``, read-only.
    level : float
    warnings : tuple of ModelWarning
    provenance : dict
    """

    impacts: pd.DataFrame
    draws: FloatArray
    level: float
    warnings: tuple[ModelWarning, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def impact(self, outcome: str, predictor: str) -> float:
        """Points of ``outcome`` gained per point of ``predictor`` (total effect)."""
        t = self.impacts
        row = t.loc[(t["lhs"] == outcome) & (t["rhs"] == predictor), "impact"]
        if row.empty:
            raise KeyError(f"no path from {predictor!r} to {outcome!r}")
        return float(row.iloc[0])

    def summary(self) -> str:
        parts = [
            f"Impacts on 0-100 construct scores, n = {self.provenance['n_obs']}"
            + _report.boot_line(self.provenance, self.level),
            "Impacts (points of lhs per point of rhs)\n" + _report.text_table(self.impacts, 4),
        ]
        return _report.summary_text(parts, self.warnings)

    def _repr_html_(self) -> str:
        return _report.html_report(
            "Impacts (0-100)",
            f"n = {self.provenance['n_obs']}",
            [("Impacts", self.impacts)],
            self.warnings,
        )

    def to_dict(self, include_draws: bool = False) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        return _report.result_dict(
            {"level": self.level, "impacts": _report.records(self.impacts)},
            self.warnings,
            self.provenance,
            self.draws.tolist() if include_draws else None,
        )


def impacts(
    model: Any,
    frame: pd.DataFrame,
    bounds: Bounds,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> ImpactResult:
    """Unstandardized total effects between 0-100 construct scores, with intervals.

    Parameters
    ----------
    model : PLSResult or ModelFit
        A PLS fit; a :class:`models.fit.ModelFit` brings its measurement warnings along.
    frame : pandas.DataFrame
        The data the model was fitted to ("cannot answer" as NaN).
    bounds : tuple, mapping or questionnaire
        The items' scale bounds, as in :func:`scoring.indexes.rescale`.
    n_boot : int
        Bootstrap resamples (0 skips the intervals); each re-estimates the PLS model
        from the resample's moments.
    level, random_state
        Coverage of the percentile intervals and seed of the resampling, as in
        :func:`scoring.ipma.ipma`.

    Returns
    -------
    ImpactResult

    Notes
    -----
    "+1 point of X moves Y by b points": with the standardized total effect
    :math:`\\beta^{T}_{YX}` and the sds of the 0-100 construct scores,

    .. math:: b_{YX} = \\beta^{T}_{YX}\\, \\frac{sd(Y^{0-100})}{sd(X^{0-100})},

    equivalently the total effects :math:`(I - B_u)^{-1} - I` of the OLS paths
    :math:`B_u` between the 0-100 scores (Ringle & Sarstedt 2016). The sd of a 0-100
    score is :math:`1 / \\sum_i (w_i / \\tilde s_i)` since the standardized score has
    variance one. Respondent weights do not enter: the model is unweighted.

    Validated against OLS of 0-100 scores built by a direct loop (1e-8).

    References
    ----------
    Ringle & Sarstedt (2016) and Fornell et al. (1996), cited in full under
    :func:`scoring.ipma.ipma`.
    """
    check_bootstrap_settings(n_boot, level)
    prep = prepare(model, frame, bounds, None, need_pls=True)
    point = point_stack(prep)
    # (outcome, predictor) of every connected pair, in the model's ``effects`` order.
    o, p = np.nonzero(prep.layout.reachable())  # type: ignore[union-attr]
    boot = bootstrap_stack(prep, n_boot, random_state, pls=True) if n_boot else None
    draws = boot.draws.total[:, o, p] if boot else np.empty((0, len(o)))
    low, high = _report.interval(draws, level, len(o))
    names = prep.constructs
    table = pd.DataFrame(
        {
            "lhs": [names[i] for i in o],
            "rhs": [names[j] for j in p],
            "impact": point.total[0, o, p],
            "impact_direct": point.direct[0, o, p],
            "std_total": point.total_std[0, o, p],
            "se": _report.se(draws),
            "ci_low": low,
            "ci_high": high,
        },
        columns=list(IMPACT_COLUMNS),
    )
    return ImpactResult(
        impacts=table,
        draws=_report.frozen(draws),
        level=level,
        warnings=result_warnings(prep, point, boot),
        provenance=_report.provenance(prep, boot, n_boot, level),
    )
