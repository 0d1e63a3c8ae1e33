"""Standing programmes in the operations console: the list, a new one, pause and resume, and
each one's incentives (the rule, crediting, the monthly lottery).

- ``/console/programmes``: every programme with its settings and state, and today's
  contacts by decision (:func:`survey.programmes.manage.decisions_between`, one GROUP BY over
  ``contact_event``, the local day of ``/dashboard/agents``, which each row links to).
- ``/console/programmes/new``: the form of ``manyi programme create``, checked by the same
  function (:func:`survey.programmes.manage.programme_problems`), every problem beside its
  field; created by :func:`~survey.programmes.manage.create_programme`.
- ``/console/programmes/{id}``: its settings, pause and resume
  (:func:`~survey.programmes.manage.change_state`), and its incentives as ``manyi
  incentives`` sets, credits and draws them (:mod:`survey.programmes.incentives`).

Every route needs ``operate``; every form POST its CSRF field; every action is audited
(creating, pausing, resuming and crediting here, the rule and the draw by the incentives'
own audit rows, with the staff member and their address). The credits' export holds
customers' phone numbers: only ``view_phone_numbers`` may have it, which no role that may
open the console has, so the page names the command line's command instead of a link that
would be refused. Winners' numbers are masked (:func:`survey.frames.phones.mask_phone`) for
a reader without ``view_phone_numbers``, as the call pages mask them.
"""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.permissions import Permission, allowed
from api.web.auth import CsrfChecked, client_ip
from api.web.console_pages import Operator, console_page
from api.web.deps import MAX_ID, Now, RowId, SessionDep, SettingsDep
from survey.cati.reports import day_bounds
from survey.db.states import ContactDecision
from survey.db.tables import AuditLog, Programme, ProgrammeIncentive, QuestionnaireVersion, Staff
from survey.errors import Conflict, SurveyError
from survey.frames.phones import mask_phone
from survey.programmes import incentives
from survey.programmes.manage import (
    MODES,
    ProgrammeError,
    change_state,
    create_programme,
    decisions_between,
    list_programmes,
    parse_rates,
    programme_problems,
)
from survey.questionnaire.publish import find_reference
from survey.staff import audit

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

PROGRAMMES = "/console/programmes"
PROGRAMME_CREATED = "programme_created"
#: The audit action of each state change.
ACTIONS = {"pause": "programme_paused", "resume": "programme_resumed"}
#: A credit run started here (the command line's runs are in the credits themselves).
LOYALTY_CREDITED = "loyalty_credited"
#: The decisions a stored contact can have, in the order shown. ``duplicate`` and
#: ``invalid`` are answers only: a duplicate's decision is its first copy's, and an invalid
#: event is not stored (a corrected one can be sent again).
DECISIONS = {
    ContactDecision.INVITED: ("已邀请", "invited"),
    ContactDecision.SAMPLED_OUT: ("未抽中", "sampled out"),
    ContactDecision.FREQUENCY_CAPPED: ("频次限制", "frequency capped"),
    ContactDecision.OPTED_OUT: ("已退订", "opted out"),
    ContactDecision.OUTSIDE_WINDOW: ("超出回复时限", "outside the window"),
}
DONE = {
    "created": ("服务评价项目已创建并开始运行：接触事件现在可以送入。",
                "Programme created and running: contact events may be sent to it now."),
    "pause": ("项目已暂停：新的接触事件将被拒绝，已排队的短信照常发送。",
              "Programme paused: new contact events are refused; queued messages still go out."),
    "resume": ("项目已恢复：接受新的接触事件。", "Programme resumed: taking contact events again."),
    "rule": ("激励规则已保存。已入账的积分不变。",
             "Incentive rule saved. Points already credited are kept as they are."),
    "credited": ("积分入账已完成。", "Credit run done."),
    "drawn": ("本月抽奖已完成，结果见下方。", "The month's lottery is drawn: see below."),
}  # fmt: skip
MODE_HINTS = {
    "sms_reply": ("短信回复数字（1 满意、2 一般、3 不满意）", "the customer replies with a digit"),
    "sms_link": ("短信中的网页问卷链接", "a link to the web form in the SMS"),
}
Message = Annotated[str, Query(max_length=16)]
#: The command line's options that the incentives' refusals name, as the rule's form does.
OPTION_WORDS = {"--per-question": '"points per answered question"',
                "--per-survey": '"points per completed survey"',
                "--lottery": '"a monthly lottery"'}  # fmt: skip
