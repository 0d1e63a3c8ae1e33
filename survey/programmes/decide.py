"""The one decision for every contact event, whichever way it arrived.

:func:`decide_contacts` takes a batch (the API's request, a chunk of a daily file, messages
of a queue) and answers one :class:`Decision` per event, in the order given:

``invalid``
    a field is missing or wrong; the reason names the field and the fix. Not stored, so
    that the corrected event can be sent again.
``duplicate``
    the same ``contact_id`` earlier in the same batch (decided there). Not stored.
``outside_window``
    the contact ended longer ago than the programme's reply window, or ends in the future
    beyond :data:`CLOCK_TOLERANCE` (a sender's clock is wrong).
``opted_out``
    the number is on the opt-out list.
``sampled_out``
    not drawn: a keyed hash of the contact id (:func:`sample_point`) is compared with the
    rate of its queue, else of its channel, else the programme's default, so that a
    redelivered event is drawn the same. An agent with fewer invitations this month than
    the programme's minimum is invited whatever the rate.
``frequency_capped``
    drawn, but the contact-frequency rules (:mod:`survey.campaigns.frequency`) do not allow
    another survey of this number yet.
``invited``
    a customer of the programme's frame, an invitation of its campaign and its first
    message in the outbox, due ``delay_minutes`` after the contact ended (the dispatcher
    keeps the quiet hours and the rate limit).

Idempotent by ``contact_id``: an event decided before answers with its stored decision and
changes nothing. Under concurrency the ``contact_event`` row is inserted first (``ON CONFLICT
DO NOTHING``): a second transaction with the same contact id waits on PostgreSQL for the
first and then reads its decision; the frequency guard is taken only for the events this
transaction inserted.

Bulk by design: a batch is one transaction of about a dozen statements (multi-row inserts
and executemany), whatever its size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from survey.answering.links import invitation_token, token_hash
from survey.answering.pages import questionnaire_of, relevant_items
from survey.campaigns import frequency
from survey.db.bulk import insert_rows, update_rows
from survey.db.states import ContactDecision, ContactSource, ProgrammeState
from survey.db.tables import (
    Campaign,
    ContactEvent,
    ContactGuard,
    Customer,
    Invitation,
    OptOut,
    OutboundSms,
    Programme,
    QuestionnaireVersion,
    utcnow,
)
from survey.errors import Conflict, InvalidRequest, NotFound
from survey.frames.importer import normalise_phone
from survey.sms.reply_mode import prompt, reply_questions

__all__ = ["CLOCK_TOLERANCE", "FIELDS", "MAX_BATCH", "Decision", "decide_contacts",
           "sample_point"]  # fmt: skip

log = logging.getLogger(__name__)

#: The most events one call decides (the API's limit per request).
MAX_BATCH = 1000
#: How far in the future a contact's end may be (the sender's clock and ours differ a little).
CLOCK_TOLERANCE = timedelta(minutes=5)
#: The fields of an event; ``contact_id``, ``phone``, ``channel`` and ``ended_at`` required.
FIELDS = ("contact_id", "phone", "channel", "ended_at", "agent_id", "team", "queue", "region",
          "service_hall", "attributes")  # fmt: skip
_TEXT_FIELDS = ("agent_id", "team", "queue", "region", "service_hall")
_MAX_ATTRIBUTES = 4000  # characters of JSON
_DEFAULT_REGION = "CN"
_ATTEMPTS = 3  # a PostgreSQL deadlock or serialisation failure is tried again

D = ContactDecision
_EVENTS = ContactEvent.__table__


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided for one event, and why, in words."""

    contact_id: str | None
    decision: str
    reason: str


