"""Which stored analysis a manager's page shows, and what of it they may see.

The pages never compute statistics: they read the results the worker stored
(survey.analyses.jobs) and cut them to the reader's scope (api.analysis.scope). A manager limited
to regions gets an analysis filtered to exactly their regions when one is stored (they may
see it whole); otherwise the all-customer analysis, of which they see their own units only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.analysis.request import AnalysisFilters
from api.analysis.scope import scoped_result
from survey.analyses import jobs as analyses
from survey.db.tables import Analysis, QuestionnaireVersion, Staff
from survey.questionnaire import publish
from survey.staff.accounts import sees_everywhere

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


def find_version(session: Session, name: str) -> QuestionnaireVersion | None:
    """The version named FORM@VERSION (None when there is none, or the name is malformed)."""
    form_id, at, number = name.partition("@")
    return publish.find_version(session, form_id, number) if at else None


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
    staff: Staff,
    version_id: int,
    period: str | None,
    segment: str | None,
    *,
    any_segment: bool = False,
) -> Analysis | None:
    """The newest finished analysis of ``period`` cut by ``segment`` (None: not cut).

    With ``any_segment``, an analysis cut by a segment stands in for an uncut one: its
    totals (indexes, trends, whole matrices, rankings) are the same computation.
    """
    for filters in filter_choices(staff):
        matching = {"period": period, "segment": segment, "filters": filters}
        job = analyses.latest_done(session, version_id, matching=matching)
        if job is None and segment is None and any_segment:
            job = analyses.latest_done(session, version_id,
                                       matching={"period": period, "filters": filters})  # fmt: skip
        if job is not None:
            return job
    return None


def visible(session: Session, staff: Staff, job: Analysis | None) -> dict[str, Any] | None:
    """The job's result as ``staff`` may see it."""
    if job is None:
        return None
    return scoped_result(staff, job.request, analyses.stored_result(session, job))


def period_result(
    session: Session, staff: Staff, version_id: int, period: str | None
) -> tuple[Analysis | None, dict[str, Any] | None]:
    """The analysis of a period whose totals a page shows (cut by a segment or not), and
    its result as ``staff`` may see it."""
    job = find_job(session, staff, version_id, period or None, None, any_segment=True)
    return job, visible(session, staff, job)


def indexes_by_construct(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["construct"]: row for row in (result.get("indexes") or {}).get("indexes", [])}


def periods(session: Session, staff: Staff, version_id: int) -> list[str | None]:
    """Periods with a finished analysis the reader's pages can use: all data first, then the
    newest quarter and month first."""
    wanted = filter_choices(staff)
    requests = session.exec(
        select(Analysis.request).where(
            Analysis.questionnaire_version_id == version_id, Analysis.status == analyses.DONE
        )
    ).all()
    found = {r.get("period") for r in requests if r.get("filters") in wanted}
    named = sorted((p for p in found if p is not None), reverse=True)
    return ([None] if None in found else []) + named


def waiting(session: Session, version_id: int | None = None) -> int:
    """Analyses queued or running (the worker has not finished them yet)."""
    query = (
        select(func.count())
        .select_from(Analysis)
        .where(col(Analysis.status).in_((analyses.QUEUED, analyses.RUNNING)))
    )
    if version_id is not None:
        query = query.where(Analysis.questionnaire_version_id == version_id)
    return int(session.exec(query).one())


def label_of(result: dict[str, Any], name: str) -> dict[str, str]:
    return (result.get("labels") or {}).get(name) or {"zh": name, "en": name}


def focus_constructs(result: dict[str, Any]) -> list[str]:
    """The target and what it drives (satisfaction and loyalty): the indexes shown first."""
    trends = (result.get("trends") or {}).get("Q") or {}
    return list(dict.fromkeys([result.get("target") or "satisfaction", *trends]))


def ranked_points(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not matrix:
        return []
    return sorted(matrix.get("points", []), key=lambda p: (p.get("rank") or 10**6, p["name"]))
