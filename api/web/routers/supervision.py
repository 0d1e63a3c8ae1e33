"""Supervisor pages of the outbound-call team: ``/supervision``.

- ``GET /supervision``: the live queue per campaign (open, held, due now, appointments
  today), the held cases with who holds them, today's attempts and completes per interviewer
  and hour, mean interview length and refusal rate (``?day=YYYY-MM-DD`` for another day).
- ``GET /supervision?campaign=&cases_from=``: the open cases in the queue's order, a page
  of :data:`CASES_PER_PAGE`, to pick one and hand it to an interviewer (a button per row,
  the interviewer chosen once above the list).
- ``POST /supervision/reassign``, ``POST /supervision/release``: hand a case to an
  interviewer, or put a held case back in the queue (audited).
- ``GET /supervision/productivity.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``: completed
  questionnaires per interviewer and day, for payment (audited as an export).
- ``GET /supervision/follow-ups?week=YYYY-MM-DD``: the weekly service-remedy report and the
  open follow-ups, past-due ones first; a manager limited to regions or halls gets both of
  their scope (:func:`survey.staff.scope.follow_up_clause`).

The numbers come from :mod:`survey.cati.reports` and :mod:`survey.remedy.report`; days are
local to ``Settings.timezone``. No page here shows a phone number.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from api.permissions import Permission, allowed
from api.web.auth import CsrfChecked, client_ip, csrf_token, page, require_permission
from api.web.deps import MAX_ID, Day, Now, SessionDep, SettingsDep
from api.web.formats import label
from api.web.formats import local_time as shown
from survey.cati.outcomes import LABELS as OUTCOME_LABELS
from survey.cati.queue import CALLER_ROLES, CatiError, force_release, reassign_case
from survey.cati.reports import (
    activity_by_hour,
    held_cases,
    interviewer_days,
    open_cases,
    productivity,
    queue_by_campaign,
    team_day,
)
from survey.db.tables import CallCase, Staff
from survey.remedy.report import open_follow_ups_of, weekly_report
from survey.remedy.rules import OUTCOME_LABELS as REMEDY_LABELS
from survey.remedy.rules import REASON_LABELS, ROOT_CAUSE_LABELS
from survey.spreadsheets import csv_cell
from survey.staff import audit
from survey.staff.accounts import describe_scope

router = APIRouter(prefix="/supervision", tags=["supervision"], include_in_schema=False)

Supervisor = Annotated[Staff, Depends(require_permission(Permission.SUPERVISE))]
RemedyReader = Annotated[Staff, Depends(require_permission(Permission.VIEW_FOLLOW_UPS))]
DayQuery = Annotated[Day | None, Query()]
CampaignQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID)]
#: Open cases listed per page to pick from.
CASES_PER_PAGE = 50

CASE_REASSIGNED = "case_reassigned"
CASE_RELEASED = "case_released"
MESSAGES = {
    "reassigned": "案例已转交。 The case is reassigned.",
    "released": "案例已交回队列。 The case is back in the queue.",
}


def _today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _callers(session: Session) -> list[Staff]:
    return list(
        session.execute(
            select(Staff).where(Staff.active, Staff.role.in_(CALLER_ROLES)).order_by(Staff.username)
        ).scalars()
    )


def _dashboard(
    request: Request,
    session: Session,
    settings,
    staff: Staff,
    now: datetime,
    day: date | None,
    *,
    campaign: int | None = None,
    cases_from: int = 0,
    message: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    zone = settings.timezone
    listed, total = open_cases(
        session, now, campaign_id=campaign, limit=CASES_PER_PAGE, offset=cases_from
    )
    day = day or _today(now, zone)
    hourly = activity_by_hour(session, day, zone)
    hours = sorted({row.hour for row in hourly})
    grid: dict[str, dict[int, tuple[int, int]]] = {}
    for row in hourly:
        grid.setdefault(row.username, {})[row.hour] = (row.attempts, row.completes)
    people = interviewer_days(session, day, zone)
    return page(
        request,
        "supervision/index.html",
        status_code,
        staff=staff,
        supervisor=True,
        day=day.isoformat(),
        timezone=zone,
        queue=queue_by_campaign(session, now, zone),
        open_cases=[
            {
                "id": c.case_id,
                "kind": c.kind,
                "campaign": c.campaign,
                "where": " · ".join(part for part in (c.region, c.service_hall) if part),
                "attempts": c.attempts,
                "holder": c.holder,
                "held_until": shown(c.held_until, zone, "%H:%M"),
                "appointment": shown(c.appointment_at, zone),
                "next_call": "" if c.due(now) else shown(c.next_call_at, zone),
            }
            for c in listed
        ],
        cases_total=total,
        cases_from=cases_from,
        cases_to=cases_from + len(listed),
        cases_previous=max(cases_from - CASES_PER_PAGE, 0) if cases_from else None,
        cases_next=cases_from + CASES_PER_PAGE if cases_from + CASES_PER_PAGE < total else None,
        campaign=campaign,
        held=[
            (case, shown(case.since, zone, "%H:%M"), shown(case.until, zone, "%H:%M"))
            for case in held_cases(session, now)
        ],
        callers=_callers(session),
        hours=hours,
        grid=grid,
        people=people,
        team=team_day(people),
        outcome_labels=OUTCOME_LABELS,
        month_start=day.replace(day=1).isoformat(),
        message=message,
        error=error,
        csrf=csrf_token(request, settings),
    )


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request,
    staff: Supervisor,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    day: DayQuery = None,
    campaign: CampaignQuery = None,
    cases_from: OffsetQuery = 0,
    m: str = "",
) -> HTMLResponse:
    return _dashboard(
        request, session, settings, staff, now, day, campaign=campaign, cases_from=cases_from,
        message=MESSAGES.get(m, ""),
    )  # fmt: skip


@router.post("/reassign", response_class=HTMLResponse)
def reassign(
    request: Request,
    staff: Supervisor,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
    case_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    to: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    earlier = session.get(CallCase, case_id)
    previous = earlier.held_by if earlier is not None else None
    try:
        reassign_case(session, case_id, to, staff.id, now, timezone=settings.timezone)
    except CatiError as error:
        return _dashboard(
            request, session, settings, staff, now, None, error=str(error), status_code=409
        )
    audit.audit(
        session, staff, CASE_REASSIGNED, f"call_case:{case_id}",
        {"from": previous, "to": to}, client_ip(request), at=now,
    )  # fmt: skip
    return RedirectResponse("/supervision?m=reassigned", status_code=303)


@router.post("/release", response_class=HTMLResponse)
def release(
    request: Request,
    staff: Supervisor,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
    case_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    try:
        holder = force_release(session, case_id, staff.id, now)
    except CatiError as error:
        return _dashboard(
            request, session, settings, staff, now, None, error=str(error), status_code=409
        )
    audit.audit(
        session, staff, CASE_RELEASED, f"call_case:{case_id}",
        {"from": holder}, client_ip(request), at=now,
    )  # fmt: skip
    return RedirectResponse("/supervision?m=released", status_code=303)


@router.get("/productivity.csv")
def productivity_csv(
    request: Request,
    staff: Supervisor,
    session: SessionDep,
    settings: SettingsDep,
    first: Annotated[Day, Query(alias="from")],
    last: Annotated[Day, Query(alias="to")],
) -> Response:
    """One row per interviewer and day with at least one completed questionnaire."""
    try:
        rows = productivity(session, first, last, settings.timezone)
    except ValueError as error:
        return Response(f"{error}\n", status_code=422, media_type="text/plain; charset=utf-8")
    out = io.StringIO()
    # Names are typed by people: a spreadsheet must never run one as a formula.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "username", "display_name", "completes"])
    for row in rows:
        name = csv_cell(row.display_name)
        writer.writerow([row.day.isoformat(), row.username, name, row.completes])
    audit.audit(
        session, staff, audit.EXPORT, "productivity.csv",
        {"from": first.isoformat(), "to": last.isoformat(), "rows": len(rows),
         "completes": sum(r.completes for r in rows), "timezone": settings.timezone},
        client_ip(request),
    )  # fmt: skip
    name = f"productivity_{first.isoformat()}_{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


@router.get("/follow-ups", response_class=HTMLResponse)
def follow_ups(
    request: Request,
    staff: RemedyReader,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    week: DayQuery = None,
) -> HTMLResponse:
    """The weekly remedy report and the open follow-ups, of the reader's scope; the week
    starts on Monday unless ``week`` says otherwise."""
    zone = settings.timezone
    today = _today(now, zone)
    start = week or today - timedelta(days=today.weekday())
    report = weekly_report(session, start, zone, now=now, reader=staff)
    return page(
        request,
        "supervision/follow_ups.html",
        staff=staff,
        supervisor=allowed(staff.role, Permission.SUPERVISE),
        caller=allowed(staff.role, Permission.CALL_CUSTOMERS),
        report=report,
        scope=", ".join(describe_scope(staff)),
        rate=None if report.resolution_rate is None else f"{report.resolution_rate:.0%}",
        previous=(start - timedelta(days=7)).isoformat(),
        following=(start + timedelta(days=7)).isoformat(),
        timezone=zone,
        open_cases=[
            {
                "id": f.id,
                "opened": shown(f.opened_at, zone),
                "due": shown(f.due_at, zone),
                "late": f.due_at < now,
                "reasons": [label(REASON_LABELS, r) for r in f.reasons],
                "case_id": f.case_id,
            }
            for f, _, _ in open_follow_ups_of(session, staff)
        ],
        reason_labels=REASON_LABELS,
        remedy_labels=REMEDY_LABELS,
        cause_labels=ROOT_CAUSE_LABELS,
    )
