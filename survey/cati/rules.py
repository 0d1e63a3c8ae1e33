"""Calling rules of a campaign's phone interviews: when, how often, and how soon again.

A campaign keeps its rules in ``Campaign.calling`` (JSON); ``{}`` means every default.
:func:`parse_calling` checks the dictionary and fills in the defaults:

====================  ==========================  =============================================
key                   default                     meaning
====================  ==========================  =============================================
``hours``             ``"09:00-21:00"``           calling hours, local time of the customer;
                                                  no case is served outside them, appointments
                                                  included (they wait for the next opening)
``timezone``          the caller's default        IANA zone of the customers; the customer
                      (settings: Asia/Shanghai)   table has no time zone column, so one zone
                                                  per campaign
``max_attempts``      6                           calls per case; the last one ends the case
``min_gap_minutes``   60                          at least this long between two calls of a
                                                  case (an appointment the customer asked for
                                                  is honoured even if sooner)
``retry_minutes``     see :data:`DEFAULT_RETRY`   per outcome: minutes before the next call, or
                                                  ``"final"`` to end the case on that outcome
``partial_threshold`` 0.5                         share of required questions answered from
                                                  which a stopped interview is a partial (1.2)
                                                  rather than a break-off (2.12)
``hold_minutes``      20                          how long a case served to an interviewer is
                                                  kept from the others (renewed while they work)
====================  ==========================  =============================================

The 0.5 partial threshold is the AAPOR Standard Definitions' example (under 50 % of the
applicable questions answered is a break-off); the default retry delays follow common CATI
practice (see :mod:`survey.cati.outcomes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from survey.cati.outcomes import OUTCOMES
from survey.errors import InvalidRequest
from survey.sms.quiet_hours import next_allowed, parse_clock

__all__ = [
    "DEFAULT_RETRY",
    "FINAL",
    "PRIORITY",
    "CallingRules",
    "CallingRulesError",
    "parse_calling",
]

#: Queue priority by kind of case: a follow-up (a dissatisfied customer to call back within its
#: SLA) comes before any sampled interview. 100 is also survey.remedy.rules.FOLLOW_UP_PRIORITY.
PRIORITY = {"interview": 0, "follow_up": 100}
#: The value of ``retry_minutes`` that makes an outcome end the case.
FINAL = "final"
#: Minutes before the next call, per outcome that does not end a case by itself.
DEFAULT_RETRY: dict[str, int | str] = {
    "no_answer": 180,
    "busy": 15,
    "answering_machine": 180,
    "not_available": 120,
    "technical_problem": 30,
    "soft_refusal": 7 * 24 * 60,
    "break_off": 24 * 60,
    "partial": 24 * 60,
    # An appointment's next call is the appointment itself: this only bounds how far ahead
    # nothing else can be scheduled, and is not configurable.
    "appointment": 0,
}
#: Outcomes whose retry delay a campaign may set.
RETRYABLE = tuple(name for name, o in OUTCOMES.items() if o.retry and name != "appointment")
KEYS = (
    "hours",
    "timezone",
    "max_attempts",
    "min_gap_minutes",
    "retry_minutes",
    "partial_threshold",
    "hold_minutes",
)


class CallingRulesError(InvalidRequest):
    """Calling rules that cannot be used: the message says which key, what is wrong and the
    fix."""


@dataclass(frozen=True, slots=True)
class CallingRules:
    """A campaign's calling rules, checked; build with :func:`parse_calling`."""

    hours_start: time = time(9, 0)
    hours_end: time = time(21, 0)
    timezone: str = "Asia/Shanghai"
    max_attempts: int = 6
    min_gap: timedelta = timedelta(minutes=60)
    #: Outcome -> delay before the next call, or None when the outcome ends the case.
    retry: Mapping[str, timedelta | None] = field(
        default_factory=lambda: {k: _delay(v) for k, v in DEFAULT_RETRY.items()}
    )
    partial_threshold: float = 0.5
    hold: timedelta = timedelta(minutes=20)

    def within_hours(self, moment: datetime) -> bool:
        """Whether ``moment`` is inside the calling hours in the customers' time zone."""
        local = moment.astimezone(ZoneInfo(self.timezone)).time()
        return self.hours_start <= local < self.hours_end

    def next_opening(self, moment: datetime) -> datetime:
        """The first instant at or after ``moment`` inside the calling hours."""
        # Outside the calling hours is a quiet window from their end to their start.
        return next_allowed(moment, self.timezone, _clock(self.hours_end), _clock(self.hours_start))

    def ends_case(self, outcome_name: str) -> bool:
        """Whether a call with this outcome ends the case (by itself or by these rules)."""
        found = OUTCOMES[outcome_name]
        return found.final or self.retry.get(found.retry or "") is None

    def to_dict(self) -> dict[str, Any]:
        """The rules as ``Campaign.calling`` stores them (every key, defaults included)."""
        return {
            "hours": f"{_clock(self.hours_start)}-{_clock(self.hours_end)}",
            "timezone": self.timezone,
            "max_attempts": self.max_attempts,
            "min_gap_minutes": self.min_gap.total_seconds() / 60,
            "retry_minutes": {
                k: FINAL if v is None else v.total_seconds() / 60
                for k, v in self.retry.items()
                if k != "appointment"
            },
            "partial_threshold": self.partial_threshold,
            "hold_minutes": self.hold.total_seconds() / 60,
        }


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def _delay(value: int | float | str) -> timedelta | None:
    return None if value == FINAL else timedelta(minutes=value)


