"""What an SMS from a customer does: opt out, opt back in, ask for help, or answer.

Both ways in, a provider's webhook and the simulator's phone page, call
:func:`receive_sms`. It stores the message once per provider message id and, in the same
transaction, records its effect and queues the replies in the outbox (see
:mod:`survey.sms.outbox`); the caller commits nothing and then hands the replies to
:func:`survey.sms.outbox.send_now`. A provider retrying the webhook gets the same message id,
which is recognised (``duplicate``) and does nothing a second time.

Rules, in order (keywords as :func:`~survey.sms.keywords.classify_reply` reads them):

1. opt-out (STOP, TD, 退订, UNSUBSCRIBE, ...): the number goes on the opt-out list, known
   customer or not, and gets one confirmation; a number already on the list gets none,
   so a second STOP is not answered again;
2. opt-in (START): the number leaves the opt-out list (the customer's own request, from
   that number), confirmed once;
3. help (HELP, 帮助): the help text, every time, also to an opted-out number (carriers
   require an answer to HELP);
4. a number on the opt-out list gets nothing else: its other messages are kept, unanswered;
5. free text that talks about stopping ("别再发了") is not an opt-out (carriers would not
   treat it as one) but is logged for a person to read, and never re-prompted;
6. anything else goes to the number's open reply-mode conversation
   (:mod:`survey.sms.reply_mode`); words sent after a conversation completed go to its
   response when its questionnaire keeps words (a comment item); otherwise the message is
   kept and ignored.

``handled_as`` records which rule applied: opt_out, opt_in, help, answer, invalid (a
re-prompt was queued), comment (words kept with the response) or ignored.

Senders are phone numbers (:func:`phone_address`): a WhatsApp sender (``whatsapp:+86...``)
is its number, so its STOP opts that number out, and its replies go out by SMS like all of
ours. A sender that is no number (another channel's account id, an alphanumeric sender
name) cannot be answered or opted out: its message is logged and dropped (``refused``),
never stored, and the provider's webhook is still acknowledged, since a retry would bring
the same message again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel import Session

from survey.db.tables import Customer, InboundSms, OptOut, utcnow
from survey.sms.keywords import InboundReply, ReplyKind, classify_reply
from survey.sms.outbox import KEYWORD_ANSWERS, insert_once, queue
from survey.sms.reply_mode import ReplyModeError, late_words, open_conversation, take_reply

__all__ = ["TEXTS", "InboundMessage", "InboundOutcome", "phone_address", "receive_sms"]

log = logging.getLogger(__name__)

#: A phone number as providers write it: E.164 (``+`` and at most 15 digits), or a short
#: code's digits. Both fit the 20 characters of the phone columns.
_PHONE = re.compile(r"\+?[0-9]{3,15}")
#: Channels whose address is a phone number, as Twilio prefixes them.
_PHONE_CHANNELS = ("whatsapp:",)

#: Answers that do not come from a questionnaire, in the customer's language (zh or en).
TEXTS = {
    "opt_out": {
        "zh": "您已退订满意度调查短信，将不再收到。如需恢复，请回复START。",
        "en": "You are unsubscribed from survey messages and will get no more. "
        "Reply START to subscribe again.",
    },
    "opt_in": {
        "zh": "您已恢复接收满意度调查短信。回复TD退订。",
        "en": "You will get survey messages again. Reply STOP to unsubscribe.",
    },
    "help": {
        "zh": "满意度调查：收到问题后，回复对应的数字即可作答。回复TD退订。",
        "en": "Satisfaction survey: to answer a question, reply with the number of your "
        "answer. Reply STOP to unsubscribe.",
    },
}


@dataclass(frozen=True)
class InboundMessage:
    """An SMS received: the provider's message id, who sent it, what it says."""

    provider_message_id: str
    from_phone: str
    body: str
    to_phone: str | None = None


@dataclass(frozen=True)
class InboundOutcome:
    """What :func:`receive_sms` did; ``outbox_ids`` are the replies to send now."""

    handled_as: str
    duplicate: bool = False
    outbox_ids: tuple[int, ...] = ()
    invitation_id: int | None = None


def phone_address(address: str | None) -> str | None:
    """The phone number a provider's address names, or None when it names none.

    ``"whatsapp:+8613800138000"`` is ``"+8613800138000"``; ``"+86 138 0013 8000"`` is not a
    number (providers send E.164 without spaces), nor is ``"messenger:1234"``.
    """
    if address is None:
        return None
    address = address.strip()
    for channel in _PHONE_CHANNELS:
        if address[: len(channel)].lower() == channel:
            address = address[len(channel) :]
            break
    return address if _PHONE.fullmatch(address) else None


