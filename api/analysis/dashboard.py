"""Which stored analysis a manager's page shows, and what of it they may see.

The pages never compute statistics: they read the results the worker stored
(survey.analyses.jobs) and cut them to the reader's scope (api.analysis.scope). A manager limited
to regions gets an analysis filtered to exactly their regions when one is stored (they may
see it whole); otherwise the all-customer analysis, of which they see their own units only.
Even the count of analyses waiting for the worker counts only the jobs the reader may see.
"""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.analysis.request import AnalysisFilters, Segment
from api.analysis.result import AnalysisResult, read_result
from api.analysis.scope import job_visible, scoped_result
from scoring.priority_rules import CONCENTRATE
from survey.analyses import jobs as analyses
from survey.db.states import AnalysisStatus
from survey.db.tables import Analysis, QuestionnaireVersion, Staff
from survey.staff.accounts import sees_everywhere
from survey.staff.scope import Scope

#: The filters of the scheduled analyses: every customer.
ALL_CUSTOMERS: dict[str, list] = AnalysisFilters().model_dump()


def version_name(version: QuestionnaireVersion) -> str:
    return f"{version.form_id}@{version.version}"


def analysed_versions(session: Session) -> list[QuestionnaireVersion]:
    """Questionnaire versions with a finished analysis, the most recently analysed first."""
    newest = func.max(Analysis.id)
    rows = session.exec(
        select(QuestionnaireVersion, newest)
        .join(Analysis, col(Analysis.questionnaire_version_id) == QuestionnaireVersion.id)
        .where(Analysis.status == analyses.DONE)
        .group_by(col(QuestionnaireVersion.id))
        .order_by(newest.desc())
    ).all()
    return [version for version, _ in rows]


def filter_choices(staff: Staff) -> list[dict[str, list]]:
    """The filters to look for, in order: the reader's own regions (or, for a manager of
    service halls, their halls) first, then everyone."""
    if sees_everywhere(staff):
        return [ALL_CUSTOMERS]
    own = [{**ALL_CUSTOMERS, "region": sorted(set(staff.regions))}] if staff.regions else []
    if staff.service_halls:
        own.append({**ALL_CUSTOMERS, "service_hall": sorted(set(staff.service_halls))})
    return [*own, ALL_CUSTOMERS]


def find_job(
    session: Session,
    scope: Scope,
    version_id: int,
    period: str | None,
    segment: str | None,
    *,
    any_segment: bool = False,
    choices: list[dict[str, list]] | None = None,
) -> Analysis | None:
    """The newest finished analysis of ``period`` cut by ``segment`` (None: not cut), with
    the first of the filter ``choices`` found (by default :func:`filter_choices`).

    With ``any_segment``, an analysis cut by a segment stands in for an uncut one: its
    totals (indexes, trends, whole matrices, rankings) are the same computation.
    """
    segments = [segment]
    if segment is None and any_segment:
        segments += list(get_args(Segment))
    for filters in filter_choices(scope.staff) if choices is None else choices:
        for cut in segments:
            job = analyses.latest_done(
                session, version_id, period=period, segment=cut, filters=filters
            )
            if job is not None:
                return job
    return None


def visible(session: Session, scope: Scope, job: Analysis | None) -> AnalysisResult | None:
    """The job's result as the reader may see it."""
    if job is None:
        return None
    return scoped_result(scope, job.request, read_result(session, job))


def ranking_result(
    session: Session, scope: Scope, version_id: int, period: str | None
) -> tuple[Analysis | None, AnalysisResult | None]:
    """The analysis of every customer of a period, as the reader may see it: the one whose
    rankings place units among all units. An analysis filtered to the reader's regions ranks
    their units among themselves (Wenzhou's halls 1-7 instead of 22-42 of 42), so it never
    stands in for it."""
    job = find_job(session, scope, version_id, period or None, None, any_segment=True,
                   choices=[ALL_CUSTOMERS])  # fmt: skip
    return job, visible(session, scope, job)


def period_result(
    session: Session, scope: Scope, version_id: int, period: str | None
) -> tuple[Analysis | None, AnalysisResult | None]:
    """The analysis of a period whose totals a page shows (cut by a segment or not), and
    its result as the reader may see it."""
    job = find_job(session, scope, version_id, period or None, None, any_segment=True)
    return job, visible(session, scope, job)


def indexes_by_construct(result: AnalysisResult) -> dict[str, dict[str, Any]]:
    return {row["construct"]: row for row in (result.indexes or {}).get("indexes", [])}


def periods(session: Session, scope: Scope, version_id: int) -> list[str | None]:
    """Periods with a finished analysis the reader's pages can use: all data first, then the
    newest quarter and month first."""
    wanted = [analyses.filters_hash(filters) for filters in filter_choices(scope.staff)]
    found = set(
        session.exec(
            select(Analysis.period)
            .distinct()
            .where(
                Analysis.questionnaire_version_id == version_id,
                Analysis.status == analyses.DONE,
                col(Analysis.filters_hash).in_(wanted),
            )
        ).all()
    )
    named = sorted((p for p in found if p is not None), reverse=True)
    return ([None] if None in found else []) + named


def waiting(session: Session, scope: Scope, version_id: int | None = None) -> int:
    """Analyses queued or running (the worker has not finished them yet) that the reader
    may see."""
    query = select(Analysis.request).where(
        col(Analysis.status).in_((AnalysisStatus.QUEUED, AnalysisStatus.RUNNING))
    )
    if version_id is not None:
        query = query.where(Analysis.questionnaire_version_id == version_id)
    if scope.everywhere:
        return int(session.exec(select(func.count()).select_from(query.subquery())).one())
    return sum(job_visible(scope, request or {}) for request in session.exec(query))


def focus_constructs(result: AnalysisResult) -> list[str]:
    """The target and what it drives (satisfaction and loyalty): the indexes shown first."""
    trends = (result.trends or {}).get("Q") or {}
    return list(dict.fromkeys([result.target, *trends]))


def ranked_points(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not matrix:
        return []
    return sorted(matrix.get("points", []), key=lambda p: (p.get("rank") or 10**6, p["name"]))


def top_priorities(matrix: dict[str, Any] | None, most: int = 5) -> list[dict[str, Any]]:
    """What to improve first, as the matrix says: the points in "concentrate here", best
    ranked first. A high priority score alone does not make a point a priority: one in
    another quadrant is not listed, so the list never contradicts the picture."""
    return [p for p in ranked_points(matrix) if p.get("quadrant") == CONCENTRATE][:most]