def _number(key: str, value: Any, *, low: float, high: float, integer: bool = False) -> float:
    kind = "a whole number" if integer else "a number"
    wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
    if integer and isinstance(value, float) and not wrong_type:
        wrong_type = not value.is_integer()
    if wrong_type or not low <= value <= high:
        raise CallingRulesError(
            f"calling rules: {key} is {value!r}: write {kind} from {low:g} to {high:g}"
        )
    return int(value) if integer else float(value)


def _hours(value: Any) -> tuple[time, time]:
    text = value if isinstance(value, str) else ""
    start, _, end = text.partition("-")
    try:
        first, last = parse_clock(start.strip()), parse_clock(end.strip())
    except ValueError:
        raise CallingRulesError(
            f"calling rules: hours is {value!r}: write HH:MM-HH:MM, e.g. 09:00-21:00"
        ) from None
    if first >= last:
        raise CallingRulesError(
            f"calling rules: hours {value!r} end before they start: calls are not made across "
            "midnight; write e.g. 09:00-21:00"
        )
    return first, last


def _retry(value: Any) -> dict[str, timedelta | None]:
    if not isinstance(value, Mapping):
        raise CallingRulesError(
            f"calling rules: retry_minutes is {value!r}: write a mapping of outcome to minutes "
            'or "final", e.g. {"no_answer": 180, "soft_refusal": "final"}'
        )
    retry = {k: _delay(v) for k, v in DEFAULT_RETRY.items()}
    for name, minutes in value.items():
        if name not in RETRYABLE:
            raise CallingRulesError(
                f"calling rules: retry_minutes has {name!r}, which is not an outcome that can "
                f"be retried: use {', '.join(RETRYABLE)}"
            )
        if minutes == FINAL:
            retry[name] = None
            continue
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes < 0:
            raise CallingRulesError(
                f"calling rules: retry_minutes.{name} is {minutes!r}: write minutes (0 or "
                f'more) or "final"'
            )
        retry[name] = timedelta(minutes=minutes)
    return retry


def parse_calling(
    raw: Mapping[str, Any] | None, *, timezone: str = "Asia/Shanghai"
) -> CallingRules:
    """Check a campaign's ``calling`` dictionary and return its rules, defaults filled in.

    ``timezone`` is the zone used when the rules name none (the service's default, e.g.
    ``Settings.timezone``). Raises :class:`CallingRulesError` on an unknown key or a value
    out of range, saying which and how to fix it.

    Examples
    --------
    >>> rules = parse_calling({"max_attempts": 4, "retry_minutes": {"busy": 30}})
    >>> rules.max_attempts, rules.retry["busy"], rules.retry["no_answer"]
    (4, datetime.timedelta(seconds=1800), datetime.timedelta(seconds=10800))
    """
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise CallingRulesError(
            f"calling rules: unknown key(s) {', '.join(unknown)}: use {', '.join(KEYS)}"
        )
    values: dict[str, Any] = {}
    if "hours" in raw:
        values["hours_start"], values["hours_end"] = _hours(raw["hours"])
    zone = raw.get("timezone", timezone)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CallingRulesError(
            f"calling rules: timezone {zone!r} is not a known time zone: write an IANA name, "
            "e.g. Asia/Shanghai"
        ) from None
    values["timezone"] = zone
    if "max_attempts" in raw:
        values["max_attempts"] = _number(
            "max_attempts", raw["max_attempts"], low=1, high=50, integer=True
        )
    if "min_gap_minutes" in raw:
        minutes = _number("min_gap_minutes", raw["min_gap_minutes"], low=0, high=30 * 24 * 60)
        values["min_gap"] = timedelta(minutes=minutes)
    if "retry_minutes" in raw:
        values["retry"] = _retry(raw["retry_minutes"])
    if "partial_threshold" in raw:
        threshold = _number("partial_threshold", raw["partial_threshold"], low=0, high=1)
        if threshold == 0:
            raise CallingRulesError(
                "calling rules: partial_threshold is 0, which makes every stopped interview a "
                "partial: write a share above 0 and at most 1, e.g. 0.5"
            )
        values["partial_threshold"] = threshold
    if "hold_minutes" in raw:
        values["hold"] = timedelta(
            minutes=_number("hold_minutes", raw["hold_minutes"], low=1, high=240)
        )
    return CallingRules(**values)
