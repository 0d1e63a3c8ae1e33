"""Phone interviews (CATI): the outbound-call queue, call attempts and the interview itself.

An interviewer asks for the next case (:func:`next_case`), calls the customer, perhaps reads
the questionnaire (:func:`start_phone_interview`, then the same pages as the web form through
:func:`open_phone_interview`), and records how the call ended (:func:`record_attempt`).
Every function takes ``now``: tests move the clock, pages pass the current time.

The queue
---------
A case may be served when it is open, not held by another interviewer (a hold lasts
``hold_minutes``, renewed by :func:`extend_hold`; an expired hold can be taken), due
(``next_call_at`` empty or past), under its campaign's attempt limit, and inside the calling
hours in the customer's time zone. Interview cases also need their campaign running and not
expired; follow-up cases (service remedy) are called whatever the campaign's state. Among
those, the order is

1. appointments due (``appointment_at <= now``): a callback promised to a customer first;
2. higher ``priority`` (follow-ups above interviews, see :data:`survey.cati.rules.PRIORITY`);
3. fresh cases (never called) before retries;
4. the earliest ``next_call_at`` (then the oldest case).

The customer table has no time zone: the campaign's calling rules name one, else the
``timezone`` passed in (the service's default, ``Settings.timezone``, Asia/Shanghai).

Two interviewers never get the same case: on PostgreSQL the candidate row is taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside the UPDATE that sets the hold, so a second
interviewer asking at the same moment skips it; on SQLite the same conditional UPDATE runs
under the database's single writer lock. An interviewer who asks again while holding an
unexpired case gets that case back (a reloaded page does not grab a second one).

A supervisor may hand a case to a given interviewer (:func:`reassign_case`) or put a held
case back in the queue (:func:`force_release`); the previous holder then cannot record it.

Recording a call
----------------
Only the interviewer holding the case records its call (an expired hold that nobody else took
still counts: interviews outlast holds). The attempt is appended, the hold released, and

- an outcome that ends the case (by itself, or ``"final"`` in the rules), or the last allowed
  attempt, makes the case final with the disposition :func:`~survey.cati.outcomes.final_disposition`
  derives from all its attempts;
- otherwise ``next_call_at`` is now + the outcome's retry delay, at least the minimum gap,
  moved to the next opening of the calling hours; an appointment sets ``appointment_at`` and
  ``next_call_at`` to the time agreed with the customer (which must fall inside the calling
  hours; it may be sooner than the minimum gap, because the customer asked for it).

A stopped interview (outcome ``partial`` or ``break_off``) is stored as a partial (1.2) when
the share of required questions answered (:func:`answered_share`) reaches the campaign's
``partial_threshold``, else as a break-off (2.12): the threshold is set in advance, not by the
interviewer. A ``complete`` needs the case's completed response: interviewers are paid per
complete, so a complete is never recorded on someone's word alone. (A follow-up case has no
questionnaire: its ``complete`` means the customer was reached and spoken to.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlmodel import Session

from survey.answering.pages import (
    INTERVIEWER,
    LAYOUTS,
    Link,
    build_pages,
    is_answered,
    questionnaire_of,
    relevant_items,
    stored_answers,
)
from survey.cati.outcomes import STOPPED_EARLY, Outcome, final_disposition
from survey.cati.outcomes import outcome as outcome_named
from survey.cati.rules import CallingRules, parse_calling
from survey.db.tables import (
    CallAttempt,
    CallCase,
    Campaign,
    Customer,
    QuestionnaireVersion,
    Response,
    Staff,
)
from survey.errors import InvalidRequest
from survey.questionnaire import Questionnaire

CHANNEL = "cati"
#: Roles that may take cases from the queue.
CALLER_ROLES = ("interviewer", "supervisor")
#: The time zone used when a campaign's rules name none (the service's default).
DEFAULT_TIMEZONE = "Asia/Shanghai"

__all__ = [
    "CHANNEL",
    "CaseNotHeld",
    "CatiError",
    "RecordedAttempt",
    "answered_share",
    "extend_hold",
    "force_release",
    "held_case",
    "interviewing",
    "next_case",
    "open_phone_interview",
    "reassign_case",
    "record_attempt",
    "release_case",
    "rules_for",
    "start_phone_interview",
]


class CatiError(InvalidRequest):
    """A queue or call request that cannot be carried out; the message says what to do."""


class CaseNotHeld(CatiError):
    """The interviewer does not hold the case (never took it, or another interviewer took it
    after the hold ran out), or the case is already final."""


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    """What :func:`record_attempt` stored: the attempt and the case after it."""

    attempt: CallAttempt
    case: CallCase
    outcome: Outcome


def queue_order(now: datetime) -> tuple:
    """The order the queue serves open cases in: due appointments, then priority (escalated
    follow-ups, follow-ups, interviews), fresh cases before retries, the longest waiting,
    then the oldest. Lists of the queue (``survey.cati.reports.open_cases``) use the same."""
    return (
        case((CallCase.appointment_at <= now, 0), else_=1),
        CallCase.priority.desc(),
        case((CallCase.attempts == 0, 0), else_=1),
        func.coalesce(CallCase.next_call_at, CallCase.created_at),
        CallCase.id,
    )


def _aware(name: str, moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise CatiError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")


def _caller(session: Session, interviewer_id: int) -> Staff:
    staff = session.get(Staff, interviewer_id)
    if staff is None or not staff.active or staff.role not in CALLER_ROLES:
        raise CatiError(
            f"staff {interviewer_id} cannot take calls: only active staff with the role "
            f"{' or '.join(CALLER_ROLES)} can"
        )
    return staff


def rules_for(campaign: Campaign | None, timezone: str = DEFAULT_TIMEZONE) -> CallingRules:
    """The calling rules of a campaign (defaults for a case without one)."""
    return parse_calling(campaign.calling if campaign is not None else None, timezone=timezone)


def interviewing(campaign: Campaign, now: datetime) -> bool:
    """Whether the campaign's interview cases may be called now (running, not expired)."""
    # A paused campaign stops calling (unlike answering a web form already opened): pausing
    # is how a supervisor stops the team reaching customers.
    return campaign.status == "running" and (
        campaign.expires_at is None or now < campaign.expires_at
    )


