"""A programme's life: create (running), pause, resume, list.

A programme is created with its campaign (channel: the programme's mode, quiet hours and
rate limit its own) set running at once, and its sample frame, which will hold one customer
per invited contact. Pausing a programme pauses its campaign: new events are refused, and
messages already queued are still sent and answered, as for a paused campaign.

:func:`programme_problems` is :func:`create_programme`'s checks, each problem with the
argument it is about: a form shows every one beside its field, and creating raises the
first. :func:`decisions_between` counts the decisions of every programme's contacts.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from survey.answering.pages import questionnaire_of
from survey.campaigns.lifecycle import change_status, create_campaign
from survey.db.states import ProgrammeState
from survey.db.tables import (
    Campaign,
    ContactEvent,
    Programme,
    QuestionnaireVersion,
    SampleFrame,
    utcnow,
)
from survey.errors import Conflict, InvalidRequest, NotFound
from survey.sms.quiet_hours import parse_clock
from survey.sms.reply_mode import ReplyModeError, reply_questions

__all__ = [
    "DEFAULT_MESSAGES",
    "MODES",
    "ProgrammeError",
    "ProgrammeProblem",
    "change_state",
    "create_programme",
    "decisions_between",
    "find_programme",
    "frame_name",
    "list_programmes",
    "parse_rates",
    "programme_problems",
]

MODES = ("sms_reply", "sms_link")
#: The text before the first question (sms_reply) or around the link (sms_link).
DEFAULT_MESSAGES = {
    "sms_reply": {"zh": "感谢您联系中国移动。", "en": "Thank you for contacting China Mobile."},
    "sms_link": {
        "zh": "感谢您联系中国移动，请评价本次服务：{link}",
        "en": "Thank you for contacting China Mobile. Please rate our service: {link}",
    },
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
TRANSITIONS = {"pause": (ProgrammeState.RUNNING, ProgrammeState.PAUSED),
               "resume": (ProgrammeState.PAUSED, ProgrammeState.RUNNING)}  # fmt: skip


class ProgrammeError(InvalidRequest):
    """A programme request that cannot be carried out, with what to do instead."""


def frame_name(name: str) -> str:
    """The sample frame holding a programme's contacted customers."""
    return f"programme:{name}"


