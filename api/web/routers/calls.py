"""Interviewer pages of the outbound-call team (外呼): ``/calls``.

- ``GET /calls``: my queue: the "next case" button, the case I hold, why no case is due
  (before the calling hours, held by others, waiting for retries or appointments) with the
  next due time, the appointments I booked, my calls today.
- ``POST /calls/next``: take the next case (:func:`survey.cati.queue.next_case`) and open it.
- ``GET /calls/{case_id}``: the case: what the interviewer needs of the customer (reference,
  tier, region, hall, language), the number masked, earlier calls and their notes, for a
  follow-up its reasons and the low answers that opened it, the interview, the outcome form.
- ``POST /calls/{case_id}/reveal``: the number, shown once to dial; written to the audit log.
- ``POST /calls/{case_id}/interview``: start (or continue) the questionnaire.
- ``/calls/interview/case-{id}``, ``.../p/{n}``: the questionnaire, by the respondent's page
  flow (:class:`api.web.answering_pages.Flow`) in interviewer mode ("refused" and "don't know"
  offered as distinct codes); saving a page renews the hold; the last page leads back here.
- ``POST /calls/{case_id}/outcome``: how the call ended (an AAPOR disposition), with the
  appointment's time, notes and, for a follow-up, its outcome and root cause (closing it).
- ``POST /calls/{case_id}/release``: give the case back without calling.

Only the interviewer holding a case sees or changes it; anyone else gets a 403 page (the
hold is checked in :mod:`survey.cati.queue`, the same rule as for recording). Phone numbers reach
only those who dial (``call_customers`` and ``view_phone_numbers``). The time is
:func:`current_time`: ``app.state.clock`` when set (tests move it), else the real time.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlmodel import Session

from api.permissions import Permission, allowed
from api.web.answering_pages import (
    CsrfRefused,
    Flow,
    answering_router,
    posted_form,
    staff_csrf_subject,
)
from api.web.auth import CsrfChecked, client_ip, csrf_token, page, require_permission
from api.web.deps import Now, RowId, SessionDep, SettingsDep
from api.web.formats import label, local_time
from survey.answering.pages import Link, LinkUnavailable, questionnaire_of, stored_answers
from survey.cati.outcomes import LABELS as CALL_LABELS
from survey.cati.outcomes import OUTCOMES, STOPPED, STOPPED_EARLY
from survey.cati.queue import (
    CaseNotHeld,
    CatiError,
    answered_share,
    extend_hold,
    held_case,
    next_case,
    open_phone_interview,
    record_attempt,
    release_case,
    rules_for,
    start_phone_interview,
)
from survey.cati.reports import interviewer_days
from survey.cati.waiting import Waiting, my_appointments, why_nothing_due
from survey.db.tables import (
    AuditLog,
    CallAttempt,
    CallCase,
    Campaign,
    Customer,
    FollowUp,
    QuestionnaireVersion,
    Staff,
)
from survey.db.tables import Response as SurveyResponse
from survey.frames.phones import mask_phone
from survey.programmes.contact import follow_up_context
from survey.remedy.rules import OUTCOME_LABELS as REMEDY_OUTCOME_LABELS
from survey.remedy.rules import OUTCOMES as REMEDY_OUTCOMES
from survey.remedy.rules import (
    REASON_LABELS,
    ROOT_CAUSE_LABELS,
    ROOT_CAUSES,
    FollowUpError,
    close_follow_up,
)
from survey.staff import audit

# -- labels (zh, en) ---------------------------------------------------------------------------

MESSAGES = {
    "recorded": ("通话结果已记录。", "The call is recorded."),
    "empty": ("现在没有到期可拨打的案例。", "No case is due now."),
    "released": ("案例已交回队列。", "The case is back in the queue."),
    "completed": ("问卷已完成：请记录通话结果。", "Questionnaire complete: record the call."),
}
TEXT_MAX = 2000


# -- dependencies ------------------------------------------------------------------------------


Caller = Annotated[Staff, Depends(require_permission(Permission.CALL_CUSTOMERS))]
#: Revealing a number needs both: calling and seeing numbers (issue 7's rule, in one place).
DIALLING = [Depends(require_permission(Permission.VIEW_PHONE_NUMBERS))]


def refusal(request: Request, status: int, zh: str, en: str) -> HTMLResponse:
    return page(request, "calls/refused.html", status, zh=zh, en=en)


class CallsRoute(APIRoute):
    """Turns a case held by someone else (403), an unknown case or a closed interview (404)
    and a refused questionnaire CSRF check (403) into pages; sign-in refusals pass through."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except CaseNotHeld as error:
                return refusal(request, 403, "这个案例不在您手上。", str(error))
            except (CatiError, LinkUnavailable) as error:
                en = str(error) or "This interview is not open: go back to your queue."
                return refusal(request, 404, "没有可打开的案例或访谈。", en)
            except CsrfRefused:
                return refusal(request, 403, "表单已过期，请重新打开页面。", "The form expired.")

        return route


