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

Bulk by design: a batch is one transaction of a few statements whatever its size. The
programme is read in that transaction (a paused programme or a changed rate is seen by the
next batch); what it derives from its questionnaire is kept per questionnaire content, mode
and message. On PostgreSQL a batch is six statements: the programme; the stored decisions
and opt-outs; the events claimed; the frequency guard (and, when it refuses numbers, their
guards' dates for the reasons); ids for the invited; their customers, invitations, outbox
rows and the events' decisions (data-modifying CTEs). Columns travel as arrays
(:mod:`survey.db.bulk`), every text is fixed: psycopg parses and prepares it once.
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
from types import MappingProxyType
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from survey.answering.links import invitation_token, token_hash
from survey.answering.pages import questionnaire_of, relevant_items
from survey.campaigns import frequency
from survey.db.bulk import columns, insert_rows, unnest_insert, unnest_update, update_rows
from survey.db.states import ContactDecision, ContactSource, ProgrammeState
from survey.db.tables import (
    Campaign,
    ContactEvent,
    ContactGuard,
    Customer,
    Invitation,
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
    channel: Any  # as sent: checked against the programme's channels in its transaction
    ended_at: datetime | None
    texts: dict[str, str | None]
    attributes: dict[str, Any]
    #: The reason a field after ``channel`` is wrong (``channel`` is named first if it is too).
    error: str | None = None
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


_PLAIN = (str, int, float, bool, type(None))
_INFINITY = float("inf")


def _json_size(attributes: Mapping) -> int:
    """The characters of ``json.dumps(attributes, ensure_ascii=False)``, or a bound above it
    when that bound is within :data:`_MAX_ATTRIBUTES` (then the exact size does not matter).

    The bound skips writing the JSON of nearly every event (a few short names and values): a
    string of n characters is at most 6n + 2 of JSON (``\\u001f`` for a control character),
    an integer below 10**18 at most 20, a finite float at most 24
    (``-2.2250738585072014e-308``). Anything else (nested values, long numbers) is written to
    count it. NaN and the infinities raise ValueError: JSON has no such numbers (PostgreSQL's
    json type refuses them), so an event with one is ``invalid`` on every database.
    """
    if type(attributes) is not dict:  # json.dumps refuses other mappings: let it say so
        return _json_length(attributes)
    bound = 2
    for name, value in attributes.items():
        kind = type(value)
        if type(name) is not str or kind not in _PLAIN:
            return _json_length(attributes)
        if kind is str:
            bound += 6 * len(value) + 2
        elif kind is int and -(10**18) < value < 10**18:
            bound += 20
        elif (kind is float and -_INFINITY < value < _INFINITY) or kind is bool or value is None:
            bound += 24  # a float outside (-inf, inf) is NaN or infinite: json.dumps says so
        else:
            return _json_length(attributes)
        bound += 6 * len(name) + 6  # quotes, ": " and ", "
    if bound <= _MAX_ATTRIBUTES:
        return bound
    return _json_length(attributes)


def _json_length(attributes: Any) -> int:
    return len(json.dumps(attributes, ensure_ascii=False, allow_nan=False))


def _validate(raw: Any, index: int) -> _Event | Decision:
    """The event of ``raw``, or its ``invalid`` decision when the contact id or the phone is
    wrong. A later field's fault is kept in ``_Event.error``: the channel, checked against the
    programme in its transaction (:func:`_sort_out`), is named before it."""
    if not isinstance(raw, Mapping):
        return Decision(None, D.INVALID, "an event is an object with contact_id, phone, ...")
    contact_id = raw.get("contact_id")
    if isinstance(contact_id, int) and not isinstance(contact_id, bool):
        contact_id = str(contact_id)
    if not isinstance(contact_id, str) or not 1 <= len(contact_id.strip()) <= 64:
        return Decision(None, D.INVALID, "contact_id: missing or longer than 64 characters; "
                        "give the contact centre's id of the contact")  # fmt: skip
    contact_id = contact_id.strip()
    phone_raw = raw.get("phone")
    phone = _phone(str(phone_raw)) if phone_raw else None
    if phone is None:
        return Decision(contact_id, D.INVALID,
                        f"phone: {phone_raw!r} is not a valid number; give the customer's "
                        "mobile number, e.g. 13800138000 or +8613800138000")  # fmt: skip
    event = _Event(index, contact_id, phone, raw.get("channel"), None, {}, {})
    ended_at = _parse_time(raw.get("ended_at"))
    if ended_at is None:
        event.error = (f"ended_at: {raw.get('ended_at')!r} is not a time with its zone; give "
                       "ISO 8601 with an offset, e.g. 2026-07-01T10:15:00+08:00")  # fmt: skip
        return event
    event.ended_at = ended_at
    texts = event.texts
    for name in _TEXT_FIELDS:
        value = raw.get(name)
        if value is None or value == "":
            texts[name] = None
        elif isinstance(value, str | int) and not isinstance(value, bool) and len(str(value)) <= 64:
            texts[name] = str(value).strip() or None
        else:
            event.error = f"{name}: give text of at most 64 characters, or leave it out"
            return event
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        event.error = 'attributes: give an object of names and values, e.g. {"topic": "bill"}'
        return event
    try:
        size = _json_size(attributes) if attributes else 2
    except (TypeError, ValueError):
        event.error = "attributes: give values that are text, numbers, true/false or null"
        return event
    if size > _MAX_ATTRIBUTES:
        event.error = f"attributes: {size} characters of JSON; keep them under {_MAX_ATTRIBUTES}"
        return event
    event.attributes = dict(attributes)
    return event


def _sort_out(checked: list[_Event | Decision], programme) -> tuple[dict[int, Decision],
                                                                    list[_Event]]:  # fmt: skip
    """The invalid and duplicate events' decisions (by index), and the events to decide."""
    answers: dict[int, Decision] = {}
    events: list[_Event] = []
    seen: dict[str, int] = {}
    channels = programme.channels
    for index, event in enumerate(checked):
        if isinstance(event, Decision):
            answers[index] = event
        elif event.channel not in channels:
            answers[index] = Decision(event.contact_id, D.INVALID, (
                f"channel: {event.channel!r} is not a channel of programme {programme.name}; "
                f"use {', '.join(channels)}"))  # fmt: skip
        elif event.error is not None:
            answers[index] = Decision(event.contact_id, D.INVALID, event.error)
        elif event.contact_id in seen:
            answers[index] = Decision(
                event.contact_id, D.DUPLICATE,
                f"contact {event.contact_id} is also number {seen[event.contact_id] + 1} "
                "of this batch, and decided there",
            )  # fmt: skip
        else:
            seen[event.contact_id] = index
            event.channel = str(event.channel)
            event.decision, event.reason = "", ""
            event.extra.clear()
            events.append(event)
    return answers, events


@dataclass(frozen=True, slots=True)
class _Setting:
    """What deciding needs of a programme, read in the batch's transaction."""

    programme: Any  # the programme's row (its columns by name)
    messages: Mapping[str, str]  # language -> the invitation's text
    language: str


_PROGRAMME = Programme.__table__
_SETTING = (
    select(_PROGRAMME, Campaign.message.label("campaign_message"),
           QuestionnaireVersion.content_hash.label("content_hash"))
    .join(Campaign, Campaign.id == _PROGRAMME.c.campaign_id)
    .join(QuestionnaireVersion, QuestionnaireVersion.id == _PROGRAMME.c.questionnaire_version_id)
    .where(_PROGRAMME.c.name == bindparam("name"))
)  # fmt: skip
# The invitations' texts per (questionnaire content, mode, campaign message): published
# versions never change, and everything else they depend on is part of the key, read with
# the programme in every batch's transaction; so a hit is never stale. Bounded: cleared when
# full (a handful of programmes is the usual count).
_MESSAGES: dict[tuple[str, str, str], tuple[Mapping[str, str], str]] = {}
_MESSAGES_LIMIT = 256


def _setting(connection: Connection, name: str) -> _Setting:
    programme = connection.execute(_SETTING, {"name": name}).one_or_none()
    if programme is None:
        raise NotFound(f"no programme named {name!r}: `manyi programme list` shows them")
    if programme.state != ProgrammeState.RUNNING:
        raise Conflict(f"programme {name} is {programme.state}: resume it "
                       f"(`manyi programme resume {name}`) to take events")  # fmt: skip
    message = programme.campaign_message
    key = (programme.content_hash, programme.mode, json.dumps(message))  # in stored order
    found = _MESSAGES.get(key)
    if found is None:
        # A session joined to the connection's transaction, only to load the version's row.
        with Session(bind=connection) as session:
            version = session.get(QuestionnaireVersion, programme.questionnaire_version_id)
            found = _messages(questionnaire_of(version), programme.mode, message)
        if len(_MESSAGES) >= _MESSAGES_LIMIT:
            _MESSAGES.clear()
        _MESSAGES[key] = found
    return _Setting(programme, found[0], found[1])


def _messages(questionnaire, mode: str, message: Mapping[str, str]
              ) -> tuple[Mapping[str, str], str]:  # fmt: skip
    messages: dict[str, str] = {}
    for language in questionnaire.languages:
        intro = message.get(language) or next(iter(message.values()), "")
        if mode == "sms_link":
            messages[language] = intro
            continue
        first = next(q for q in reply_questions(questionnaire)
                     if q.name in relevant_items(questionnaire, {}))  # fmt: skip
        question = prompt(first, questionnaire, language)
        messages[language] = f"{intro}\n{question}" if intro else question
    return MappingProxyType(messages), questionnaire.default_language


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
    checked = [_validate(raw, index) for index, raw in enumerate(contacts)]
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as connection:
                answers = _decide(connection, programme_name, checked, source, secret,
                                  timezone, now)  # fmt: skip
            break
        except OperationalError as error:  # a deadlock between two batches: try again
            if attempt + 1 == _ATTEMPTS or engine.dialect.name != "postgresql":
                raise
            log.warning("contact batch retried after %s", error.orig)
    return [answers[index] for index in range(len(contacts))]


# The stored decisions of a batch's contact ids and which of its numbers opted out, in one
# statement: on PostgreSQL each list is one array parameter (a fixed text psycopg parses once;
# an IN list of 500 parameters took ~3 ms to render and parse a batch), on SQLite a JSON one.
_KNOWN = {
    "postgresql": "SELECT contact_id, decision, reason FROM contact_event "
                  "WHERE contact_id = ANY(%b::text[]) UNION ALL "
                  "SELECT phone_e164, NULL, NULL FROM opt_out WHERE phone_e164 = ANY(%b::text[])",
    "sqlite": "SELECT contact_id, decision, reason FROM contact_event "
              "WHERE contact_id IN (SELECT value FROM json_each(?)) UNION ALL "
              "SELECT phone_e164, NULL, NULL FROM opt_out "
              "WHERE phone_e164 IN (SELECT value FROM json_each(?))",
}  # fmt: skip


def _known(connection: Connection, ids: list[str], phones: list[str]
           ) -> tuple[dict[str, Decision], set[str]]:  # fmt: skip
    """The stored decisions of ``ids``, and which of ``phones`` are on the opt-out list."""
    if connection.dialect.name == "postgresql":
        parameters: tuple = (ids, phones)
    else:
        parameters = (json.dumps(ids), json.dumps(phones))
    stored, opted_out = {}, set()
    for key, decision, reason in connection.exec_driver_sql(
        _KNOWN[connection.dialect.name], parameters
    ):  # fmt: skip
        if decision is None:
            opted_out.add(key)
        else:
            stored[key] = Decision(key, decision, reason)
    return stored, opted_out


def _decide(connection: Connection, programme_name: str, checked: list[_Event | Decision],
            source: str, secret: str, timezone: str,
            now: datetime) -> dict[int, Decision]:  # fmt: skip
    if connection.dialect.name == "sqlite" and any(isinstance(e, _Event) for e in checked):
        # Take SQLite's write lock before reading: a read snapshot cannot become a writer
        # once another connection has written.
        connection.execute(text("UPDATE programme SET id = id WHERE name = :name"),
                           {"name": programme_name})  # fmt: skip
    setting = _setting(connection, programme_name)
    programme = setting.programme
    answers, events = _sort_out(checked, programme)
    if not events:
        return answers
    stored, opted_out = _known(connection, [e.contact_id for e in events],
                               sorted({e.phone for e in events}))  # fmt: skip
    fresh = [e for e in events if e.contact_id not in stored]
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
         "source": source, "received_at": now, "decision": e.decision, "reason": e.reason}
        for e in sorted(fresh, key=lambda e: e.contact_id)
    ]  # fmt: skip
    returned = insert_rows(connection, _EVENTS, rows, returning=["contact_id"],
                           on_conflict_do_nothing=True)  # fmt: skip
    claimed = {contact_id for (contact_id,) in returned}
    drawn = [e for e in drawn if e.contact_id in claimed]
    invited, capped = _take_numbers(connection, drawn)
    _invite(connection, setting, invited, capped, secret, timezone, now)
    lost = [e.contact_id for e in fresh if e.contact_id not in claimed]
    if lost:  # decided meanwhile by another transaction, committed: its decision stands
        stored.update(_known(connection, lost, [])[0])
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