def _servable(session: Session, now: datetime, timezone: str):
    """The condition on cases that campaign rules allow now, and the rules by campaign id."""
    campaign_ids = select(CallCase.campaign_id).where(CallCase.status == "open").distinct()
    campaigns = session.execute(select(Campaign).where(Campaign.id.in_(campaign_ids))).scalars()
    rules: dict[int | None, CallingRules] = {None: rules_for(None, timezone)}
    allowed = []
    for campaign in campaigns:
        rules[campaign.id] = rules_for(campaign, timezone)
        if not rules[campaign.id].within_hours(now):
            continue
        condition = and_(
            CallCase.campaign_id == campaign.id, CallCase.attempts < rules[campaign.id].max_attempts
        )
        if not interviewing(campaign, now):
            condition = and_(condition, CallCase.kind == "follow_up")
        allowed.append(condition)
    if rules[None].within_hours(now):
        allowed.append(
            and_(CallCase.campaign_id.is_(None), CallCase.attempts < rules[None].max_attempts)
        )
    return (or_(*allowed) if allowed else false()), rules


def next_case(
    session: Session, interviewer_id: int, now: datetime, *, timezone: str = DEFAULT_TIMEZONE
) -> CallCase | None:
    """Hold and return the case the interviewer should call now, or None when none is due.

    See the module's docstring for the order and the guarantees. Commits.
    """
    _aware("now", now)
    _caller(session, interviewer_id)
    held = session.execute(
        select(CallCase)
        .where(
            CallCase.held_by == interviewer_id, CallCase.held_until > now, CallCase.status == "open"
        )
        .order_by(CallCase.id)
        .limit(1)
    ).scalar()
    if held is not None:
        return held
    servable, rules = _servable(session, now, timezone)
    free = or_(CallCase.held_by.is_(None), CallCase.held_until <= now)
    candidate = (
        select(CallCase.id)
        .where(
            CallCase.status == "open",
            free,
            or_(CallCase.next_call_at.is_(None), CallCase.next_call_at <= now),
            servable,
        )
        .order_by(*queue_order(now))
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(of=CallCase, skip_locked=True)
    # The default hold first; the campaign's own length is set in the same transaction.
    claimed = session.execute(
        update(CallCase)
        .where(CallCase.id.in_(candidate.scalar_subquery()), free)
        .values(held_by=interviewer_id, held_until=now + rules[None].hold, updated_at=now)
        .returning(CallCase.id, CallCase.campaign_id)
    ).first()
    if claimed is None:
        session.commit()
        return None
    case_id, campaign_id = claimed
    hold = rules.get(campaign_id, rules[None]).hold
    if hold != rules[None].hold:
        session.execute(
            update(CallCase).where(CallCase.id == case_id).values(held_until=now + hold)
        )
    session.commit()
    return session.get(CallCase, case_id, populate_existing=True)


def _held_case(session: Session, case_id: int, interviewer_id: int) -> CallCase:
    found = session.get(CallCase, case_id, populate_existing=True)
    if found is None:
        raise CatiError(f"there is no call case {case_id}")
    if found.status != "open":
        raise CaseNotHeld(f"case {case_id} is already final ({found.final_disposition})")
    if found.held_by != interviewer_id:
        raise CaseNotHeld(
            f"case {case_id} is not held by staff {interviewer_id}: ask for the next case and "
            "record calls only for the case you were given"
        )
    return found


def extend_hold(
    session: Session,
    case_id: int,
    interviewer_id: int,
    now: datetime,
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> CallCase:
    """Renew the interviewer's hold (pages call it as the interview goes on). Commits."""
    _aware("now", now)
    held = _held_case(session, case_id, interviewer_id)
    hold = rules_for(_campaign(session, held), timezone).hold
    changed = session.execute(
        update(CallCase)
        .where(
            CallCase.id == case_id, CallCase.held_by == interviewer_id, CallCase.status == "open"
        )
        .values(held_until=now + hold, updated_at=now)
    ).rowcount
    session.commit()
    if changed != 1:
        raise CaseNotHeld(f"case {case_id} was taken by someone else: ask for the next case")
    return session.get(CallCase, case_id, populate_existing=True)


def release_case(session: Session, case_id: int, interviewer_id: int, now: datetime) -> None:
    """Give a case back without calling (no attempt is counted). Commits."""
    _aware("now", now)
    _held_case(session, case_id, interviewer_id)
    session.execute(
        update(CallCase)
        .where(CallCase.id == case_id, CallCase.held_by == interviewer_id)
        .values(held_by=None, held_until=None, updated_at=now)
    )
    session.commit()


def held_case(session: Session, case_id: int, interviewer_id: int) -> CallCase:
    """The open case if ``interviewer_id`` holds it (an expired hold nobody took still counts).

    Raises :class:`CaseNotHeld` otherwise, :class:`CatiError` for an unknown case: pages call
    it before showing a case, so an interviewer never sees one held by someone else.
    """
    return _held_case(session, case_id, interviewer_id)


# -- supervisors -------------------------------------------------------------------------------


def _supervisor(session: Session, supervisor_id: int) -> Staff:
    staff = session.get(Staff, supervisor_id)
    if staff is None or not staff.active or staff.role != "supervisor":
        raise CatiError(f"staff {supervisor_id} is not an active supervisor")
    return staff


def _open_case(session: Session, case_id: int) -> CallCase:
    found = session.get(CallCase, case_id, populate_existing=True)
    if found is None:
        raise CatiError(f"there is no call case {case_id}")
    if found.status != "open":
        raise CatiError(f"case {case_id} is already final ({found.final_disposition})")
    return found


def reassign_case(
    session: Session,
    case_id: int,
    to_interviewer_id: int,
    supervisor_id: int,
    now: datetime,
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> CallCase:
    """A supervisor hands an open case to an interviewer, whoever held it before. Commits.

    The case is held for the new interviewer for the campaign's usual hold, from ``now``: their
    next request for a case returns it. The previous holder can no longer record it (their
    :func:`record_attempt` raises :class:`CaseNotHeld`). An interviewer who already holds
    another case is refused, so that nobody is given two customers at once.
    """
    _aware("now", now)
    _supervisor(session, supervisor_id)
    target = _caller(session, to_interviewer_id)
    call_case = _open_case(session, case_id)
    busy = session.execute(
        select(CallCase.id).where(
            CallCase.held_by == to_interviewer_id,
            CallCase.held_until > now,
            CallCase.status == "open",
            CallCase.id != case_id,
        )
    ).scalar()
    if busy is not None:
        raise CatiError(
            f"{target.username} holds case {busy} now: release it or wait until it is recorded"
        )
    hold = rules_for(_campaign(session, call_case), timezone).hold
    changed = session.execute(
        update(CallCase)
        .where(CallCase.id == case_id, CallCase.status == "open")
        .values(held_by=to_interviewer_id, held_until=now + hold, updated_at=now)
    ).rowcount
    session.commit()
    if changed != 1:
        raise CatiError(f"case {case_id} was recorded as final meanwhile")
    return session.get(CallCase, case_id, populate_existing=True)


def force_release(session: Session, case_id: int, supervisor_id: int, now: datetime) -> int | None:
    """A supervisor puts a held case back in the queue (no attempt is counted). Commits.

    Returns the id of the interviewer who held it (None if nobody did). That interviewer can
    no longer record the case; the next interviewer asking may get it at once.
    """
    _aware("now", now)
    _supervisor(session, supervisor_id)
    call_case = _open_case(session, case_id)
    holder = call_case.held_by
    session.execute(
        update(CallCase)
        .where(CallCase.id == case_id, CallCase.status == "open")
        .values(held_by=None, held_until=None, updated_at=now)
    )
    session.commit()
    return holder


def _campaign(session: Session, call_case: CallCase) -> Campaign | None:
    return session.get(Campaign, call_case.campaign_id) if call_case.campaign_id else None


def answered_share(questionnaire: Questionnaire, answers: Mapping[str, str | None]) -> float:
    """The share of required relevant questions answered, "refused" not counting as answered.

    AAPOR counts questions "answered with other than a refusal or no answer"; "don't know"
    and "cannot answer" are answers. A questionnaire without required questions is measured
    on all its relevant questions. Returns a share from 0 to 1 (1 when nothing applies).
    """
    relevant = relevant_items(questionnaire, answers)
    items = [i for i in questionnaire.items if i.name in relevant]
    required = [i for i in items if i.required] or items
    if not required:
        return 1.0

    def answered(item) -> bool:
        value = answers.get(item.name)
        if not is_answered(value) or item.choices is None:
            return is_answered(value)
        choice = item.choices.choice(str(value))
        return choice is None or choice.missing != "refused"

    return sum(answered(i) for i in required) / len(required)


def _response_for_record(session: Session, call_case: CallCase, response_id: int | None):
    if response_id is None:
        return None
    response = session.get(Response, response_id, populate_existing=True)
    if (
        response is None
        or response.customer_id != call_case.customer_id
        or (call_case.response_id is not None and response_id != call_case.response_id)
    ):
        raise CatiError(f"response {response_id} is not this case's interview")
    return response


def _share_of(session: Session, response: Response) -> float:
    version = session.get(QuestionnaireVersion, response.questionnaire_version_id)
    return answered_share(questionnaire_of(version), stored_answers(session, response.id))


def record_attempt(
    session: Session,
    case_id: int,
    interviewer_id: int,
    outcome: str,
    now: datetime,
    appointment_at: datetime | None = None,
    notes: str | None = None,
    response_id: int | None = None,
    *,
    started_at: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> RecordedAttempt:
    """Record how a call of a held case ended; commits. See the module's docstring.

    ``started_at`` is when the call began (default ``now``: pages pass when the interviewer
    dialled); ``now`` is when it ended. Without ``response_id``, a complete or a stopped
    interview uses the case's interview.

    Raises :class:`CaseNotHeld` when the interviewer does not hold the case,
    :class:`CatiError` for an outcome that does not fit (an appointment without a time or
    outside calling hours, a complete without a completed interview) and
    :class:`~survey.cati.outcomes.OutcomeError` for an unknown outcome.
    """
    for name, moment in (
        ("now", now),
        ("appointment_at", appointment_at),
        ("started_at", started_at),
    ):
        _aware(name, moment)
    chosen = outcome_named(outcome)
    call_case = _held_case(session, case_id, interviewer_id)
    rules = rules_for(_campaign(session, call_case), timezone)
    if response_id is None and chosen.name in ("complete", *STOPPED_EARLY):
        response_id = call_case.response_id
    response = _response_for_record(session, call_case, response_id)
    if chosen.name == "appointment":
        if appointment_at is None or appointment_at <= now:
            raise CatiError("an appointment needs its time, later than now")
        if not rules.within_hours(appointment_at):
            raise CatiError(
                f"the appointment is outside the calling hours ({rules.to_dict()['hours']} "
                f"{rules.timezone}): agree on a time inside them"
            )
    elif appointment_at is not None:
        raise CatiError(
            f"an appointment time goes with the outcome 'appointment', not {chosen.name!r}"
        )
    # A follow-up call has no questionnaire: "complete" there means the conversation took
    # place (its resolution is recorded by survey.remedy.rules.close_follow_up).
    if (
        chosen.name == "complete"
        and call_case.kind == "interview"
        and (response is None or response.status != "completed")
    ):
        raise CatiError(
            "a complete needs the case's interview completed (its last page saved): finish "
            "the questionnaire, or record 'partial'/'break_off' if it stopped"
        )
    if chosen.name in STOPPED_EARLY:
        share = _share_of(session, response) if response is not None else 0.0
        chosen = outcome_named("partial" if share >= rules.partial_threshold else "break_off")

    history = list(
        session.execute(
            select(CallAttempt.disposition)
            .where(CallAttempt.case_id == case_id)
            .order_by(CallAttempt.started_at, CallAttempt.id)
        ).scalars()
    )
    attempts = call_case.attempts + 1
    ends = rules.ends_case(chosen.name)
    values: dict = {"held_by": None, "held_until": None, "attempts": attempts, "updated_at": now}
    if response is not None:
        values["response_id"] = response.id
    if ends or attempts >= rules.max_attempts:
        values |= {
            "status": "final",
            # Only an outcome final by itself decides the code (rule 3); one the campaign made
            # final, or the attempt limit, leaves it to the most informative attempt.
            "final_disposition": final_disposition(
                [*history, chosen.code], ended_final=chosen.final
            ),
            "next_call_at": None,
            "appointment_at": None,
        }
    elif chosen.name == "appointment":
        values |= {"appointment_at": appointment_at, "next_call_at": appointment_at}
    else:
        delay = max(rules.retry[chosen.retry], rules.min_gap)
        values |= {"appointment_at": None, "next_call_at": rules.next_opening(now + delay)}
    # The read above is checked here: the row changes only if nobody recorded or took the
    # case in between (same holder, same attempt count).
    changed = session.execute(
        update(CallCase)
        .where(
            CallCase.id == case_id,
            CallCase.status == "open",
            CallCase.held_by == interviewer_id,
            CallCase.attempts == call_case.attempts,
        )
        .values(**values)
    ).rowcount
    if changed != 1:
        session.rollback()
        raise CaseNotHeld(f"case {case_id} changed while the call was recorded: reload it")
    attempt = CallAttempt(
        case_id=case_id,
        interviewer_id=interviewer_id,
        started_at=started_at or now,
        ended_at=now,
        outcome=chosen.name,
        disposition=chosen.code,
        appointment_at=appointment_at,
        notes=notes,
        response_id=response.id if response is not None else None,
    )
    session.add(attempt)
    session.commit()
    session.refresh(attempt)
    return RecordedAttempt(attempt, session.get(CallCase, case_id, populate_existing=True), chosen)


def start_phone_interview(
    session: Session,
    case_id: int,
    interviewer_id: int,
    now: datetime,
    *,
    language: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> Response:
    """The interview's response for a held interview case, created on first use. Commits.

    A case called back after a break-off continues the same response (its answers so far are
    kept). The response is tagged with channel ``cati`` and the interviewer's username, and
    the hold is renewed.
    """
    _aware("now", now)
    staff = _caller(session, interviewer_id)
    call_case = _held_case(session, case_id, interviewer_id)
    campaign = _campaign(session, call_case)
    if call_case.kind != "interview" or campaign is None:
        raise CatiError(
            f"case {case_id} is a {call_case.kind}: record its outcome, there is "
            "no questionnaire to read"
        )
    if call_case.response_id is not None:
        response = session.get(Response, call_case.response_id)
        if response is not None and response.status != "completed":
            extend_hold(session, case_id, interviewer_id, now, timezone=timezone)
            return response
        raise CatiError(f"case {case_id} already has a completed interview")
    version = session.get(QuestionnaireVersion, campaign.questionnaire_version_id)
    questionnaire = questionnaire_of(version)
    customer = session.get(Customer, call_case.customer_id)
    if language not in questionnaire.languages:
        language = (
            customer.language
            if customer.language in questionnaire.languages
            else questionnaire.default_language
        )
    response = Response(
        questionnaire_version_id=version.id,
        campaign_id=campaign.id,
        customer_id=call_case.customer_id,
        channel=CHANNEL,
        language=language,
        status="in_progress",
        started_at=now,
        interviewer=staff.username,
    )
    session.add(response)
    session.flush()
    session.execute(
        update(CallCase)
        .where(CallCase.id == case_id, CallCase.held_by == interviewer_id)
        .values(
            response_id=response.id,
            held_until=now + rules_for(campaign, timezone).hold,
            updated_at=now,
        )
    )
    session.commit()
    session.refresh(response)
    return response


def open_phone_interview(session: Session, case_id: int, interviewer_id: int) -> Link:
    """The held case's interview as a :class:`~survey.answering.pages.Link` in interviewer mode,
    for the same pages and :func:`~survey.answering.submit.submit_page` as the web form.

    ``link.token`` is ``case-{id}``: interviewer pages address cases by id behind a login,
    so no secret token is needed. Start the interview first (:func:`start_phone_interview`).
    """
    call_case = _held_case(session, case_id, interviewer_id)
    if call_case.response_id is None:
        raise CatiError(f"case {case_id} has no interview yet: start it first")
    response = session.get(Response, call_case.response_id)
    campaign = session.get(Campaign, response.campaign_id)
    version = session.get(QuestionnaireVersion, response.questionnaire_version_id)
    questionnaire = questionnaire_of(version)
    layout = campaign.layout if campaign.layout in LAYOUTS else "grouped"
    return Link(
        token=f"case-{case_id}",
        invitation=None,
        campaign=campaign,
        version=version,
        questionnaire=questionnaire,
        pages=build_pages(questionnaire, layout),
        customer_language=response.language,
        response=response,
        answers=stored_answers(session, response.id),
        mode=INTERVIEWER,
    )