router = APIRouter(prefix="/calls", tags=["calls"], route_class=CallsRoute, include_in_schema=False)


# -- helpers -----------------------------------------------------------------------------------


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


@dataclass(frozen=True, slots=True)
class LowAnswer:
    question: tuple[str, str]
    answer: tuple[str, str]


def _low_answers(session: Session, follow_up: FollowUp) -> list[LowAnswer]:
    """What made the customer dissatisfied: rating answers on the scale's two lowest points,
    NPS detractors (0-6) and any comment, in questionnaire order."""
    response = session.get(SurveyResponse, follow_up.response_id)
    version = session.get(QuestionnaireVersion, response.questionnaire_version_id)
    questionnaire = questionnaire_of(version)
    answers = stored_answers(session, response.id)
    low = []
    for item in questionnaire.items:
        value = answers.get(item.name)
        question = (item.label.get("zh", ""), item.label.get("en", ""))
        if value in (None, ""):
            continue
        if item.type == "text":
            low.append(LowAnswer(question, (value, value)))
            continue
        if item.is_low(value):
            choice = item.choices.choice(value) if item.choices is not None else None
            labels = choice.label if choice is not None else {}
            low.append(LowAnswer(question, (labels.get("zh", value), labels.get("en", value))))
    return low


def _dialled_at(session: Session, staff: Staff, call_case: CallCase, now: datetime):
    """When this interviewer last revealed the number for this call: the call's start."""
    last_call = session.execute(
        select(CallAttempt.ended_at)
        .where(CallAttempt.case_id == call_case.id)
        .order_by(CallAttempt.ended_at.desc())
        .limit(1)
    ).scalar()
    query = select(AuditLog.at).where(
        AuditLog.staff_id == staff.id,
        AuditLog.action == audit.PERSONAL_DATA_ACCESS,
        AuditLog.target == f"customer:{call_case.customer_id}",
        AuditLog.at <= now,
    )
    if last_call is not None:
        query = query.where(AuditLog.at > last_call)
    return session.execute(query.order_by(AuditLog.at.desc()).limit(1)).scalar()