def _invite(connection: Connection, setting: _Setting, events: list[_Event],
            capped: list[_Event], secret: str, timezone: str, now: datetime) -> None:  # fmt: skip
    """A customer, an invitation and its first outbox row per invited event, and the invited
    and capped events' decisions."""
    programme = setting.programme
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
    if connection.dialect.name == "postgresql":
        _invite_postgresql(connection, setting, events, capped, customers, languages, secret,
                           timezone, now)  # fmt: skip
        return
    if events:
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
            rows.append({"campaign_id": programme.campaign_id, "customer_id": customer_id,
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
        insert_rows(connection, OutboundSms.__table__,
                    _outbox(setting, events, languages, timezone, now))  # fmt: skip
    update_rows(connection, _EVENTS, "contact_id", _decided(events + capped))


def _outbox(setting: _Setting, events: list[_Event], languages: dict[str, str], timezone: str,
            now: datetime) -> list[dict]:  # fmt: skip
    delay = timedelta(minutes=setting.programme.delay_minutes)
    return [
        {"campaign_id": setting.programme.campaign_id, "invitation_id": e.extra["invitation_id"],
         "kind": "invitation", "sequence": 0, "to_phone": e.phone,
         "body": setting.messages[languages[e.contact_id]], "timezone": timezone,
         "status": "pending", "attempts": 0, "not_before": max(e.ended_at + delay, now),
         "created_at": now}
        for e in events
    ]  # fmt: skip


def _decided(events: list[_Event]) -> list[dict]:
    return [{"contact_id": e.contact_id, "decision": e.decision, "reason": e.reason,
             "customer_id": e.extra.get("customer_id"),
             "invitation_id": e.extra.get("invitation_id")}
            for e in events]  # fmt: skip


# Ids of the invited's customers and invitations, taken before they are written: an
# invitation's token (an HMAC of its id under the service's secret, never sent to the
# database) is then known when its row is inserted, and the customers, invitations, outbox
# rows and the events' decisions go in one statement instead of five.
_IDS = ("SELECT nextval(pg_get_serial_sequence('customer', 'id')), "
        "nextval(pg_get_serial_sequence('invitation', 'id')) "
        "FROM generate_series(1, %s)")  # fmt: skip
_CUSTOMER = ("id", "frame_id", "external_id", "phone_e164", "region", "service_hall",
             "tenure_months", "monthly_spend", "tier", "language", "consent")  # fmt: skip
_INVITATION = ("id", "campaign_id", "customer_id", "channel", "token_hash", "status",
               "created_at")  # fmt: skip
_OUTBOX = ("campaign_id", "invitation_id", "kind", "sequence", "to_phone", "body", "timezone",
           "status", "attempts", "not_before", "created_at")  # fmt: skip
_DECIDED = ("contact_id", "decision", "reason", "customer_id", "invitation_id")
# Data-modifying CTEs: every part runs once, whether or not the final SELECT reads it, and the
# foreign keys between them are checked at the end of the statement, when all rows are in.
_WRITE_INVITED = (
    f"WITH customers AS ({unnest_insert(Customer.__table__, _CUSTOMER)}), "
    f"invitations AS ({unnest_insert(Invitation.__table__, _INVITATION)}), "
    f"outbox AS ({unnest_insert(OutboundSms.__table__, _OUTBOX)}), "
    f"decided AS ({unnest_update(_EVENTS, 'contact_id', _DECIDED)}) SELECT 1"
)


def _invite_postgresql(connection: Connection, setting: _Setting, events: list[_Event],
                       capped: list[_Event], customers: list[dict], languages: dict[str, str],
                       secret: str, timezone: str, now: datetime) -> None:  # fmt: skip
    if not events:
        update_rows(connection, _EVENTS, "contact_id", _decided(capped))
        return
    programme = setting.programme
    ids = connection.exec_driver_sql(_IDS, (len(events),)).all()
    invitations = []
    for event, customer, (customer_id, invitation_id) in zip(events, customers, ids,
                                                             strict=True):  # fmt: skip
        customer["id"] = customer_id
        event.extra["customer_id"], event.extra["invitation_id"] = customer_id, invitation_id
        invitations.append({
            "id": invitation_id, "campaign_id": programme.campaign_id,
            "customer_id": customer_id, "channel": programme.mode,
            "token_hash": token_hash(invitation_token(secret, invitation_id)),
            "status": "created", "created_at": now,
        })  # fmt: skip
    parameters = (
        columns(Customer.__table__, customers, _CUSTOMER)
        + columns(Invitation.__table__, invitations, _INVITATION)
        + columns(OutboundSms.__table__, _outbox(setting, events, languages, timezone, now),
                  _OUTBOX)
        + columns(_EVENTS, _decided(events + capped), _DECIDED)
    )  # fmt: skip
    connection.exec_driver_sql(_WRITE_INVITED, tuple(parameters))