def _rate(what: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ProgrammeError(f"{what} is {value}: a sampling rate is between 0 and 1, e.g. 0.2")
    return float(value)


@dataclass(frozen=True, slots=True)
class ProgrammeProblem:
    """One problem of a programme request: the argument of :func:`create_programme` it is
    about (``name``, ``questionnaire``, ``mode``, ``channels``, ``sample_rate``,
    ``channel_rates``, ``queue_rates``, ``min_per_agent``, ``delay_minutes``,
    ``reply_window_hours``, ``quiet_start``, ``quiet_end``, ``rate_per_second``) and the
    error creating raises for it."""

    field: str
    error: ValueError

    def __str__(self) -> str:
        return str(self.error)


def programme_problems(
    session: Session,
    version: QuestionnaireVersion | None,
    name: str,
    *,
    mode: str,
    channels: Iterable[str],
    sample_rate: float,
    channel_rates: Mapping[str, float] | None = None,
    queue_rates: Mapping[str, float] | None = None,
    min_per_agent: int = 0,
    delay_minutes: int = 5,
    reply_window_hours: int = 24,
    quiet_start: str = "21:00",
    quiet_end: str = "08:00",
    rate_per_second: float = 10.0,
) -> list[ProgrammeProblem]:
    """Every problem of a programme request, in the order :func:`create_programme` meets
    them; none: it can be created. ``version`` None (not chosen yet): the questionnaire's
    reply-mode check is left out."""
    problems: list[ProgrammeProblem] = []

    def add(field: str, error: ValueError) -> None:
        problems.append(ProgrammeProblem(field, error))

    named = _NAME.fullmatch(name) is not None
    if not named:
        add("name", ProgrammeError(
            f"programme name {name!r}: use 1-80 letters, digits, '.', '_' or '-', e.g. hotline"
        ))  # fmt: skip
    if mode not in MODES:
        add("mode", ProgrammeError(f"unknown mode {mode!r}: use {' or '.join(MODES)}"))
    channels = list(dict.fromkeys(channels))
    bad = [c for c in channels if not _CHANNEL.fullmatch(c)]
    if not channels or bad:
        add("channels", ProgrammeError(
            f"channels {bad or channels}: give the contact channels covered, lower-case words "
            "separated by commas, e.g. hotline,hall,online"
        ))  # fmt: skip
    try:
        rates = {c: _rate(f"the rate of channel {c}", r) for c, r in (channel_rates or {}).items()}
    except ProgrammeError as error:
        add("channel_rates", error)
    else:
        unknown = [c for c in rates if c not in channels]
        if unknown:
            add("channel_rates", ProgrammeError(
                f"rates for channels {unknown} the programme does not cover"
            ))  # fmt: skip
    try:
        for queue, rate in (queue_rates or {}).items():
            _rate(f"the rate of queue {queue}", rate)
    except ProgrammeError as error:
        add("queue_rates", error)
    negative = ProgrammeError("the minimum per agent and the delay cannot be negative")
    for field, value in (("min_per_agent", min_per_agent), ("delay_minutes", delay_minutes)):
        if value < 0:
            add(field, negative)
    if reply_window_hours <= 0:
        add("reply_window_hours", ProgrammeError("the reply window must be at least one hour"))
    for field, clock in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
        try:
            parse_clock(clock)
        except ValueError as error:
            add(field, error)
    if rate_per_second <= 0:
        add("rate_per_second",
            ProgrammeError("the rate must be positive (messages per second)"))  # fmt: skip
    if named and session.execute(select(Programme.id).where(Programme.name == name)).first():
        add("name", Conflict(f"a programme named {name!r} exists: choose another name"))
    if mode == "sms_reply" and version is not None:
        try:
            reply_questions(questionnaire_of(version))  # ReplyModeError names every problem
        except ReplyModeError as error:
            add("questionnaire", error)
    try:
        _rate("the sample rate", sample_rate)
    except ProgrammeError as error:
        add("sample_rate", error)
    return problems


def parse_rates(pairs: Iterable[str], what: str) -> dict[str, float]:
    """``["billing=0.5", ...]`` as ``{"billing": 0.5}``; blank entries are skipped. The rates
    themselves are checked by :func:`programme_problems`."""
    rates = {}
    for pair in pairs:
        if not pair.strip():
            continue
        key, _, rate = pair.partition("=")
        try:
            rates[key.strip()] = float(rate)
        except ValueError:
            raise ProgrammeError(
                f"{what} rate {pair.strip()!r}: write {what.upper()}=RATE, e.g. billing=0.5"
            ) from None
    return rates


def create_programme(
    session: Session,
    version: QuestionnaireVersion,
    name: str,
    *,
    mode: str,
    channels: Iterable[str],
    sample_rate: float,
    channel_rates: Mapping[str, float] | None = None,
    queue_rates: Mapping[str, float] | None = None,
    min_per_agent: int = 0,
    delay_minutes: int = 5,
    reply_window_hours: int = 24,
    quiet_start: str = "21:00",
    quiet_end: str = "08:00",
    rate_per_second: float = 10.0,
    message: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Programme:
    """Create a running programme with its campaign and frame; every problem says its fix
    (the first of :func:`programme_problems` is raised)."""
    channels = list(dict.fromkeys(channels))
    problems = programme_problems(
        session, version, name, mode=mode, channels=channels, sample_rate=sample_rate,
        channel_rates=channel_rates, queue_rates=queue_rates, min_per_agent=min_per_agent,
        delay_minutes=delay_minutes, reply_window_hours=reply_window_hours,
        quiet_start=quiet_start, quiet_end=quiet_end, rate_per_second=rate_per_second,
    )  # fmt: skip
    if problems:
        raise problems[0].error
    frame = SampleFrame(name=frame_name(name), source="contact events", n_customers=0)
    session.add(frame)
    session.flush()
    campaign = create_campaign(
        session,
        version.id,
        f"programme {name}",
        channels=[mode],
        message=dict(message or DEFAULT_MESSAGES[mode]),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        rate_per_second=rate_per_second,
    )
    change_status(session, campaign, "launch")
    programme = Programme(
        name=name,
        questionnaire_version_id=version.id,
        campaign_id=campaign.id,
        frame_id=frame.id,
        mode=mode,
        channels=channels,
        default_rate=float(sample_rate),
        channel_rates={c: float(r) for c, r in (channel_rates or {}).items()},
        queue_rates={q: float(r) for q, r in (queue_rates or {}).items()},
        min_per_agent=min_per_agent,
        delay_minutes=delay_minutes,
        reply_window_hours=reply_window_hours,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        rate_per_second=rate_per_second,
        state=ProgrammeState.RUNNING,
        sampling_key=secrets.token_hex(32),
        created_at=now or utcnow(),
    )
    session.add(programme)
    session.commit()
    session.refresh(programme)
    return programme


def find_programme(session: Session, name: str) -> Programme:
    programme = session.execute(select(Programme).where(Programme.name == name)).scalars().first()
    if programme is None:
        raise NotFound(f"no programme named {name!r}: `manyi programme list` shows them")
    return programme


def change_state(session: Session, programme: Programme, action: str) -> Programme:
    """pause or resume a programme and its campaign; an impossible change says why."""
    if action not in TRANSITIONS:
        raise ProgrammeError(f"unknown action {action!r}: use {' or '.join(TRANSITIONS)}")
    before, after = TRANSITIONS[action]
    if programme.state != before:
        raise Conflict(f"programme {programme.name} is {programme.state}: cannot {action} it")
    campaign = session.get(Campaign, programme.campaign_id)
    change_status(session, campaign, action)
    programme.state = after
    session.add(programme)
    session.commit()
    session.refresh(programme)
    return programme


def list_programmes(session: Session) -> list[Programme]:
    return list(session.execute(select(Programme).order_by(Programme.name)).scalars())


def decisions_between(
    session: Session, start: datetime, end: datetime
) -> dict[int, dict[str, int]]:
    """Per programme id, its contacts that ended in ``[start, end)`` by decision: one GROUP BY
    over ``contact_event`` (a day's, as ``/dashboard/agents`` counts a day's contacts)."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for programme_id, decision, n in session.execute(
        select(ContactEvent.programme_id, ContactEvent.decision, func.count())
        .where(ContactEvent.ended_at >= start, ContactEvent.ended_at < end)
        .group_by(ContactEvent.programme_id, ContactEvent.decision)
    ):
        counts[programme_id][decision] = n
    return dict(counts)