def _case_page(
    request: Request,
    session: Session,
    settings,
    staff: Staff,
    call_case: CallCase,
    now: datetime,
    *,
    phone: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    customer = session.get(Customer, call_case.customer_id)
    campaign = session.get(Campaign, call_case.campaign_id) if call_case.campaign_id else None
    rules = rules_for(campaign, settings.timezone)
    zone = rules.timezone
    attempts = session.execute(
        select(CallAttempt, Staff.display_name)
        .join(Staff, Staff.id == CallAttempt.interviewer_id)
        .where(CallAttempt.case_id == call_case.id)
        .order_by(CallAttempt.started_at, CallAttempt.id)
    ).all()
    follow_up = session.execute(
        select(FollowUp).where(FollowUp.case_id == call_case.id)
    ).scalar_one_or_none()
    interview = share = None
    if call_case.response_id is not None:
        interview = session.get(SurveyResponse, call_case.response_id)
        version = session.get(QuestionnaireVersion, interview.questionnaire_version_id)
        share = answered_share(questionnaire_of(version), stored_answers(session, interview.id))
    outcomes = [
        (name, label(CALL_LABELS, name), OUTCOMES[name].code)
        for name in OUTCOMES
        if name not in STOPPED_EARLY
    ]
    if call_case.kind == "interview":
        outcomes.insert(1, (STOPPED, label(CALL_LABELS, STOPPED), "1.2 / 2.12"))
    return page(
        request,
        "calls/case.html",
        status_code,
        staff=staff,
        supervisor=allowed(staff.role, Permission.SUPERVISE),
        case=call_case,
        customer=customer,
        campaign=campaign,
        masked=mask_phone(customer.phone_e164),
        phone=phone,
        timezone=zone,
        held_until=local_time(call_case.held_until, zone, "%H:%M"),
        attempts=[
            {
                "when": local_time(attempt.ended_at or attempt.started_at, zone),
                "who": who,
                "outcome": label(CALL_LABELS, attempt.outcome),
                "code": attempt.disposition,
                "appointment": local_time(attempt.appointment_at, zone),
                "notes": attempt.notes or "",
            }
            for attempt, who in attempts
        ],
        follow_up=follow_up,
        follow_up_due=local_time(follow_up.due_at, zone) if follow_up else "",
        reasons=[label(REASON_LABELS, r) for r in follow_up.reasons] if follow_up else [],
        low_answers=_low_answers(session, follow_up) if follow_up else [],
        **follow_up_context(session, follow_up.response_id if follow_up else None, zone),
        interview=interview,
        share=share,
        threshold=rules.partial_threshold,
        outcomes=outcomes,
        remedy_outcomes=[(name, label(REMEDY_OUTCOME_LABELS, name)) for name in REMEDY_OUTCOMES],
        root_causes=[(name, label(ROOT_CAUSE_LABELS, name)) for name in ROOT_CAUSES],
        today=local_time(now, zone, "%Y-%m-%d"),
        values=values or {},
        errors=errors or {},
        message=message,
        csrf=csrf_token(request, settings),
    )


# -- my queue ----------------------------------------------------------------------------------


def _why(waiting: Waiting, zone: str) -> list[tuple[str, str]]:
    """Why no case is due, one (zh, en) sentence per reason, and when the next one is."""
    hours = "; ".join(waiting.hours)
    sentences = {
        "nothing_open": ("队列里没有待拨打的案例。", "There is no case left to call."),
        "outside_hours": (
            f"现在不在拨打时间内（{hours}）：{waiting.outside_hours} 个到期案例等待开始拨打。",
            f"Outside the calling hours ({hours}): {waiting.outside_hours} due case(s) wait "
            "for them to open.",
        ),
        "held": (
            f"{waiting.held} 个到期案例正由其他访员处理。",
            f"{waiting.held} due case(s) are held by other interviewers.",
        ),
        "later": (
            f"{waiting.later} 个案例在等待下次拨打时间（其中预约回访 {waiting.appointments} 个）。",
            f"{waiting.later} case(s) wait for their next call time ({waiting.appointments} "
            "of them appointments).",
        ),
        "paused": (
            f"{waiting.paused} 个访问案例所属的调查活动已暂停或结束。",
            f"{waiting.paused} interview case(s) belong to paused or ended campaigns.",
        ),
    }
    why = [sentences[reason] for reason in waiting.reasons]
    if waiting.next_due is not None:
        when = local_time(waiting.next_due, zone)
        why.append((f"下一个案例到期：{when}（{zone}）。", f"Next case due: {when} ({zone})."))
    return why


@router.get("", response_class=HTMLResponse)
def queue(
    request: Request,
    staff: Caller,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    m: str = "",
) -> HTMLResponse:
    zone = settings.timezone
    held = [
        (c, local_time(c.held_until, zone, "%H:%M"), c.held_until <= now)
        for c in session.execute(
            select(CallCase)
            .where(CallCase.held_by == staff.id, CallCase.status == "open")
            .order_by(CallCase.id)
        ).scalars()
    ]
    today = now.astimezone(ZoneInfo(zone)).date()
    mine = interviewer_days(session, today, zone, staff_id=staff.id)
    waiting = why_nothing_due(session, staff.id, now, timezone=zone)
    return page(
        request,
        "calls/queue.html",
        staff=staff,
        supervisor=allowed(staff.role, Permission.SUPERVISE),
        held=held,
        why=_why(waiting, zone) if waiting.reasons else [],
        appointments=[
            {
                "case_id": a.case_id,
                "when": local_time(a.at, zone),
                "due": a.at <= now,
                "campaign": a.campaign,
                "notes": a.notes,
                "held_by_other": a.held_by_other,
            }
            for a in my_appointments(session, staff.id, now)
        ],
        timezone=zone,
        day=mine[0] if mine else None,
        today=today.isoformat(),
        outcome_labels=CALL_LABELS,
        message=MESSAGES.get(m),
        csrf=csrf_token(request, settings),
    )


@router.post("/next")
def take_next(
    staff: Caller, session: SessionDep, settings: SettingsDep, now: Now, _: CsrfChecked
) -> Response:
    found = next_case(session, staff.id, now, timezone=settings.timezone)
    return _see_other(f"/calls/{found.id}" if found is not None else "/calls?m=empty")


# -- the questionnaire: the answering pages, one case at a time ---------------------------------


def _case_of(token: str) -> int:
    kind, _, number = token.partition("-")
    if kind != "case" or not number.isdigit():
        raise LinkUnavailable
    return int(number)


def _open_case(session: Session, token: str, _secret: str, staff: Staff) -> Link:
    # A token (``case-{id}``) opens only a case the interviewer holds.
    return open_phone_interview(session, _case_of(token), staff.id)


def _back_to_case(token: str) -> tuple[str, str]:
    case_id = _case_of(token)
    label = (
        f"返回案例 #{case_id}（记录结果） · Back to case #{case_id} (record the call) [Alt+Shift+C]"
    )
    return f"/calls/{case_id}", label


def _renew_hold(session: Session, token: str, staff: Staff, now: datetime, settings) -> None:
    """A posted page renews the interviewer's hold on the case before it is saved.

    The page's CSRF field is the answering pages' own (an HMAC of the case token under the
    service's secret, checked before anything else); the session cookie is SameSite=Lax, so
    another site cannot post here with the interviewer's login either.
    """
    extend_hold(session, _case_of(token), staff.id, now, timezone=settings.timezone)


PHONE = Flow(
    prefix="/calls/interview",
    tag="calls",
    open=_open_case,
    staff=require_permission(Permission.CALL_CUSTOMERS),
    back=_back_to_case,
    before_save=_renew_hold,
    route_class=CallsRoute,
    csrf_subject=staff_csrf_subject,
    desk=True,
)

pages = answering_router(PHONE)


# -- one case ----------------------------------------------------------------------------------


@router.get("/{case_id:int}", response_class=HTMLResponse)
def show_case(
    request: Request,
    case_id: RowId,
    staff: Caller,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    m: str = "",
) -> HTMLResponse:
    # Looking at the case is working on it: the hold is renewed (and checked).
    call_case = extend_hold(session, case_id, staff.id, now, timezone=settings.timezone)
    zh_en = MESSAGES.get(m)
    return _case_page(
        request, session, settings, staff, call_case, now,
        message=" ".join(zh_en) if zh_en else "",
    )  # fmt: skip


@router.post("/{case_id:int}/reveal", response_class=HTMLResponse, dependencies=DIALLING)
def reveal(
    request: Request,
    case_id: RowId,
    staff: Caller,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
) -> HTMLResponse:
    """The full number, in this response only (a reload of the case page masks it again)."""
    call_case = extend_hold(session, case_id, staff.id, now, timezone=settings.timezone)
    customer = session.get(Customer, call_case.customer_id)
    # Audited (and committed) before the number is sent; the clock's time also dates the
    # start of the call (see _dialled_at).
    audit.audit(
        session,
        staff,
        audit.PERSONAL_DATA_ACCESS,
        f"customer:{customer.id}",
        {"field": "phone", "purpose": "dial", "case_id": case_id},
        client_ip(request),
        at=now,
    )
    return _case_page(request, session, settings, staff, call_case, now, phone=customer.phone_e164)


@router.post("/{case_id:int}/interview")
def start_interview(
    case_id: RowId,
    staff: Caller,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
) -> Response:
    start_phone_interview(session, case_id, staff.id, now, timezone=settings.timezone)
    return _see_other(f"{PHONE.prefix}/case-{case_id}")


@router.post("/{case_id:int}/release")
def give_back(
    case_id: RowId, staff: Caller, session: SessionDep, now: Now, _: CsrfChecked
) -> Response:
    release_case(session, case_id, staff.id, now)
    return _see_other("/calls?m=released")


# -- recording the call ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeForm:
    outcome: str
    appointment_at: datetime | None
    notes: str | None
    remedy: str | None
    root_cause: str | None


def _appointment(form: dict[str, list[str]], timezone: str) -> tuple[datetime | None, str]:
    day, clock = _first(form, "appointment_date"), _first(form, "appointment_time")
    if not day or not clock:
        return None, "请填写预约日期和时间。 Give the appointment's date and time."
    try:
        moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock))
    except ValueError:
        return None, "日期或时间格式不对。 Write the date as 2026-03-02 and the time as 19:30."
    return moment.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC), ""


