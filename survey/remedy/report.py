"""The weekly service-remedy report: follow-ups opened, closed, on time, resolved.

A week runs from ``week_start`` 00:00 to seven days later in the operator's time zone. Every
figure is derived from the follow-ups' timestamps (opened, due, closed), not from their
current status, so the report of a past week reads the same today as it did then:

- ``opened``: follow-ups opened during the week, also by reason (a follow-up may have several);
- ``closed``: closed during the week; ``closed_within_sla`` of those by their due time,
  ``closed_late`` the others; by outcome and by root cause (closed and resolved);
- ``resolution_rate``: resolved / closed (None when nothing was closed: no rate, not zero);
- ``open_at_end``: still open when the week ended (or now, for the running week), and
  ``sla_breaches`` those of them already past due: the cases to escalate;
- ``median_hours_to_close`` of the week's closed follow-ups.

A report for a reader limited to regions or service halls counts their follow-ups alone
(:func:`survey.staff.scope.follow_up_clause`): a count of every region, beside their own,
would give the others' by subtraction. :func:`open_follow_ups_of` lists the open follow-ups
a reader may see, for both pages that show them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, true
from sqlmodel import Session

from survey.db.tables import Customer, FollowUp, Response, Staff, utcnow
from survey.staff.scope import follow_up_clause


@dataclass(frozen=True)
class WeeklyRemedyReport:
    week_start: str
    timezone: str
    starts_at: str
    ends_at: str
    as_of: str
    opened: int
    opened_by_reason: dict[str, int]
    closed: int
    closed_within_sla: int
    closed_late: int
    by_outcome: dict[str, int]
    resolution_rate: float | None
    by_root_cause: dict[str, dict[str, int]]
    open_at_end: int
    sla_breaches: int
    median_hours_to_close: float | None
    #: The follow-ups past due at the end of the week, oldest due first (for escalation).
    breached_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        rate = "n/a" if self.resolution_rate is None else f"{self.resolution_rate:.0%}"
        lines = [
            f"service remedy, week of {self.week_start} ({self.timezone})",
            f"  opened {self.opened}, closed {self.closed} "
            f"({self.closed_within_sla} within SLA, {self.closed_late} late)",
            f"  resolution rate {rate} (resolved / closed)",
            f"  open at the end of the week {self.open_at_end}, "
            f"of which past due (SLA breaches) {self.sla_breaches}",
        ]
        for cause, counts in self.by_root_cause.items():
            lines.append(
                f"  root cause {cause}: closed {counts['closed']}, resolved {counts['resolved']}"
            )
        return "\n".join(lines)


def week_bounds(week_start: date, timezone: str) -> tuple[datetime, datetime]:
    """The week's start and end as UTC instants (a DST change makes it 167 or 169 hours)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(week_start, time(0), tzinfo=zone)
    end = datetime.combine(week_start + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def weekly_report(
    session: Session,
    week_start: date,
    timezone: str,
    *,
    now: datetime | None = None,
    reader: Staff | None = None,
) -> WeeklyRemedyReport:
    """The report of the week beginning ``week_start`` (a date in ``timezone``), of the
    follow-ups ``reader`` may see (None: every follow-up, for the command line)."""
    start, end = week_bounds(week_start, timezone)
    as_of = min(end, now or utcnow())
    rows = (
        session.execute(
            select(FollowUp).where(
                FollowUp.opened_at < end,
                or_(FollowUp.closed_at.is_(None), FollowUp.closed_at >= start),
                follow_up_clause(reader) if reader is not None else true(),
            )
        )
        .scalars()
        .all()
    )
    opened = [f for f in rows if f.opened_at >= start]
    closed = [f for f in rows if f.closed_at is not None and start <= f.closed_at < end]
    still_open = [
        f for f in rows if f.opened_at < as_of and (f.closed_at is None or f.closed_at >= as_of)
    ]
    breached = sorted((f for f in still_open if f.due_at < as_of), key=lambda f: f.due_at)
    on_time = [f for f in closed if f.closed_at <= f.due_at]
    resolved = [f for f in closed if f.outcome == "resolved"]
    causes: dict[str, dict[str, int]] = {}
    for f in closed:
        counts = causes.setdefault(f.root_cause or "unknown", {"closed": 0, "resolved": 0})
        counts["closed"] += 1
        counts["resolved"] += f.outcome == "resolved"
    hours = [(f.closed_at - f.opened_at).total_seconds() / 3600 for f in closed]
    return WeeklyRemedyReport(
        week_start=week_start.isoformat(),
        timezone=timezone,
        starts_at=start.isoformat(),
        ends_at=end.isoformat(),
        as_of=as_of.isoformat(),
        opened=len(opened),
        opened_by_reason=dict(Counter(r for f in opened for r in f.reasons)),
        closed=len(closed),
        closed_within_sla=len(on_time),
        closed_late=len(closed) - len(on_time),
        by_outcome=dict(Counter(f.outcome for f in closed)),
        resolution_rate=len(resolved) / len(closed) if closed else None,
        by_root_cause=dict(sorted(causes.items())),
        open_at_end=len(still_open),
        sla_breaches=len(breached),
        median_hours_to_close=statistics.median(hours) if hours else None,
        breached_ids=[int(f.id) for f in breached],
    )


def open_follow_ups_of(
    session: Session, reader: Staff
) -> list[tuple[FollowUp, str | None, str | None]]:
    """The open follow-ups ``reader`` may see, past due first, with the region and hall of
    each (the customer's; an interview's hall when there is no customer)."""
    rows = session.execute(
        select(FollowUp, Customer.region, Customer.service_hall, Response.service_hall)
        .join(Response, FollowUp.response_id == Response.id)
        .outerjoin(Customer, FollowUp.customer_id == Customer.id)
        .where(FollowUp.status == "open", follow_up_clause(reader))
        .order_by(FollowUp.due_at, FollowUp.id)
    ).all()
    return [(f, region, hall or interview_hall) for f, region, hall, interview_hall in rows]