#: The form of a new programme as typed: ``manyi programme create``'s options and defaults.
FIELDS = {
    "name": "", "questionnaire": "", "mode": "sms_reply", "channels": "", "sample_rate": "",
    "channel_rates": "", "queue_rates": "", "min_per_agent": "0", "delay_minutes": "5",
    "reply_window_hours": "24", "quiet": "21:00-08:00", "rate_per_second": "10",
}  # fmt: skip
#: The number fields besides the sample rate: kind, and an example for a mistyped one.
NUMBERS = (("min_per_agent", int, "20"), ("delay_minutes", int, "5"),
           ("reply_window_hours", int, "24"), ("rate_per_second", float, "50"))  # fmt: skip
#: Rates are typed one NAME=RATE a line (or separated by commas).
_RATE_SEPARATORS = re.compile(r"[\n,;]")


# -- the list --------------------------------------------------------------------------------


def _forms(session: Session) -> dict[int, str]:
    """Every questionnaire version's FORM@VERSION, by id."""
    rows = session.exec(select(QuestionnaireVersion.id, QuestionnaireVersion.form_id,
                               QuestionnaireVersion.version)).all()  # fmt: skip
    return {id_: f"{form}@{version}" for id_, form, version in rows}


@router.get("/programmes", response_class=HTMLResponse)
def programmes(
    request: Request, staff: Operator, session: SessionDep, settings: SettingsDep, now: Now
) -> HTMLResponse:
    """Every programme, its settings, state and today's contacts by decision."""
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    start, end = day_bounds(today, today, settings.timezone)
    return console_page(
        request, staff, "console/programmes.html", current=PROGRAMMES,
        programmes=list_programmes(session), forms=_forms(session),
        today=decisions_between(session, start, end), today_start=start, decisions=DECISIONS,
        agents_link=allowed(staff.role, Permission.VIEW_CONTACT_RESULTS),
    )  # fmt: skip


# -- a new programme -------------------------------------------------------------------------


def _new_page(request, session, staff, status_code=200, *, typed=None, errors=None):
    versions = session.exec(
        select(QuestionnaireVersion).order_by(col(QuestionnaireVersion.published_at).desc(),
                                              col(QuestionnaireVersion.id).desc())
    ).all()  # fmt: skip
    return console_page(
        request, staff, "console/programmes_new.html", status_code, current=PROGRAMMES,
        versions=versions, typed=typed or dict(FIELDS), errors=errors or {}, modes=MODES,
        mode_hints=MODE_HINTS,
    )  # fmt: skip


@router.get("/programmes/new", response_class=HTMLResponse)
def new_programme(request: Request, staff: Operator, session: SessionDep) -> HTMLResponse:
    """The form of a new programme."""
    return _new_page(request, session, staff)


def _number(typed: dict[str, str], field: str, kind, example: str, errors: dict[str, str],
            *, required: bool = False):  # fmt: skip
    """The field as ``kind`` (int or float); None, with an error beside it, when it is not."""
    text = typed[field].strip()
    if not text and not required:
        text = FIELDS[field]
    try:
        value = kind(text)
    except ValueError:
        value = None
    # nan and inf would pass a check of "> 0"; a whole number must fit its column.
    if value is None or not math.isfinite(value) or abs(value) > MAX_ID:
        whole = "a whole number" if kind is int else "a number"
        errors[field] = f"{text!r} is not {whole}: write one, e.g. {example}" if text \
            else f"write {whole}, e.g. {example}"  # fmt: skip
        return None
    return value


def _add(errors: dict[str, str], field: str, words: str) -> None:
    errors[field] = f"{errors[field]}; {words}" if field in errors else words


