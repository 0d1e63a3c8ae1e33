"""Numbers about the outbound-call team: the live queue, activity per hour, productivity.

Pure queries over call cases and call attempts, for the interviewer's and the supervisor's
pages and the productivity export; no HTTP. Days and hours are local to ``timezone`` (the
operator's, ``Settings.timezone``): a shift that starts at 09:00 in Shanghai is counted there.

Definitions
-----------
- A **complete** is an attempt recorded with the outcome ``complete`` on an *interview* case:
  a completed questionnaire, what interviewers are paid for.
  :func:`survey.cati.queue.record_attempt`
  accepts it only with the case's completed interview, and a case has at most one (it is
  final after it), so counting attempts counts questionnaires exactly. A reached follow-up
  (``complete`` on a follow-up case) is a call, not a questionnaire.
- The **interview length** of a complete is its attempt's ``ended_at - started_at``; pages
  start the call when the number is revealed to dial. Attempts without a measured start
  (``started_at == ended_at``) are left out of the mean rather than counted as zero.
- The **refusal rate** is refusals (soft and hard) over the conversations in which the
  interview was asked for: refusals, completes, partials and break-offs. It is an operational
  figure per interviewer, not AAPOR's REF rates (those work on final dispositions of cases:
  :mod:`survey.aapor.rates`). None when nothing was asked (no rate, rather than zero).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from survey.cati.queue import queue_order
from survey.db.tables import CallAttempt, CallCase, Campaign, Customer, Staff

__all__ = [
    "ASKED",
    "MAX_EXPORT_DAYS",
    "REFUSALS",
    "CampaignQueue",
    "HeldCase",
    "HourActivity",
    "InterviewerDay",
    "OpenCase",
    "ProductivityRow",
    "activity_by_hour",
    "day_bounds",
    "held_cases",
    "interviewer_days",
    "open_cases",
    "productivity",
    "queue_by_campaign",
    "team_day",
]

REFUSALS = ("soft_refusal", "hard_refusal")
#: Outcomes of a conversation in which the interview was asked for (the refusal rate's base).
ASKED = ("complete", "partial", "break_off", *REFUSALS)
#: The longest period one productivity export may cover (a year, leap day included).
MAX_EXPORT_DAYS = 366


def day_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """From ``first`` 00:00 to the day after ``last`` 00:00 in ``timezone``, as UTC instants."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


# -- the queue ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignQueue:
    """Open cases of a campaign (``campaign_id`` None: follow-ups outside any campaign)."""

    campaign_id: int | None
    name: str
    status: str
    open: int
    held: int
    #: Open, not held and due (``next_call_at`` empty or past); calling hours not applied.
    due_now: int
    #: Appointments falling on today's local date, whether past or still to come.
    appointments_today: int


def queue_by_campaign(session: Session, now: datetime, timezone: str) -> list[CampaignQueue]:
    """The live queue per campaign, campaigns by id, follow-ups without a campaign last."""
    today = _local(now, timezone).date()
    start, end = day_bounds(today, today, timezone)
    rows = session.execute(
        select(
            CallCase.campaign_id,
            CallCase.held_by,
            CallCase.held_until,
            CallCase.next_call_at,
            CallCase.appointment_at,
        ).where(CallCase.status == "open")
    ).all()
    counts: dict[int | None, Counter] = defaultdict(Counter)
    for campaign_id, held_by, held_until, next_call_at, appointment_at in rows:
        tally = counts[campaign_id]
        tally["open"] += 1
        held = held_by is not None and held_until is not None and held_until > now
        tally["held"] += held
        tally["due_now"] += not held and (next_call_at is None or next_call_at <= now)
        tally["appointments_today"] += appointment_at is not None and start <= appointment_at < end
    campaigns = {
        c.id: c
        for c in session.execute(
            select(Campaign).where(Campaign.id.in_([i for i in counts if i is not None]))
        ).scalars()
    }
    ordered = sorted(counts, key=lambda i: (i is None, i or 0))
    return [
        CampaignQueue(
            campaign_id=i,
            name=campaigns[i].name if i is not None else "",
            status=campaigns[i].status if i is not None else "",
            **{key: counts[i][key] for key in ("open", "held", "due_now", "appointments_today")},
        )
        for i in ordered
    ]


@dataclass(frozen=True, slots=True)
class HeldCase:
    case_id: int
    kind: str
    campaign: str
    staff_id: int
    username: str
    display_name: str
    #: When the holder last took or renewed the case (the hold's start is not kept apart).
    since: datetime
    until: datetime
    #: The hold ran out: anyone asking for a case may take it now.
    expired: bool