def receive_sms(
    session: Session, message: InboundMessage, *, timezone: str, now: datetime | None = None
) -> InboundOutcome:
    """Store one inbound SMS and act on it (see the module docstring); commits.

    ``timezone`` is the customers' time zone, stored on the queued replies for a
    dispatcher that has to send them later.
    """
    now = now or utcnow()
    sender = phone_address(message.from_phone)
    if sender is None:
        channel, colon, _ = message.from_phone.partition(":")
        log.warning(
            "inbound SMS %s dropped: its sender is no phone number (%s, %d characters)",
            message.provider_message_id,
            f"channel {channel[:20]!r}" if colon else "no channel",
            len(message.from_phone),
        )
        return InboundOutcome("refused")
    inbound_id = insert_once(
        session,
        InboundSms,
        {
            "provider_message_id": message.provider_message_id[:64],
            "from_phone": sender,
            "to_phone": phone_address(message.to_phone),
            "body": message.body,
            "handled_as": "received",
            "received_at": now,
        },
    )
    if inbound_id is None:
        session.commit()
        log.info("inbound SMS %s seen before: not handled again", message.provider_message_id)
        return InboundOutcome("duplicate", duplicate=True)
    reply = classify_reply(message.body)
    outcome = _act(
        session, sender, reply, timezone=timezone, now=now, inbound_id=inbound_id,
        body=message.body,
    )  # fmt: skip
    session.execute(
        update(InboundSms)
        .where(InboundSms.id == inbound_id)
        .values(handled_as=outcome.handled_as, invitation_id=outcome.invitation_id)
    )
    session.commit()
    return outcome


def _act(
    session: Session,
    phone: str,
    reply: InboundReply,
    *,
    timezone: str,
    now: datetime,
    inbound_id: int,
    body: str,
) -> InboundOutcome:
    if reply.kind is ReplyKind.OPT_OUT:
        added = insert_once(
            session,
            OptOut,
            {"phone_e164": phone, "keyword": reply.keyword, "source": "sms", "created_at": now},
        )
        return _keyword_reply(session, phone, "opt_out", added is not None, timezone, now)
    if reply.kind is ReplyKind.OPT_IN:
        removed = session.execute(delete(OptOut).where(OptOut.phone_e164 == phone)).rowcount
        return _keyword_reply(session, phone, "opt_in", bool(removed), timezone, now)
    if reply.kind is ReplyKind.HELP:
        return _keyword_reply(session, phone, "help", True, timezone, now)
    if session.get(OptOut, phone) is not None:
        return InboundOutcome("ignored")
    if reply.mentions_opt_out:
        log.warning(
            "inbound SMS %s asks in words to stop messages: a person should read it "
            "(reply TD/STOP opts out)",
            inbound_id,
        )
        return InboundOutcome("ignored")
    try:
        conversation = open_conversation(session, phone, now)
    except ReplyModeError as error:
        log.error("inbound SMS %s not answered: %s", inbound_id, error)
        return InboundOutcome("ignored")
    if conversation is None:
        invitation_id = late_words(session, phone, reply, body, now)
        if invitation_id is not None:
            return InboundOutcome("comment", invitation_id=invitation_id)
        return InboundOutcome("ignored")
    turn = take_reply(session, conversation, reply, timezone=timezone, now=now, body=body)
    return InboundOutcome(
        turn.handled_as, outbox_ids=turn.outbox_ids, invitation_id=conversation.invitation.id
    )


def _keyword_reply(
    session: Session, phone: str, rule: str, answer: bool, timezone: str, now: datetime
) -> InboundOutcome:
    if not answer:
        return InboundOutcome(rule)
    body = TEXTS[rule][_language_of(session, phone)]
    outbox_id = queue(
        session,
        to_phone=phone,
        kind=KEYWORD_ANSWERS[rule],
        body=body,
        timezone=timezone,
        now=now,
    )
    return InboundOutcome(rule, outbox_ids=(outbox_id,) if outbox_id is not None else ())


def _language_of(session: Session, phone: str) -> str:
    """The language of the number's most recently imported customer record; else Chinese."""
    language = session.execute(
        select(Customer.language)
        .where(Customer.phone_e164 == phone)
        .order_by(Customer.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return language if language in ("zh", "en") else "zh"
