"""Quiet hours: no SMS reaches a customer at night in their own time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_clock(text: str) -> time:
    """ "21:00" -> time(21, 0), with a message that says what to write when it is wrong."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise ValueError(f"{text!r} is not a time of day: write HH:MM, e.g. 21:00") from None


def next_allowed(moment: datetime, timezone: str, quiet_start: str, quiet_end: str) -> datetime:
    """The first instant at or after ``moment`` outside the quiet hours, in UTC terms.

    The window runs from ``quiet_start`` to ``quiet_end`` local time and may cross
    midnight (21:00-08:00). Equal start and end mean no quiet hours.
    """
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    start, end = parse_clock(quiet_start), parse_clock(quiet_end)
    if start == end:
        return moment
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    now = local.time()
    crosses_midnight = start > end
    quiet = (now >= start or now < end) if crosses_midnight else (start <= now < end)
    if not quiet:
        return moment
    day = local.date()
    if crosses_midnight and now >= start:
        day += timedelta(days=1)
    # Local wall-clock time, then back to an aware instant (DST-safe through ZoneInfo).
    return datetime.combine(day, end, tzinfo=zone).astimezone(moment.tzinfo)