def read_outcome(
    form: dict[str, list[str]], call_case: CallCase, follow_up: FollowUp | None, timezone: str
) -> tuple[OutcomeForm | None, dict[str, str]]:
    """The posted outcome form, or the errors per field (checked before anything is written:
    a follow-up's closing must not fail after its call is recorded)."""
    errors: dict[str, str] = {}
    outcome = _first(form, "outcome")
    allowed_outcomes = {n for n in OUTCOMES if n not in STOPPED_EARLY}
    if call_case.kind == "interview":
        allowed_outcomes.add(STOPPED)
    if outcome not in allowed_outcomes:
        errors["outcome"] = "请选择通话结果。 Choose how the call ended."
    appointment_at = None
    if outcome == "appointment":
        appointment_at, problem = _appointment(form, timezone)
        if problem:
            errors["appointment"] = problem
    notes = _first(form, "notes")
    if len(notes) > TEXT_MAX:
        errors["notes"] = f"备注最多 {TEXT_MAX} 字。 Notes take at most {TEXT_MAX} characters."
    remedy = _first(form, "remedy") or None
    root_cause = _first(form, "root_cause") or None
    if follow_up is not None and follow_up.status == "open":
        reached = outcome == "complete"
        if remedy is not None and remedy not in REMEDY_OUTCOMES:
            errors["remedy"] = "请选择补救结果。 Choose the follow-up's outcome."
        elif reached and remedy not in ("resolved", "not_resolved"):
            errors["remedy"] = (
                "客户已接通：请选择已解决或未解决。 The customer was reached: resolved or not?"
            )
        elif remedy in ("resolved", "not_resolved") and not reached:
            errors["remedy"] = (
                "只有接通的通话（完成访问）才能记为已解决/未解决。 "
                "Resolved or not resolved needs the outcome 'complete' (customer reached)."
            )
        elif remedy == "unreachable" and reached:
            errors["remedy"] = "已接通的客户不是联系不上。 A reached customer is not unreachable."
        if remedy in ("resolved", "not_resolved") and root_cause not in ROOT_CAUSES:
            errors["root_cause"] = "请选择根本原因。 Choose the root cause."
        if remedy == "unreachable":
            root_cause = None
    else:
        remedy = root_cause = None
    if errors:
        return None, errors
    return OutcomeForm(outcome, appointment_at, notes or None, remedy, root_cause), errors


