"""What an interviewer's queue waits for: why no case is due now, when one will be, and the
call-backs the interviewer booked.

:func:`survey.cati.queue.next_case` answers "none" for several reasons that an interviewer
cannot tell apart: the calling hours have not begun, every due case is on another
interviewer's screen, the cases wait for their retry delay or an appointment, the campaign
is paused, or there is nothing left to call. :func:`why_nothing_due` says which, with the
first moment a case becomes due (its ``next_call_at`` moved into the calling hours of its
campaign), from the same conditions the queue applies.

:func:`my_appointments` lists the open cases whose current appointment the interviewer
booked (the attempt that set ``appointment_at``). The queue serves a due appointment to
whoever asks first; the list is the interviewer's diary, not a reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlmodel import Session

from survey.cati.queue import DEFAULT_TIMEZONE, interviewing, rules_for
from survey.cati.rules import CallingRules
from survey.db.tables import CallAttempt, CallCase, Campaign

__all__ = ["Appointment", "Waiting", "my_appointments", "why_nothing_due"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """The open cases an interviewer might be served, counted by what keeps them back now.

    ``reasons`` names what applies, most telling first: ``"nothing_open"`` (no case left to
    call), ``"outside_hours"`` (cases are due but the calling hours are closed),
    ``"held"`` (every due case is held by another interviewer), ``"later"`` (cases wait for
    their next call: a retry delay or an appointment), ``"paused"`` (interview cases of a
    campaign that is not running). Empty when a case is due now.
    """

    reasons: tuple[str, ...]
    #: Open cases the queue may serve, whatever the hour (paused campaigns' interviews aside).
    open: int
    #: Of those, due now but outside their calling hours.
    outside_hours: int
    #: Due, inside the hours, but held by another interviewer.
    held: int
    #: Waiting for their next call time (retries and appointments).
    later: int
    #: Of those, appointments (a time agreed with the customer).
    appointments: int
    #: Interview cases of campaigns that are paused or over.
    paused: int
    #: The first moment a case not held by another interviewer becomes due, in its calling
    #: hours; None when there is none.
    next_due: datetime | None
    #: The calling hours of the campaigns with open cases ("09:00-21:00 Asia/Shanghai").
    hours: tuple[str, ...]


def _hours_text(rules: CallingRules) -> str:
    return f"{rules.to_dict()['hours']} {rules.timezone}"


def why_nothing_due(
    session: Session, interviewer_id: int, now: datetime, *, timezone: str = DEFAULT_TIMEZONE
) -> Waiting:
    """Why :func:`~survey.cati.queue.next_case` has nothing for ``interviewer_id`` at ``now``.

    Cases the interviewer holds count as free (they get them back). The attempt limit is not
    checked: the last allowed attempt already makes a case final.
    """
    rows = session.execute(
        select(
            CallCase.campaign_id,
            CallCase.kind,
            CallCase.held_by,
            CallCase.held_until,
            CallCase.next_call_at,
            CallCase.appointment_at,
        ).where(CallCase.status == "open")
    ).all()
    ids = {row.campaign_id for row in rows if row.campaign_id is not None}
    campaigns = {
        c.id: c for c in session.execute(select(Campaign).where(Campaign.id.in_(ids))).scalars()
    }
    rules = {None: rules_for(None, timezone)} | {
        i: rules_for(c, timezone) for i, c in campaigns.items()
    }
    counts = dict.fromkeys(("open", "outside_hours", "held", "later", "appointments", "paused"), 0)
    next_due: datetime | None = None
    hours: set[str] = set()
    for campaign_id, kind, held_by, held_until, next_call_at, appointment_at in rows:
        campaign = campaigns.get(campaign_id)
        if kind == "interview" and campaign is not None and not interviewing(campaign, now):
            counts["paused"] += 1
            continue
        counts["open"] += 1
        rule = rules[campaign_id]
        hours.add(_hours_text(rule))
        by_other = held_by not in (None, interviewer_id) and held_until is not None
        by_other = by_other and held_until > now
        due_at = next_call_at if next_call_at is not None and next_call_at > now else now
        if due_at > now:
            counts["later"] += 1
            counts["appointments"] += appointment_at is not None
        elif not rule.within_hours(now):
            counts["outside_hours"] += 1
        elif by_other:
            counts["held"] += 1
        if not by_other:
            opening = rule.next_opening(due_at)
            next_due = opening if next_due is None else min(next_due, opening)
    reasons = []
    if counts["open"] == 0:
        reasons.append("nothing_open")
    if counts["outside_hours"]:
        reasons.append("outside_hours")
    if counts["held"]:
        reasons.append("held")
    if counts["later"]:
        reasons.append("later")
    if counts["paused"]:
        reasons.append("paused")
    due_now = next_due is not None and next_due <= now
    return Waiting(
        reasons=() if due_now else tuple(reasons),
        next_due=next_due,
        hours=tuple(sorted(hours)),
        **counts,
    )


@dataclass(frozen=True, slots=True)
class Appointment:
    case_id: int
    campaign: str
    at: datetime
    #: The notes of the call that booked it.
    notes: str
    #: Another interviewer holds the case now.
    held_by_other: bool


def my_appointments(
    session: Session, interviewer_id: int, now: datetime, limit: int = 50
) -> list[Appointment]:
    """The open cases whose current appointment ``interviewer_id`` booked, soonest first."""
    rows = session.execute(
        select(CallCase, CallAttempt.notes, Campaign.name)
        .join(
            CallAttempt,
            and_(
                CallAttempt.case_id == CallCase.id,
                CallAttempt.outcome == "appointment",
                CallAttempt.appointment_at == CallCase.appointment_at,
            ),
        )
        .outerjoin(Campaign, Campaign.id == CallCase.campaign_id)
        .where(
            CallCase.status == "open",
            CallCase.appointment_at.is_not(None),
            CallAttempt.interviewer_id == interviewer_id,
        )
        .order_by(CallCase.appointment_at, CallCase.id)
        .limit(limit)
    ).all()
    seen: set[int] = set()
    found = []
    for call_case, notes, name in rows:
        if call_case.id in seen:  # the same time booked twice: one row
            continue
        seen.add(call_case.id)
        found.append(
            Appointment(
                case_id=call_case.id,
                campaign=name or "",
                at=call_case.appointment_at,
                notes=notes or "",
                held_by_other=call_case.held_by not in (None, interviewer_id)
                and call_case.held_until is not None
                and call_case.held_until > now,
            )
        )
    return found