@dataclass(slots=True)
class _Event:
    index: int
    contact_id: str
    phone: str
    channel: str
    ended_at: datetime
    texts: dict[str, str | None]
    attributes: dict[str, Any]
    decision: str = ""
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sample_point(key: str, contact_id: str) -> float:
    """A contact's point in [0, 1): HMAC-SHA256 of its id under the programme's key."""
    digest = hmac.new(key.encode(), contact_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _cn_mobile_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(_DEFAULT_REGION)
    return (
        re.compile(metadata.general_desc.national_number_pattern),
        re.compile(metadata.mobile.national_number_pattern),
        re.compile(metadata.national_prefix_for_parsing or "(?!)"),
    )


_GENERAL, _MOBILE, _NATIONAL_PREFIX = _cn_mobile_patterns()
_CN_MOBILE_TEXT = re.compile(r"(\+86)?(1\d{10})")


def _phone(raw: str) -> str | None:
    """:func:`~survey.frames.importer.normalise_phone` in the default region, without parsing
    (~50 µs) the form nearly every contact-centre system sends: a Chinese mobile number,
    ``+86`` and 11 digits or the 11 digits alone. Such a number, matching phonenumbers' own
    patterns for the region's numbers and its mobiles and not starting with a prefix that
    parsing strips (a carrier code), is valid and its E.164 form is ``+86`` and the digits,
    which is what phonenumbers answers for it; any other text goes through phonenumbers."""
    text = raw.strip()
    found = _CN_MOBILE_TEXT.fullmatch(text)
    if found is not None:
        digits = found.group(2)
        if (
            _MOBILE.fullmatch(digits)
            and _GENERAL.fullmatch(digits)
            and not _NATIONAL_PREFIX.match(digits)
        ):
            return "+86" + digits
    return normalise_phone(raw, _DEFAULT_REGION)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None


def _validate(raw: Any, index: int, programme: Programme) -> _Event | Decision:
    if not isinstance(raw, Mapping):
        return Decision(None, D.INVALID, "an event is an object with contact_id, phone, ...")
    contact_id = raw.get("contact_id")
    if isinstance(contact_id, int) and not isinstance(contact_id, bool):
        contact_id = str(contact_id)
    if not isinstance(contact_id, str) or not 1 <= len(contact_id.strip()) <= 64:
        return Decision(None, D.INVALID, "contact_id: missing or longer than 64 characters; "
                        "give the contact centre's id of the contact")  # fmt: skip
    contact_id = contact_id.strip()

    def bad(name: str, fix: str) -> Decision:
        return Decision(contact_id, D.INVALID, f"{name}: {fix}")

    phone_raw = raw.get("phone")
    phone = _phone(str(phone_raw)) if phone_raw else None
    if phone is None:
        return bad("phone", f"{phone_raw!r} is not a valid number; give the customer's mobile "
                   "number, e.g. 13800138000 or +8613800138000")  # fmt: skip
    channel = raw.get("channel")
    if channel not in programme.channels:
        return bad("channel", f"{channel!r} is not a channel of programme {programme.name}; "
                   f"use {', '.join(programme.channels)}")  # fmt: skip
    ended_at = _parse_time(raw.get("ended_at"))
    if ended_at is None:
        return bad("ended_at", f"{raw.get('ended_at')!r} is not a time with its zone; give "
                   "ISO 8601 with an offset, e.g. 2026-07-01T10:15:00+08:00")  # fmt: skip
    texts: dict[str, str | None] = {}
    for name in _TEXT_FIELDS:
        value = raw.get(name)
        if value is None or value == "":
            texts[name] = None
        elif isinstance(value, str | int) and not isinstance(value, bool) and len(str(value)) <= 64:
            texts[name] = str(value).strip() or None
        else:
            return bad(name, "give text of at most 64 characters, or leave it out")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        return bad("attributes", 'give an object of names and values, e.g. {"topic": "bill"}')
    try:
        size = len(json.dumps(attributes, ensure_ascii=False))
    except (TypeError, ValueError):
        return bad("attributes", "give values that are text, numbers, true/false or null")
    if size > _MAX_ATTRIBUTES:
        return bad("attributes", f"{size} characters of JSON; keep them under {_MAX_ATTRIBUTES}")
    return _Event(index, contact_id, phone, str(channel), ended_at, texts, dict(attributes))


@dataclass(frozen=True, slots=True)
class _Setting:
    """What deciding needs of a programme, read before the batch's transaction."""

    programme: Programme
    campaign: Campaign
    messages: dict[str, str]  # language -> the invitation's text
    language: str


def _setting(engine: Engine, name: str) -> _Setting:
    with Session(engine, expire_on_commit=False) as session:
        programme = session.execute(
            select(Programme).where(Programme.name == name)
        ).scalar_one_or_none()
        if programme is None:
            raise NotFound(f"no programme named {name!r}: `manyi programme list` shows them")
        if programme.state != ProgrammeState.RUNNING:
            raise Conflict(f"programme {name} is {programme.state}: resume it "
                           f"(`manyi programme resume {name}`) to take events")  # fmt: skip
        campaign = session.get(Campaign, programme.campaign_id)
        version = session.get(QuestionnaireVersion, programme.questionnaire_version_id)
        questionnaire = questionnaire_of(version)
    messages: dict[str, str] = {}
    for language in questionnaire.languages:
        intro = campaign.message.get(language) or next(iter(campaign.message.values()), "")
        if programme.mode == "sms_link":
            messages[language] = intro
            continue
        first = next(q for q in reply_questions(questionnaire)
                     if q.name in relevant_items(questionnaire, {}))  # fmt: skip
        question = prompt(first, questionnaire, language)
        messages[language] = f"{intro}\n{question}" if intro else question
    return _Setting(programme, campaign, messages, questionnaire.default_language)


def decide_contacts(
    engine: Engine,
    programme_name: str,
    contacts: Sequence[Any],
    *,
    source: str,
    secret: str,
    timezone: str,
    now: datetime | None = None,
) -> list[Decision]:
    """Decide every event of ``contacts`` (mappings of :data:`FIELDS`), in one transaction.

    Raises :class:`~survey.errors.NotFound` for an unknown programme,
    :class:`~survey.errors.Conflict` for a paused one, :class:`~survey.errors.InvalidRequest`
    for more than :data:`MAX_BATCH` events. ``secret`` signs the invitations' links;
    ``timezone`` is the recipients' (for the dispatcher's quiet hours).
    """
    if len(contacts) > MAX_BATCH:
        raise InvalidRequest(f"{len(contacts)} contacts: send at most {MAX_BATCH} a batch")
    ContactSource(source)
    now = now or utcnow()
    setting = _setting(engine, programme_name)
    answers: list[Decision | None] = [None] * len(contacts)
    events: list[_Event] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(contacts):
        checked = _validate(raw, index, setting.programme)
        if isinstance(checked, Decision):
            answers[index] = checked
        elif checked.contact_id in seen:
            answers[index] = Decision(
                checked.contact_id, D.DUPLICATE,
                f"contact {checked.contact_id} is also number {seen[checked.contact_id] + 1} "
                "of this batch, and decided there",
            )  # fmt: skip
        else:
            seen[checked.contact_id] = index
            events.append(checked)
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as connection:
                decided = _decide(connection, setting, events, source, secret, timezone, now)
            break
        except OperationalError as error:  # a deadlock between two batches: try again
            if attempt + 1 == _ATTEMPTS or engine.dialect.name != "postgresql":
                raise
            log.warning("contact batch retried after %s", error.orig)
    for index, decision in decided.items():
        answers[index] = decision
    return [a for a in answers if a is not None]


def _decide(connection, setting: _Setting, events: list[_Event], source: str, secret: str,
            timezone: str, now: datetime) -> dict[int, Decision]:  # fmt: skip
    programme = setting.programme
    if not events:
        return {}
    if connection.dialect.name == "sqlite":
        # Take SQLite's write lock before reading: a read snapshot cannot become a writer
        # once another connection has written.
        connection.execute(text("UPDATE programme SET id = id WHERE id = :id"),
                           {"id": programme.id})  # fmt: skip
    ids = [e.contact_id for e in events]
    stored = {
        row.contact_id: Decision(row.contact_id, row.decision, row.reason)
        for row in connection.execute(
            select(ContactEvent.contact_id, ContactEvent.decision, ContactEvent.reason)
            .where(ContactEvent.contact_id.in_(ids))
        )
    }  # fmt: skip
    fresh = [e for e in events if e.contact_id not in stored]
    opted_out = set(connection.execute(
        select(OptOut.phone_e164).where(OptOut.phone_e164.in_({e.phone for e in fresh}))
    ).scalars()) if fresh else set()  # fmt: skip
    window = timedelta(hours=programme.reply_window_hours)
    drawn: list[_Event] = []
    for event in fresh:
        if event.ended_at < now - window:
            hours = (now - event.ended_at).total_seconds() / 3600
            event.decision, event.reason = D.OUTSIDE_WINDOW, (
                f"the contact ended {hours:.0f} h ago; the programme's reply window is "
                f"{programme.reply_window_hours} h")  # fmt: skip
        elif event.ended_at > now + CLOCK_TOLERANCE:
            event.decision, event.reason = (
                D.OUTSIDE_WINDOW,
                ("the contact ends in the future: check the clock of the system that sent it"),
            )
        elif event.phone in opted_out:
            event.decision, event.reason = D.OPTED_OUT, "the number is on the opt-out list"
        else:
            queue, channel = event.texts["queue"], event.channel
            if queue is not None and queue in programme.queue_rates:
                rate, of = programme.queue_rates[queue], f"queue {queue}"
            elif channel in programme.channel_rates:
                rate, of = programme.channel_rates[channel], f"channel {channel}"
            else:
                rate, of = programme.default_rate, "the programme"
            event.extra["rate"] = (rate, of)
            if sample_point(programme.sampling_key, event.contact_id) < rate:
                event.decision, event.reason = D.INVITED, f"drawn at the rate {rate:g} of {of}"
                drawn.append(event)
            else:
                event.decision, event.reason = (
                    D.SAMPLED_OUT,
                    f"not drawn at the rate {rate:g} of {of}",
                )
    if programme.min_per_agent > 0:
        drawn += _agents_below_minimum(connection, programme, fresh, now)
    # Claim the events: only those this transaction inserts are decided here.
    rows = [
        {"contact_id": e.contact_id, "programme_id": programme.id, "phone_e164": e.phone,
         "channel": e.channel, "ended_at": e.ended_at, **e.texts, "attributes": e.attributes,
         "source": source, "received_at": now, "decision": e.decision, "reason": e.reason,
         "customer_id": None, "invitation_id": None}
        for e in sorted(fresh, key=lambda e: e.contact_id)
    ]  # fmt: skip
    returned = insert_rows(connection, _EVENTS, rows, returning=["contact_id"],
                           on_conflict_do_nothing=True)  # fmt: skip
    claimed = {contact_id for (contact_id,) in returned}
    drawn = [e for e in drawn if e.contact_id in claimed]
    invited, capped = _take_numbers(connection, drawn)
    _invite(connection, setting, invited, secret, timezone, now)
    changes = [{"contact_id": e.contact_id, "decision": e.decision, "reason": e.reason,
                "customer_id": e.extra.get("customer_id"),
                "invitation_id": e.extra.get("invitation_id")}
               for e in invited + capped]  # fmt: skip
    update_rows(connection, _EVENTS, "contact_id", changes)
    lost = [e.contact_id for e in fresh if e.contact_id not in claimed]
    if lost:  # decided meanwhile by another transaction, committed: its decision stands
        for row in connection.execute(
            select(ContactEvent.contact_id, ContactEvent.decision, ContactEvent.reason)
            .where(ContactEvent.contact_id.in_(lost))
        ):  # fmt: skip
            stored[row.contact_id] = Decision(row.contact_id, row.decision, row.reason)
    answers = {}
    for event in events:
        if event.contact_id in stored:
            answers[event.index] = stored[event.contact_id]
        else:
            answers[event.index] = Decision(event.contact_id, event.decision, event.reason)
    return answers


def _agents_below_minimum(connection, programme: Programme, fresh: list[_Event],
                          now: datetime) -> list[_Event]:  # fmt: skip
    """Sampled-out events of agents with fewer invitations this month than the minimum."""
    waiting = [e for e in fresh if e.decision == D.SAMPLED_OUT and e.texts["agent_id"]]
    if not waiting:
        return []
    local = now.astimezone(frequency.QUARTER_TIMEZONE)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    agents = {e.texts["agent_id"] for e in waiting}
    counts = dict(connection.execute(
        select(ContactEvent.agent_id, func.count())
        .where(ContactEvent.programme_id == programme.id, ContactEvent.agent_id.in_(agents),
               ContactEvent.decision == D.INVITED, ContactEvent.ended_at >= month_start)
        .group_by(ContactEvent.agent_id)
    ).all())  # fmt: skip
    for e in fresh:  # this batch's drawn events count too
        if e.decision == D.INVITED and e.texts["agent_id"] in agents:
            counts[e.texts["agent_id"]] = counts.get(e.texts["agent_id"], 0) + 1
    extra = []
    for event in waiting:
        agent = event.texts["agent_id"]
        have = counts.get(agent, 0)
        if have < programme.min_per_agent:
            counts[agent] = have + 1
            event.decision, event.reason = D.INVITED, (
                f"agent {agent} had {have} of the programme's minimum {programme.min_per_agent} "
                "invitations this month")  # fmt: skip
            extra.append(event)
    return extra


def _take_numbers(connection, drawn: list[_Event]) -> tuple[list[_Event], list[_Event]]:
    """The drawn events whose number the frequency rules allow, and the others (capped)."""
    first: dict[str, _Event] = {}
    for event in sorted(drawn, key=lambda e: (e.ended_at, e.contact_id)):
        first.setdefault(event.phone, event)
    taken = frequency.take(connection, [(e.phone, e.ended_at) for e in first.values()])
    invited = [e for e in first.values() if e.phone in taken]
    capped = [e for e in drawn if e.phone not in taken or first[e.phone] is not e]
    refused = {e.phone for e in capped if e.phone not in taken}
    guards = {
        row.phone_e164: row
        for row in connection.execute(select(ContactGuard).where(
            ContactGuard.phone_e164.in_(refused)))
    } if refused else {}  # fmt: skip
    for event in capped:
        event.decision = D.FREQUENCY_CAPPED
        guard = guards.get(event.phone)
        if event.phone in taken:
            event.reason = (f"the same number's contact {first[event.phone].contact_id} of this "
                            "batch is invited")  # fmt: skip
        elif guard is not None and guard.blocked_until > event.ended_at:
            event.reason = (
                f"the number was surveyed on {guard.last_invited_at:%Y-%m-%d}; at most once in "
                f"{frequency.MIN_DAYS_BETWEEN} days")  # fmt: skip
        else:
            event.reason = (f"the number was surveyed {frequency.MAX_PER_QUARTER} times this "
                            f"quarter; at most {frequency.MAX_PER_QUARTER} a quarter")  # fmt: skip
    return invited, capped


def _invite(connection, setting: _Setting, events: list[_Event], secret: str, timezone: str,
            now: datetime) -> None:  # fmt: skip
    """A customer, an invitation and its first outbox row per event, in a few statements."""
    if not events:
        return
    programme, campaign = setting.programme, setting.campaign
    languages = {}
    customers = []
    for event in events:
        wanted = event.attributes.get("language")
        language = wanted if wanted in setting.messages else setting.language
        languages[event.contact_id] = language
        customers.append({
            "frame_id": programme.frame_id, "external_id": event.contact_id,
            "phone_e164": event.phone, "region": event.texts["region"] or "",
            "service_hall": event.texts["service_hall"] or "", "tenure_months": 0,
            "monthly_spend": 0.0, "tier": 1, "language": language, "consent": True,
        })  # fmt: skip
    customer_ids = {
        external: id_
        for id_, external in insert_rows(
            connection, Customer.__table__, customers, returning=["id", "external_id"]
        )
    }
    by_customer = {}
    rows = []
    for event in events:
        customer_id = customer_ids[event.contact_id]
        event.extra["customer_id"] = customer_id
        by_customer[customer_id] = event
        rows.append({"campaign_id": campaign.id, "customer_id": customer_id,
                     "channel": programme.mode, "token_hash": f"pending-{customer_id}",
                     "status": "created", "created_at": now})  # fmt: skip
    tokens = []
    for invitation_id, customer_id in insert_rows(
        connection, Invitation.__table__, rows, returning=["id", "customer_id"]
    ):
        by_customer[customer_id].extra["invitation_id"] = invitation_id
        hashed = token_hash(invitation_token(secret, invitation_id))
        tokens.append({"id": invitation_id, "token_hash": hashed})
    update_rows(connection, Invitation.__table__, "id", tokens)
    delay = timedelta(minutes=programme.delay_minutes)
    outbox = [
        {"campaign_id": campaign.id, "invitation_id": e.extra["invitation_id"],
         "kind": "invitation", "sequence": 0, "to_phone": e.phone,
         "body": setting.messages[languages[e.contact_id]], "timezone": timezone,
         "status": "pending", "attempts": 0, "not_before": max(e.ended_at + delay, now),
         "created_at": now}
        for e in events
    ]  # fmt: skip
    insert_rows(connection, OutboundSms.__table__, outbox)
