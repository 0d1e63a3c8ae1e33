"""What of a stored analysis a regional manager may see.

A manager limited to regions or service halls (survey.staff.accounts) sees an analysis whole only
when its filters keep their own customers alone. Otherwise they see the parts that are
theirs: their units' blocks of a segmented analysis and their units' rows of the rankings.
Totals (indexes, trends, the whole matrix, the model) mix in other regions' customers and
are withheld, so that no other region's numbers can be reached or derived.
"""

from __future__ import annotations

from typing import Any

from api.analysis.result import AnalysisResult, PriorityView
from survey.db.tables import Staff
from survey.staff.accounts import in_scope, sees_everywhere

WITHHELD = (
    "Totals are withheld: this analysis covers regions outside your scope. Your regions' and "
    "service halls' own blocks are shown; ask for an analysis filtered to your region for "
    "its indexes and trends."
)


def covers_only_scope(staff: Staff, filters: dict[str, list]) -> bool:
    """Whether the analysis's filters keep only customers that ``staff`` may see."""
    if sees_everywhere(staff):
        return True
    regions, halls = filters.get("region") or [], filters.get("service_hall") or []
    if regions and all(region in staff.regions for region in regions):
        return True
    return bool(halls) and all(hall in staff.service_halls for hall in halls)


def unit_in_scope(staff: Staff, unit_kind: str | None, unit: str, hall_regions: dict) -> bool:
    if unit_kind == "region":
        return in_scope(staff, unit, None)
    if unit_kind == "service_hall":
        return in_scope(staff, hall_regions.get(unit), unit)
    return False  # tiers and channels cut across regions


def scoped_result(
    staff: Staff, request: dict[str, Any], result: AnalysisResult | None
) -> AnalysisResult | None:
    """``result`` as ``staff`` may see it (the same object when they may see all of it)."""
    if result is None or covers_only_scope(staff, request.get("filters") or {}):
        return result
    halls = result.hall_regions
    priorities = {
        name: PriorityView(
            matrix=None,
            segments=[
                block for block in view.segments
                if unit_in_scope(staff, result.segment, block["segment"], halls)
            ],
        )
        for name, view in result.priorities.items()
    }  # fmt: skip
    rankings = {}
    for kind, rows in result.rankings.items():
        visible = {row["unit"] for row in rows if unit_in_scope(staff, kind, row["unit"], halls)}
        rankings[kind] = [
            {**row, "indistinguishable_from": [u for u in row.get("indistinguishable_from") or []
                                               if u in visible]}
            for row in rows if row["unit"] in visible
        ]  # fmt: skip
    return AnalysisResult(
        version=result.version, period=result.period, target=result.target,
        segment=result.segment, labels=result.labels, drivers=result.drivers,
        hall_regions={h: r for h, r in halls.items() if in_scope(staff, r, h)},
        priorities=priorities, rankings=rankings, scope="limited", withheld=WITHHELD,
    )  # fmt: skip


#: Provenance that says how an analysis was made, not what it found: shown to everyone who
#: may read the analysis. The rest (n, warnings, the data fingerprint) describes totals.
HOW = ("engine", "estimator", "indexes_and_priorities_from", "questionnaire", "period",
       "filters", "bootstrap", "seed", "libraries", "python", "computed_at")  # fmt: skip


def scoped_provenance(staff: Staff, request: dict[str, Any], provenance: dict[str, Any] | None):
    """``provenance`` as ``staff`` may see it: without totals when the result is scoped."""
    if provenance is None or covers_only_scope(staff, request.get("filters") or {}):
        return provenance
    return {**{k: provenance[k] for k in HOW if k in provenance}, "scope": "limited"}