def held_cases(session: Session, now: datetime) -> list[HeldCase]:
    """Open cases with a holder, the longest-held first."""
    rows = session.execute(
        select(CallCase, Staff, Campaign.name)
        .join(Staff, Staff.id == CallCase.held_by)
        .outerjoin(Campaign, Campaign.id == CallCase.campaign_id)
        .where(CallCase.status == "open", CallCase.held_by.is_not(None))
        .order_by(CallCase.updated_at, CallCase.id)
    ).all()
    return [
        HeldCase(
            case_id=call_case.id,
            kind=call_case.kind,
            campaign=name or "",
            staff_id=staff.id,
            username=staff.username,
            display_name=staff.display_name,
            since=call_case.updated_at,
            until=call_case.held_until,
            expired=call_case.held_until is None or call_case.held_until <= now,
        )
        for call_case, staff, name in rows
    ]


@dataclass(frozen=True, slots=True)
class OpenCase:
    """An open case as a supervisor picks it from a list (no phone number)."""

    case_id: int
    kind: str
    campaign_id: int | None
    campaign: str
    region: str
    service_hall: str
    attempts: int
    next_call_at: datetime | None
    appointment_at: datetime | None
    #: Who holds it now (an unexpired hold), else None.
    holder: str | None
    held_until: datetime | None

    def due(self, now: datetime) -> bool:
        return self.next_call_at is None or self.next_call_at <= now


def open_cases(
    session: Session,
    now: datetime,
    *,
    campaign_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OpenCase], int]:
    """Open cases in the queue's order (due appointments, priority, fresh before retries, the
    earliest next call), optionally of one campaign; one page of them and how many there are.
    """
    where = [CallCase.status == "open"]
    if campaign_id is not None:
        where.append(CallCase.campaign_id == campaign_id)
    total = session.execute(select(func.count()).select_from(CallCase).where(*where)).scalar()
    holder = Staff.__table__.alias("holder")
    rows = session.execute(
        select(CallCase, Campaign.name, Customer.region, Customer.service_hall, holder.c.username)
        .join(Customer, Customer.id == CallCase.customer_id)
        .outerjoin(Campaign, Campaign.id == CallCase.campaign_id)
        .outerjoin(holder, holder.c.id == CallCase.held_by)
        .where(*where)
        .order_by(*queue_order(now))
        .limit(limit)
        .offset(offset)
    ).all()
    found = []
    for call_case, name, region, hall, username in rows:
        held = call_case.held_until is not None and call_case.held_until > now
        found.append(
            OpenCase(
                case_id=call_case.id,
                kind=call_case.kind,
                campaign_id=call_case.campaign_id,
                campaign=name or "",
                region=region or "",
                service_hall=hall or "",
                attempts=call_case.attempts,
                next_call_at=call_case.next_call_at,
                appointment_at=call_case.appointment_at,
                holder=username if held else None,
                held_until=call_case.held_until if held else None,
            )
        )
    return found, int(total or 0)


# -- attempts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    staff_id: int
    outcome: str
    kind: str
    started_at: datetime
    ended_at: datetime

    @property
    def complete(self) -> bool:
        return self.outcome == "complete" and self.kind == "interview"


def _attempts(
    session: Session, start: datetime, end: datetime, staff_id: int | None = None
) -> list[_Attempt]:
    """Attempts that ended in ``[start, end)``: a call belongs to the hour it ended in."""
    query = (
        select(
            CallAttempt.interviewer_id,
            CallAttempt.outcome,
            CallCase.kind,
            CallAttempt.started_at,
            CallAttempt.ended_at,
        )
        .join(CallCase, CallCase.id == CallAttempt.case_id)
        .where(CallAttempt.ended_at >= start, CallAttempt.ended_at < end)
        .order_by(CallAttempt.ended_at, CallAttempt.id)
    )
    if staff_id is not None:
        query = query.where(CallAttempt.interviewer_id == staff_id)
    return [_Attempt(*row) for row in session.execute(query)]


def _staff(session: Session, ids: Iterable[int]) -> dict[int, Staff]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {s.id: s for s in session.execute(select(Staff).where(Staff.id.in_(wanted))).scalars()}


@dataclass(frozen=True, slots=True)
class HourActivity:
    staff_id: int
    username: str
    #: The local hour the calls ended in, 0-23.
    hour: int
    attempts: int
    completes: int