@router.post("/programmes", response_class=HTMLResponse)
async def create(
    request: Request, staff: Operator, session: SessionDep, now: Now, _: CsrfChecked
) -> Response:
    """Create a running programme, or show the form again with every problem beside its
    field (422), keeping what was typed. The checks are ``manyi programme create``'s."""
    form = await request.form()
    typed = {key: str(form.get(key) or "")[:4000] for key in FIELDS}
    errors: dict[str, str] = {}
    version = None
    if not typed["questionnaire"]:
        errors["questionnaire"] = "choose the questionnaire to ask (a published version)"
    else:
        version = find_reference(session, typed["questionnaire"])
        if version is None:
            errors["questionnaire"] = (f"no published questionnaire version "
                                       f"{typed['questionnaire']!r} (FORM@VERSION)")  # fmt: skip
    sample_rate = _number(typed, "sample_rate", float, "0.2", errors, required=True)
    # A field that is not a number is checked with its default: its own error is said.
    numbers = {}
    for field, kind, example in NUMBERS:
        value = _number(typed, field, kind, example, errors)
        numbers[field] = value if value is not None else kind(FIELDS[field])
    rates = {}
    for field, what in (("channel_rates", "channel"), ("queue_rates", "queue")):
        try:
            rates[field] = parse_rates(_RATE_SEPARATORS.split(typed[field]), what)
        except ProgrammeError as error:
            errors[field] = str(error)
            rates[field] = {}
    quiet_start, _, quiet_end = typed["quiet"].strip().partition("-")
    arguments = {
        "mode": typed["mode"],
        "channels": [c.strip() for c in typed["channels"].split(",") if c.strip()],
        "sample_rate": sample_rate if sample_rate is not None else 0.0,
        **numbers,
        **rates,
        "quiet_start": quiet_start.strip(),
        "quiet_end": quiet_end.strip(),
    }
    for problem in programme_problems(session, version, typed["name"].strip(), **arguments):
        field = {"quiet_start": "quiet", "quiet_end": "quiet"}.get(problem.field, problem.field)
        if field not in errors or str(problem) not in errors[field]:
            _add(errors, field, str(problem))
    if errors:
        return _new_page(request, session, staff, 422, typed=typed, errors=errors)
    try:
        programme = create_programme(session, version, typed["name"].strip(), now=now,
                                     **arguments)  # fmt: skip
    except (SurveyError, ValueError) as error:  # a programme of that name made meanwhile
        session.rollback()
        return _new_page(request, session, staff, 422, typed=typed, errors={"name": str(error)})
    audit.audit(session, staff, PROGRAMME_CREATED, f"programme:{programme.name}", {
        "questionnaire": typed["questionnaire"], "campaign_id": programme.campaign_id,
        "mode": programme.mode, "channels": programme.channels,
        "sample_rate": programme.default_rate, "channel_rates": programme.channel_rates,
        "queue_rates": programme.queue_rates, "min_per_agent": programme.min_per_agent,
        "delay_minutes": programme.delay_minutes,
        "reply_window_hours": programme.reply_window_hours,
        "quiet": f"{programme.quiet_start}-{programme.quiet_end}",
        "rate_per_second": programme.rate_per_second,
    }, client_ip(request))  # fmt: skip
    return RedirectResponse(f"{PROGRAMMES}/{programme.id}?m=created", status_code=303)


# -- one programme ---------------------------------------------------------------------------


def _programme(session: Session, programme_id: int) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise HTTPException(404)
    return programme


def _last_month(now: datetime, timezone: str) -> str:
    first = now.astimezone(ZoneInfo(timezone)).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _rule_typed(rule: ProgrammeIncentive | None) -> dict[str, str]:
    if rule is None:
        return {"per_question": "0", "per_survey": "0", "monthly_cap": "", "lottery": ""}
    return {"per_question": str(rule.points_per_question),
            "per_survey": str(rule.points_per_survey),
            "monthly_cap": "" if rule.monthly_cap is None else str(rule.monthly_cap),
            "lottery": "on" if rule.lottery else ""}  # fmt: skip


