"""What of a stored analysis, and of its job, a regional manager may see.

A manager limited to regions or service halls (survey.staff.scope) sees an analysis whole only
when its filters keep their own customers alone. Otherwise they see the parts that are
theirs: their units' blocks of a segmented analysis and their units' rows of the rankings,
among the other units' places with neither name nor numbers (:func:`anonymous`).
Totals (indexes, trends, the whole matrix, the model) mix in other regions' customers and
are withheld, so that no other region's numbers can be reached or derived.

A job itself is theirs to see (listed, read) only when every region and hall its filters
name is theirs (:func:`job_visible`): another region's filters and failure are that region's
business. A failure is told whole only with a result they may see whole; otherwise in
general terms (:func:`scoped_error`), as "12 completed responses pass the filters" of an
analysis of every customer would give a count of every region.
"""

from __future__ import annotations

from typing import Any

from api.analysis.result import AnalysisResult, PriorityView
from survey.staff.scope import Scope

WITHHELD = (
    "Totals are withheld: this analysis covers regions outside your scope. Your regions' and "
    "service halls' own blocks are shown; ask for an analysis filtered to your region for "
    "its indexes and trends."
)
#: What a limited reader is told of a failure of an analysis that covers other regions.
FAILED_ELSEWHERE = (
    "This analysis failed. It covers regions outside your scope, so its reason is shown to "
    "those who see every region; an analysis filtered to your region tells you its own."
)


def _filters(request: dict[str, Any]) -> dict[str, Any]:
    return request.get("filters") or {}


def job_visible(scope: Scope, request: dict[str, Any]) -> bool:
    """Whether the reader may see the job at all (in lists, read by its id)."""
    return scope.names_only_own(_filters(request))


def covers_only_scope(scope: Scope, request: dict[str, Any]) -> bool:
    """Whether the job's filters keep only customers the reader may see: all of it is theirs."""
    return scope.keeps_only_own(_filters(request))


def scoped_error(scope: Scope, request: dict[str, Any], error: str | None) -> str | None:
    """A failed job's reason as the reader may read it."""
    if error is None or covers_only_scope(scope, request):
        return error
    return FAILED_ELSEWHERE


def unit_in_scope(scope: Scope, unit_kind: str | None, unit: str, hall_regions: dict) -> bool:
    if unit_kind == "region":
        return scope.sees(unit, None)
    if unit_kind == "service_hall":
        return scope.sees(hall_regions.get(unit), unit)
    return False  # tiers and channels cut across regions


def anonymous(row: dict[str, Any]) -> dict[str, Any]:
    """Another unit's place in a ranking, without its name or numbers: a limited reader sees
    where their own units stand among all units (Wenzhou 7th of 7, its halls 22-42 of 42),
    not who the others are or what they scored."""
    return {"unit": None, "rank": row.get("rank"), "rank_low": row.get("rank_low"),
            "rank_high": row.get("rank_high")}  # fmt: skip


def scoped_result(
    scope: Scope, request: dict[str, Any], result: AnalysisResult | None
) -> AnalysisResult | None:
    """``result`` as the reader may see it (the same object when they may see all of it)."""
    if result is None or covers_only_scope(scope, request):
        return result
    halls = result.hall_regions
    priorities = {
        name: PriorityView(
            matrix=None,
            segments=[
                block for block in view.segments
                if unit_in_scope(scope, result.segment, block["segment"], halls)
            ],
        )
        for name, view in result.priorities.items()
    }  # fmt: skip
    rankings = {}
    for kind, rows in result.rankings.items():
        visible = {row["unit"] for row in rows if unit_in_scope(scope, kind, row["unit"], halls)}
        rankings[kind] = [
            {**row, "indistinguishable_from": [u for u in row.get("indistinguishable_from") or []
                                               if u in visible]}
            if row["unit"] in visible else anonymous(row)
            for row in rows
        ]  # fmt: skip
    return AnalysisResult(
        version=result.version, period=result.period, target=result.target,
        segment=result.segment, labels=result.labels, drivers=result.drivers,
        hall_regions={h: r for h, r in halls.items() if scope.sees(r, h)},
        priorities=priorities, rankings=rankings, scope="limited", withheld=WITHHELD,
    )  # fmt: skip


#: Provenance that says how an analysis was made, not what it found: shown to everyone who
#: may read the analysis. The rest (n, warnings, the data fingerprint) describes totals.
HOW = ("engine", "estimator", "indexes_and_priorities_from", "questionnaire", "period",
       "filters", "bootstrap", "seed", "libraries", "python", "computed_at")  # fmt: skip


def scoped_provenance(scope: Scope, request: dict[str, Any], provenance: dict[str, Any] | None):
    """``provenance`` as the reader may see it: without totals when the result is scoped."""
    if provenance is None or covers_only_scope(scope, request):
        return provenance
    return {**{k: provenance[k] for k in HOW if k in provenance}, "scope": "limited"}