def activity_by_hour(session: Session, day: date, timezone: str) -> list[HourActivity]:
    """Attempts and completes per interviewer and local hour of ``day``, by username, hour."""
    start, end = day_bounds(day, day, timezone)
    tally: dict[tuple[int, int], Counter] = defaultdict(Counter)
    attempts = _attempts(session, start, end)
    for attempt in attempts:
        counts = tally[(attempt.staff_id, _local(attempt.ended_at, timezone).hour)]
        counts["attempts"] += 1
        counts["completes"] += attempt.complete
    people = _staff(session, (a.staff_id for a in attempts))
    rows = [
        HourActivity(staff_id, people[staff_id].username, hour, c["attempts"], c["completes"])
        for (staff_id, hour), c in tally.items()
    ]
    return sorted(rows, key=lambda r: (r.username, r.hour))


@dataclass(frozen=True, slots=True)
class InterviewerDay:
    """One interviewer's calls over a period (a day, for the pages)."""

    staff_id: int
    username: str
    display_name: str
    attempts: int
    completes: int
    refusals: int
    asked: int
    by_outcome: dict[str, int] = field(default_factory=dict)
    mean_interview_minutes: float | None = None

    @property
    def refusal_rate(self) -> float | None:
        return self.refusals / self.asked if self.asked else None


def _summary(staff: Staff, attempts: list[_Attempt]) -> InterviewerDay:
    lengths = [
        (a.ended_at - a.started_at).total_seconds() / 60
        for a in attempts
        if a.complete and a.ended_at > a.started_at
    ]
    return InterviewerDay(
        staff_id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        attempts=len(attempts),
        completes=sum(a.complete for a in attempts),
        refusals=sum(a.outcome in REFUSALS for a in attempts),
        asked=sum(a.outcome in ASKED for a in attempts),
        by_outcome=dict(Counter(a.outcome for a in attempts)),
        mean_interview_minutes=sum(lengths) / len(lengths) if lengths else None,
    )


def interviewer_days(
    session: Session, day: date, timezone: str, *, staff_id: int | None = None
) -> list[InterviewerDay]:
    """Each interviewer's attempts, completes, refusal rate and mean interview length on ``day``.

    With ``staff_id``, only that interviewer (an empty list if they made no call). The team's
    totals are :func:`team_day` of the result.
    """
    start, end = day_bounds(day, day, timezone)
    by_staff: dict[int, list[_Attempt]] = defaultdict(list)
    for attempt in _attempts(session, start, end, staff_id):
        by_staff[attempt.staff_id].append(attempt)
    people = _staff(session, by_staff)
    rows = [_summary(people[i], attempts) for i, attempts in by_staff.items()]
    return sorted(rows, key=lambda r: r.username)


def team_day(rows: list[InterviewerDay]) -> InterviewerDay:
    """The whole team's figures from :func:`interviewer_days` (mean length over all completes)."""
    completes = sum(r.completes for r in rows)
    measured = [r for r in rows if r.mean_interview_minutes is not None]
    # Weighted by completes: a close approximation only when some completes lack a measured
    # start; exact otherwise (every complete counted once).
    mean = (
        sum(r.mean_interview_minutes * r.completes for r in measured)
        / sum(r.completes for r in measured)
        if measured and sum(r.completes for r in measured)
        else None
    )
    outcomes: Counter = Counter()
    for row in rows:
        outcomes.update(row.by_outcome)
    return InterviewerDay(
        staff_id=0,
        username="",
        display_name="",
        attempts=sum(r.attempts for r in rows),
        completes=completes,
        refusals=sum(r.refusals for r in rows),
        asked=sum(r.asked for r in rows),
        by_outcome=dict(outcomes),
        mean_interview_minutes=mean,
    )


# -- productivity (for payment) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductivityRow:
    day: date
    username: str
    display_name: str
    completes: int


def productivity(session: Session, first: date, last: date, timezone: str) -> list[ProductivityRow]:
    """Completed questionnaires per interviewer and local day, ``first`` to ``last`` inclusive.

    Only interviewer-days with at least one complete are listed, by day then username. Raises
    ValueError for a reversed period or one longer than :data:`MAX_EXPORT_DAYS`.
    """
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_EXPORT_DAYS:
        raise ValueError(f"a productivity export covers at most {MAX_EXPORT_DAYS} days")
    start, end = day_bounds(first, last, timezone)
    tally: Counter = Counter()
    for attempt in _attempts(session, start, end):
        if attempt.complete:
            tally[(_local(attempt.ended_at, timezone).date(), attempt.staff_id)] += 1
    people = _staff(session, (staff_id for _, staff_id in tally))
    rows = [
        ProductivityRow(day, people[i].username, people[i].display_name, count)
        for (day, i), count in tally.items()
    ]
    return sorted(rows, key=lambda r: (r.day, r.username))