def _credit_run(session: Session, programme: Programme, run: int | None) -> dict | None:
    """The credit run this page was sent back from, as its audit row recorded it."""
    row = session.get(AuditLog, run) if run is not None else None
    if row is None or row.action != LOYALTY_CREDITED or row.target != f"programme:{programme.name}":
        return None
    return row.detail


def _winners(request, session, staff: Staff, programme: Programme, draws) -> list[list[str]]:
    """Each draw's winners as the reader may see them: masked, or whole (and the look at
    them audited) for a role with ``view_phone_numbers``."""
    if not allowed(staff.role, Permission.VIEW_PHONE_NUMBERS):
        return [[mask_phone(phone) for phone in d.winners] for d in draws]
    if draws:
        audit.audit(session, staff, audit.PERSONAL_DATA_ACCESS,
                    f"programme:{programme.name}:winners",
                    {"periods": [d.period for d in draws]}, client_ip(request))  # fmt: skip
    return [list(d.winners) for d in draws]


def _page(
    request, session, settings, staff, programme_id, now, status_code=200, *, message=None,
    error=None, rule_typed=None, rule_errors=None, draw_typed=None, draw_errors=None,
    draw_error=None, credited=None,
):  # fmt: skip
    programme = _programme(session, programme_id)
    rule = session.get(ProgrammeIncentive, programme.id)
    draws = incentives.draws_of(session, programme)
    version = session.get(QuestionnaireVersion, programme.questionnaire_version_id)
    return console_page(
        request, staff, "console/programmes_one.html", status_code, current=PROGRAMMES,
        p=programme, form=f"{version.form_id}@{version.version}", message=message,
        error=error, rule=rule, rule_typed=rule_typed or _rule_typed(rule),
        rule_errors=rule_errors or {}, totals=incentives.credit_totals(session, programme),
        draws=list(zip(draws, _winners(request, session, staff, programme, draws),
                       strict=True)),
        draw_typed=draw_typed or {"period": _last_month(now, settings.timezone),
                                  "winners": "", "seed": str(secrets.randbelow(
                                      incentives.MAX_SEED + 1))},
        draw_errors=draw_errors or {}, draw_error=draw_error, credited=credited,
        max_seed=incentives.MAX_SEED, mode_hints=MODE_HINTS,
        agents_link=allowed(staff.role, Permission.VIEW_CONTACT_RESULTS),
    )  # fmt: skip


