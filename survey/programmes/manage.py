"""A programme's life: create (running), pause, resume, list.

A programme is created with its campaign (channel: the programme's mode, quiet hours and
rate limit its own) set running at once, and its sample frame, which will hold one customer
per invited contact. Pausing a programme pauses its campaign: new events are refused, and
messages already queued are still sent and answered, as for a paused campaign.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from survey.answering.pages import questionnaire_of
from survey.campaigns.lifecycle import change_status, create_campaign
from survey.db.states import ProgrammeState
from survey.db.tables import Campaign, Programme, QuestionnaireVersion, SampleFrame, utcnow
from survey.errors import Conflict, InvalidRequest, NotFound
from survey.sms.quiet_hours import parse_clock
from survey.sms.reply_mode import reply_questions

__all__ = [
    "DEFAULT_MESSAGES",
    "MODES",
    "ProgrammeError",
    "change_state",
    "create_programme",
    "find_programme",
    "frame_name",
    "list_programmes",
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
    """Create a running programme with its campaign and frame; every problem says its fix."""
    if not _NAME.fullmatch(name):
        raise ProgrammeError(
            f"programme name {name!r}: use 1-80 letters, digits, '.', '_' or '-', e.g. hotline"
        )
    if mode not in MODES:
        raise ProgrammeError(f"unknown mode {mode!r}: use {' or '.join(MODES)}")
    channels = list(dict.fromkeys(channels))
    bad = [c for c in channels if not _CHANNEL.fullmatch(c)]
    if not channels or bad:
        raise ProgrammeError(
            f"channels {bad or channels}: give the contact channels covered, lower-case words "
            "separated by commas, e.g. hotline,hall,online"
        )
    rates = {c: _rate(f"the rate of channel {c}", r) for c, r in (channel_rates or {}).items()}
    unknown = [c for c in rates if c not in channels]
    if unknown:
        raise ProgrammeError(f"rates for channels {unknown} the programme does not cover")
    queues = {q: _rate(f"the rate of queue {q}", r) for q, r in (queue_rates or {}).items()}
    if min_per_agent < 0 or delay_minutes < 0:
        raise ProgrammeError("the minimum per agent and the delay cannot be negative")
    if reply_window_hours <= 0:
        raise ProgrammeError("the reply window must be at least one hour")
    parse_clock(quiet_start), parse_clock(quiet_end)
    if rate_per_second <= 0:
        raise ProgrammeError("the rate must be positive (messages per second)")
    if session.execute(select(Programme.id).where(Programme.name == name)).first() is not None:
        raise Conflict(f"a programme named {name!r} exists: choose another name")
    if mode == "sms_reply":
        reply_questions(questionnaire_of(version))  # ReplyModeError names every problem
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
        default_rate=_rate("the sample rate", sample_rate),
        channel_rates=rates,
        queue_rates=queues,
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