@router.post("/{case_id:int}/outcome", response_class=HTMLResponse)
def record_outcome(
    request: Request,
    case_id: RowId,
    staff: Caller,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
    form: Annotated[dict[str, list[str]], Depends(posted_form)],
) -> Response:
    call_case = held_case(session, case_id, staff.id)
    campaign = session.get(Campaign, call_case.campaign_id) if call_case.campaign_id else None
    zone = rules_for(campaign, settings.timezone).timezone
    follow_up = session.execute(
        select(FollowUp).where(FollowUp.case_id == case_id)
    ).scalar_one_or_none()
    values = {key: _first(form, key) for key in form if key != "csrf"}
    parsed, errors = read_outcome(form, call_case, follow_up, zone)
    if parsed is not None:
        try:
            record_attempt(
                session,
                case_id,
                staff.id,
                "partial" if parsed.outcome == STOPPED else parsed.outcome,
                now,
                appointment_at=parsed.appointment_at,
                notes=parsed.notes,
                started_at=_dialled_at(session, staff, call_case, now),
                timezone=settings.timezone,
            )
        except CaseNotHeld:
            raise
        except CatiError as error:
            errors = {"record": str(error)}
    if errors:
        call_case = held_case(session, case_id, staff.id)
        return _case_page(
            request, session, settings, staff, call_case, now,
            values=values, errors=errors, status_code=422,
        )  # fmt: skip
    if parsed.remedy is not None:
        try:
            close_follow_up(
                session, follow_up.id, parsed.remedy, parsed.root_cause, staff.id, now,
                notes=parsed.notes,
            )  # fmt: skip
            session.commit()
        except FollowUpError:
            # Closed by someone else meanwhile (its call is recorded either way).
            session.rollback()
    return _see_other("/calls?m=recorded")