@router.get("/programmes/{programme_id}", response_class=HTMLResponse)
def programme_page(
    request: Request,
    programme_id: RowId,
    staff: Operator,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    m: Message = "",
    run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """A programme: its settings and state, its incentive rule, credits and draws."""
    programme = _programme(session, programme_id)
    credited = _credit_run(session, programme, run) if m == "credited" else None
    return _page(request, session, settings, staff, programme_id, now, message=DONE.get(m),
                 credited=credited)  # fmt: skip


@router.post("/programmes/{programme_id}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    programme_id: RowId,
    action: str,
    staff: Operator,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    _: CsrfChecked,
) -> Response:
    """pause, resume, incentives (set the rule), credit or draw; a refusal is said in words on
    the programme's page (409, or 422 beside the fields of a form that cannot be read)."""
    handlers = {"pause": _change, "resume": _change, "incentives": _set_rule,
                "credit": _credit, "draw": _draw}  # fmt: skip
    if action not in handlers:
        raise HTTPException(404)
    programme = _programme(session, programme_id)
    form = await request.form()  # read once, by the CSRF check: this is the same form
    return handlers[action](request, session, settings, staff, programme, now, action, form)


def _change(request, session, settings, staff, programme, now, action, _form) -> Response:
    before = programme.state
    try:
        change_state(session, programme, action)
    except SurveyError as error:
        session.rollback()
        return _page(request, session, settings, staff, programme.id, now, 409,
                     error=str(error))  # fmt: skip
    audit.audit(session, staff, ACTIONS[action], f"programme:{programme.name}",
                {"from": before, "to": programme.state,
                 "campaign_id": programme.campaign_id}, client_ip(request))  # fmt: skip
    return RedirectResponse(f"{PROGRAMMES}/{programme.id}?m={action}", status_code=303)


def _whole(typed, field, errors, *, least: int, example: str, blank=None):
    """A whole number of at least ``least`` (the command line's ``min=``), or an error."""
    text = typed[field].strip()
    if not text:
        return blank
    try:
        value = int(text)
    except ValueError:
        errors[field] = f"{text!r} is not a whole number: write one, e.g. {example}"
        return blank
    if not least <= value <= MAX_ID:
        errors[field] = f"{value} is out of range: write {least} to {MAX_ID}, e.g. {example}"
        return blank
    return value


def _form_words(words: str) -> str:
    """A refusal of the incentives, its command-line options named as this page's fields."""
    for option, field in OPTION_WORDS.items():
        words = words.replace(option, field)
    return words


def _set_rule(request, session, settings, staff, programme, now, _action, form) -> Response:
    typed = {key: str(form.get(key) or "")[:20] for key in
             ("per_question", "per_survey", "monthly_cap", "lottery")}  # fmt: skip
    errors: dict[str, str] = {}
    per_question = _whole(typed, "per_question", errors, least=0, example="1", blank=0)
    per_survey = _whole(typed, "per_survey", errors, least=0, example="20", blank=0)
    cap = _whole(typed, "monthly_cap", errors, least=1, example="100")
    if not errors:
        try:
            incentives.set_rule(session, programme, per_question=per_question,
                                per_survey=per_survey, monthly_cap=cap,
                                lottery=bool(typed["lottery"]), now=now, staff=staff,
                                ip=client_ip(request))  # fmt: skip
        except SurveyError as error:
            session.rollback()
            errors["rule"] = _form_words(str(error))
    if errors:
        return _page(request, session, settings, staff, programme.id, now, 422,
                     rule_typed=typed, rule_errors=errors)  # fmt: skip
    return RedirectResponse(f"{PROGRAMMES}/{programme.id}?m=rule#incentives", status_code=303)


def _credit(request, session, settings, staff, programme, now, _action, _form) -> Response:
    try:
        run = incentives.credit(session, programme, timezone=settings.timezone, now=now)
    except SurveyError as error:  # no rule yet, or another run at the same moment
        session.rollback()
        return _page(request, session, settings, staff, programme.id, now, 409,
                     error=str(error))  # fmt: skip
    row = audit.audit(session, staff, LOYALTY_CREDITED, f"programme:{programme.name}",
                      {"credited": run.credited, "points": run.points, "capped": run.capped},
                      client_ip(request))  # fmt: skip
    return RedirectResponse(f"{PROGRAMMES}/{programme.id}?m=credited&run={row.id}#credits",
                            status_code=303)  # fmt: skip


def _draw(request, session, settings, staff, programme, now, _action, form) -> Response:
    typed = {key: str(form.get(key) or "").strip()[:20] for key in ("period", "winners", "seed")}
    errors: dict[str, str] = {}
    if not typed["period"]:
        errors["period"] = "choose the month to draw, YYYY-MM, e.g. 2026-12"
    winners = _whole(typed, "winners", errors, least=1, example="10")
    if winners is None and "winners" not in errors:
        errors["winners"] = "how many winners: a whole number, e.g. 10"
    seed = _whole(typed, "seed", errors, least=0, example="7")
    if seed is None and "seed" not in errors:
        errors["seed"] = f"the seed: a whole number from 0 to {incentives.MAX_SEED}, e.g. 7"
    if errors:
        return _page(request, session, settings, staff, programme.id, now, 422,
                     draw_typed=typed, draw_errors=errors)  # fmt: skip
    try:
        incentives.draw(session, programme, typed["period"], winners, seed,
                        timezone=settings.timezone, now=now, staff=staff,
                        ip=client_ip(request))  # fmt: skip
    except SurveyError as error:
        session.rollback()
        status = 409 if isinstance(error, Conflict) else 422
        return _page(request, session, settings, staff, programme.id, now, status,
                     draw_typed=typed, draw_error=str(error))  # fmt: skip
    return RedirectResponse(f"{PROGRAMMES}/{programme.id}?m=drawn#draw-{typed['period']}",
                            status_code=303)  # fmt: skip
