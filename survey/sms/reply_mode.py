"""Reply-mode campaigns: the hotline's post-contact evaluation, answered with a digit by SMS.

After a hotline call the customer gets an SMS with one question and its options ("回复1-5"),
replies with a digit, gets the next question, and so on: 1-3 questions in all.

Which questions
---------------
Every item of the campaign's questionnaire version, in questionnaire order: a reply-mode
questionnaire is written for SMS, so it has 1 to :data:`MAX_QUESTIONS` items, each a
``rating``, ``single`` or ``nps`` item whose offered codes are numbers a customer can type
(``0`` to ``99``, no leading zeros). Anything else (a text or multiple-choice item, codes
such as "yes"/"no", more than three items) is refused with :class:`ReplyModeError` before a
single message is queued, rather than silently asking a subset. Skip logic works as on the
web form: an item that is not relevant given the earlier answers is not asked.

One text item is allowed besides: the *comment item*, a text item named ``comment`` that is
not required (``data/samples/contact_evaluation.yaml`` has one). It is never asked by SMS;
it keeps the customer's words, so that a complaint in words is never dropped:

- "3 等了太久，没解决" (a leading offered number, then words): the rating 3 is the answer
  and "等了太久，没解决" is stored as an answer to the comment item;
- words alone ("等了太久"): stored as an answer to the comment item, the response started,
  and one re-prompt asks for the number (handled as ``comment``);
- words after the conversation completed (within :data:`LATE_WORDS_HOURS`): appended to
  that response's comment answers (:func:`late_words`).

Comment answers are appended, never replaced; the follow-up team reads them all
(:func:`survey.programmes.contact.customer_words`). A questionnaire without a comment item
(the CSI hotline evaluation) behaves as before: any text is an invalid reply, re-prompted
once, and words after completion are kept only with the inbound message.

A conversation
--------------
The current question is the first relevant one without a stored answer. A valid reply is
stored as an :class:`~survey.db.tables.Answer` of the response (channel ``sms_reply``, the
campaign's questionnaire version), then the next question is queued, or the response is
completed and a thank-you queued. An invalid reply gets one short re-prompt per question;
the outbox's unique ``(invitation, kind, sequence)`` makes "one" hold under concurrency.

The conversation belongs to the number's latest invitation whose first question was sent,
of a campaign that is running or paused (as for the web form, pausing stops new invitations,
not answers) and not expired.

Outbox rows of a conversation: ``invitation`` (sequence 0, the first question, sent by the
dispatcher like any invitation), ``question`` (sequence = the question's index),
``reprompt`` (sequence = the question's index) and ``thanks``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from survey.answering.pages import (
    OPEN_CAMPAIGNS,
    offered_codes,
    questionnaire_of,
    relevant_items,
    stored_answers,
)
from survey.db.tables import (
    Answer,
    Campaign,
    Customer,
    Invitation,
    OutboundSms,
    QuestionnaireVersion,
    Response,
    utcnow,
)
from survey.errors import InvalidRequest
from survey.questionnaire import Item, Questionnaire
from survey.remedy.rules import open_follow_ups
from survey.sms.keywords import InboundReply, ReplyKind
from survey.sms.outbox import insert_once, queue

__all__ = [
    "CHANNEL",
    "COMMENT_ITEM",
    "MAX_QUESTIONS",
    "Conversation",
    "ReplyModeError",
    "ReplyTurn",
    "comment_item",
    "late_words",
    "open_conversation",
    "prompt",
    "queue_reply_invitations",
    "reprompt",
    "reply_questions",
    "split_words",
    "take_reply",
]

CHANNEL = "sms_reply"
MAX_QUESTIONS = 3
#: The name of the optional text item that keeps a reply's words (never asked by SMS).
COMMENT_ITEM = "comment"
#: How long after a completed conversation words from the number are added to its response.
LATE_WORDS_HOURS = 24
#: A reply that starts with a number and goes on in words: "3 等了太久", "3，没解决", "3分。太慢".
_LEADING_NUMBER = re.compile(r"([0-9]{1,2})(?:\s*分)?(?=$|[^0-9])[\s\W_]*(.*)", re.DOTALL)
REPLY_TYPES = ("rating", "single", "nps")
#: Invitation states in which the conversation is going on: its first question was sent.
ANSWERING = ("invited", "opened", "started")
_TYPABLE_CODE = re.compile(r"0|[1-9][0-9]?")

_TEXTS = {
    "zh": {
        "reply": "请回复数字：",
        "range": "请回复{low}-{high}的数字。",
        "again": "抱歉，没有看懂。请回复{codes}中的一个数字。",
        "words": "您的留言已收到，谢谢。请再回复{codes}中的一个数字为本次服务评分。",
        "thanks": "感谢您的评价！",
        "sep": "，",
        "or": "、",
    },
    "en": {
        "reply": "Reply with a number: ",
        "range": "Reply with a number from {low} to {high}.",
        "again": "Sorry, we did not get that. Please reply with one number: {codes}.",
        "words": "Thank you, we have your message. Please also rate our service with one "
        "number: {codes}.",
        "thanks": "Thank you for your feedback!",
        "sep": ", ",
        "or": ", ",
    },
}


class ReplyModeError(InvalidRequest):
    """A questionnaire that cannot be answered by SMS reply, with every reason and a fix."""


def comment_item(questionnaire: Questionnaire) -> Item | None:
    """The questionnaire's comment item (a text item named :data:`COMMENT_ITEM`, not
    required), which keeps a reply's words; None when it has none."""
    for item in questionnaire.items:
        if item.name == COMMENT_ITEM and item.type == "text" and not item.required:
            return item
    return None


def reply_questions(questionnaire: Questionnaire) -> tuple[Item, ...]:
    """The questions a reply-mode campaign asks, or :class:`ReplyModeError` saying why not.

    The comment item (:func:`comment_item`) is not asked, so it is not among them.
    """
    problems: list[str] = []
    comment = comment_item(questionnaire)
    items = tuple(item for item in questionnaire.items if item is not comment)
    if not 1 <= len(items) <= MAX_QUESTIONS:
        problems.append(
            f"it has {len(items)} items; an SMS reply campaign asks 1 to {MAX_QUESTIONS} "
            "questions: publish a short questionnaire for it"
        )
    for item in items:
        if item.type not in REPLY_TYPES:
            problems.append(
                f"item {item.name!r} is of type {item.type}; a reply is one number, so "
                f"items must be {', '.join(REPLY_TYPES)}"
            )
            continue
        bad = [c for c in offered_codes(item, questionnaire) if not _TYPABLE_CODE.fullmatch(c)]
        if bad:
            problems.append(
                f"item {item.name!r} has choice codes {bad} that cannot be typed as a "
                "number; use codes 0-99"
            )
    if problems:
        raise ReplyModeError(
            f"questionnaire {questionnaire.form_id} {questionnaire.version} cannot be "
            "answered by SMS reply: " + "; ".join(problems)
        )
    return items


def _language(questionnaire: Questionnaire, customer_language: str | None) -> str:
    if customer_language in questionnaire.languages:
        return str(customer_language)
    return questionnaire.default_language


def _texts(language: str) -> Mapping[str, str]:
    return _TEXTS.get(language, _TEXTS["en"])


def _label(labels: Mapping[str, str], language: str, questionnaire: Questionnaire) -> str:
    return labels.get(language) or labels.get(questionnaire.default_language) or ""


def prompt(item: Item, questionnaire: Questionnaire, language: str) -> str:
    """The SMS asking ``item``: its label and the numbers to reply with."""
    texts = _texts(language)
    label = _label(item.label, language, questionnaire)
    if item.type == "nps":
        return f"{label}\n" + texts["range"].format(low=0, high=10)
    options = texts["sep"].join(
        f"{choice.name} {_label(choice.label, language, questionnaire)}"
        for choice in _offered(item, questionnaire)
    )
    return f"{label}\n{texts['reply']}{options}"


def _offered(item: Item, questionnaire: Questionnaire):
    codes = set(offered_codes(item, questionnaire))
    return [c for c in item.choices.choices if c.name in codes] if item.choices else []


def reprompt(item: Item, questionnaire: Questionnaire, language: str, why: str = "again") -> str:
    """The one short message after an invalid reply (``why="again"``) or words without a
    rating (``"words"``): which numbers are answers."""
    texts = _texts(language)
    numbers = sorted(int(code) for code in offered_codes(item, questionnaire))
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        codes = f"{numbers[0]}-{numbers[-1]}"
    else:
        codes = texts["or"].join(str(n) for n in numbers)
    return texts[why].format(codes=codes)


def queue_reply_invitations(
    session: Session, campaign: Campaign, *, timezone: str, now: datetime | None = None
) -> int:
    """Queue the first question for the campaign's reply-mode invitations not yet queued.

    The campaign's message in the customer's language, if any, is put before the first
    question (e.g. "感谢您致电10086。"). Idempotent; commits; returns the number queued.
    Raises :class:`ReplyModeError` when the questionnaire does not fit, queuing nothing.
    """
    now = now or utcnow()
    version = session.get(QuestionnaireVersion, campaign.questionnaire_version_id)
    questionnaire = questionnaire_of(version)
    questions = reply_questions(questionnaire)
    already = select(OutboundSms.invitation_id).where(
        OutboundSms.campaign_id == campaign.id, OutboundSms.kind == "invitation"
    )
    rows = session.execute(
        select(Invitation.id, Customer.phone_e164, Customer.language)
        .join(Customer, Invitation.customer_id == Customer.id)
        .where(
            Invitation.campaign_id == campaign.id,
            Invitation.channel == CHANNEL,
            Invitation.status == "created",
            Invitation.id.not_in(already),
        )
        .order_by(Invitation.id)
    ).all()
    queued = 0
    for invitation_id, phone, customer_language in rows:
        language = _language(questionnaire, customer_language)
        first = next(q for q in questions if q.name in relevant_items(questionnaire, {}))
        intro = campaign.message.get(language, "")
        body = (
            f"{intro}\n{prompt(first, questionnaire, language)}"
            if intro
            else prompt(first, questionnaire, language)
        )
        queued += (
            queue(
                session,
                to_phone=phone,
                kind="invitation",
                body=body,
                timezone=timezone,
                now=max(campaign.starts_at or now, now),
                campaign_id=campaign.id,
                invitation_id=invitation_id,
            )
            is not None
        )
    session.commit()
    return queued


# -- a conversation -------------------------------------------------------------------------


@dataclass
class Conversation:
    """A number's open reply-mode invitation with what answering it needs."""

    invitation: Invitation
    campaign: Campaign
    version: QuestionnaireVersion
    questionnaire: Questionnaire
    questions: tuple[Item, ...]
    language: str
    response_id: int | None
    answers: dict[str, str | None]

    def current(self) -> tuple[int, Item] | None:
        """The question waiting for an answer, with its index; None when all are answered."""
        relevant = relevant_items(self.questionnaire, self.answers)
        for index, item in enumerate(self.questions):
            if item.name in relevant and self.answers.get(item.name) is None:
                return index, item
        return None


def open_conversation(
    session: Session, phone: str, now: datetime | None = None
) -> Conversation | None:
    """The open reply-mode invitation of ``phone``: the latest one sent, of a campaign that
    still accepts answers; None if there is none or its questionnaire does not fit."""
    now = now or utcnow()
    row = session.execute(
        select(Invitation, Campaign, QuestionnaireVersion, Customer.language)
        .join(Customer, Invitation.customer_id == Customer.id)
        .join(Campaign, Invitation.campaign_id == Campaign.id)
        .join(QuestionnaireVersion, Campaign.questionnaire_version_id == QuestionnaireVersion.id)
        .where(
            Customer.phone_e164 == phone,
            Invitation.channel == CHANNEL,
            Invitation.status.in_(ANSWERING),
            Campaign.status.in_(OPEN_CAMPAIGNS),
            or_(Campaign.expires_at.is_(None), Campaign.expires_at > now),
        )
        .order_by(Invitation.sent_at.desc().nulls_last(), Invitation.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    invitation, campaign, version, customer_language = row
    questionnaire = questionnaire_of(version)
    questions = reply_questions(questionnaire)
    response_id = session.execute(
        select(Response.id).where(Response.invitation_id == invitation.id)
    ).scalar_one_or_none()
    return Conversation(
        invitation=invitation,
        campaign=campaign,
        version=version,
        questionnaire=questionnaire,
        questions=questions,
        language=_language(questionnaire, customer_language),
        response_id=response_id,
        answers=stored_answers(session, response_id) if response_id is not None else {},
    )


@dataclass(frozen=True)
class ReplyTurn:
    """What a reply did: ``handled_as`` (answer, invalid, ignored) and the outbox rows queued."""

    handled_as: str
    outbox_ids: tuple[int, ...] = ()


def take_reply(
    session: Session,
    conversation: Conversation,
    reply: InboundReply,
    *,
    timezone: str,
    now: datetime | None = None,
    body: str | None = None,
) -> ReplyTurn:
    """Store a reply to the current question and queue what comes next (not committed).

    ``body`` is the message as received (``reply.text`` is normalised, case-folded): with
    a comment item, a reply's words are kept as written (see :func:`split_words`).
    """
    now = now or utcnow()
    current = conversation.current()
    if current is None:
        return ReplyTurn("ignored")  # answered already; a late or repeated reply
    index, item = current
    codes = offered_codes(item, conversation.questionnaire)
    value = str(reply.value) if reply.kind is ReplyKind.ANSWER else None
    comment = comment_item(conversation.questionnaire)
    words = None
    if comment is not None and reply.kind is ReplyKind.TEXT:
        value, words = split_words(body if body is not None else reply.text, codes)
    if value is None or value not in codes:
        if words:  # words without a rating: kept, and the number asked for once
            response_id = _response(session, conversation, now)
            _add_words(session, response_id, comment, words, now)
            _move_invitation(session, conversation, ("invited", "opened"), "started")
            text = reprompt(item, conversation.questionnaire, conversation.language, "words")
            queued = _queue(session, conversation, "reprompt", index, text, timezone, now)
            return ReplyTurn("comment", (queued,) if queued is not None else ())
        text = reprompt(item, conversation.questionnaire, conversation.language)
        queued = _queue(session, conversation, "reprompt", index, text, timezone, now)
        return ReplyTurn("invalid", (queued,)) if queued is not None else ReplyTurn("ignored")
    response_id = _response(session, conversation, now)
    session.add(Answer(response_id=response_id, item_name=item.name, value=value, answered_at=now))
    if words:
        _add_words(session, response_id, comment, words, now)
    conversation.answers[item.name] = value
    upcoming = conversation.current()
    if upcoming is not None:
        next_index, next_item = upcoming
        text = prompt(next_item, conversation.questionnaire, conversation.language)
        queued = _queue(session, conversation, "question", next_index, text, timezone, now)
        _move_invitation(session, conversation, ("invited", "opened"), "started")
    else:
        completed = session.execute(
            update(Response)
            .where(Response.id == response_id, Response.status == "in_progress")
            .values(status="completed", completed_at=now)
        ).rowcount
        if completed:  # service remedy, in the completion's transaction
            session.flush()  # the words, so the follow-up is opened on every answer
            open_follow_ups(session, response_id, now)
        _move_invitation(session, conversation, ANSWERING, "completed")
        text = _texts(conversation.language)["thanks"]
        queued = (
            _queue(session, conversation, "thanks", 0, text, timezone, now) if completed else None
        )
    return ReplyTurn("answer", (queued,) if queued is not None else ())


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def split_words(body: str, codes: Iterable[str]) -> tuple[str | None, str | None]:
    """A text reply's rating and words: ``("3", "等了太久，没解决")`` for "3 等了太久，没解决".

    The rating is a leading number that is one of ``codes`` (after NFKC: "３", "①" count);
    then the words are what follows it. Without one, the rating is None and the words are
    the whole message. A text without letters ("1 2", "??") is ``(None, None)``: a
    mistyped number, re-prompted as before.
    """
    text = body.strip()
    # NFKC char by char, to find the number, keeping where each character came from: the
    # words are stored as written (a full-width "，" stays one).
    normal, origin = [], []
    for index, ch in enumerate(text):
        for part in unicodedata.normalize("NFKC", ch):
            normal.append(part)
            origin.append(index)
    normalised = "".join(normal)
    start = 0
    while start < len(normalised) and not normalised[start].isalnum():
        start += 1
    match = _LEADING_NUMBER.fullmatch(normalised, start)
    if match is not None and match.group(1) in set(codes):
        at = match.start(2)
        rest = text[origin[at] :].strip() if at < len(origin) else ""
        if _has_words(rest):
            return match.group(1), rest
    return None, (text if _has_words(text) else None)


def _add_words(session: Session, response_id: int, comment: Item | None, words: str, now) -> None:
    """Keep a customer's words as an answer to the comment item (appended, never replacing)."""
    if comment is None:
        return
    session.add(Answer(response_id=response_id, item_name=comment.name, value=words,
                       answered_at=now))  # fmt: skip


def late_words(
    session: Session, phone: str, reply: InboundReply, body: str, now: datetime | None = None
) -> int | None:
    """Words sent after the rating ("3", then "等了半小时还没解决"): added to the number's
    latest completed conversation's response when its questionnaire has a comment item and
    it completed within :data:`LATE_WORDS_HOURS`. Returns its invitation's id, or None when
    the text belongs to no such conversation (then it is kept with the inbound message only).
    Not committed.
    """
    now = now or utcnow()
    if reply.kind is not ReplyKind.TEXT:
        return None
    row = session.execute(
        select(Invitation.id, Response.id, QuestionnaireVersion)
        .join(Customer, Invitation.customer_id == Customer.id)
        .join(Campaign, Invitation.campaign_id == Campaign.id)
        .join(Response, Response.invitation_id == Invitation.id)
        .join(QuestionnaireVersion, Response.questionnaire_version_id == QuestionnaireVersion.id)
        .where(
            Customer.phone_e164 == phone,
            Invitation.channel == CHANNEL,
            Invitation.status == "completed",
            Response.status == "completed",
            Response.completed_at >= now - timedelta(hours=LATE_WORDS_HOURS),
            Campaign.status.in_(OPEN_CAMPAIGNS),
            or_(Campaign.expires_at.is_(None), Campaign.expires_at > now),
        )
        .order_by(Response.completed_at.desc(), Invitation.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    invitation_id, response_id, version = row
    comment = comment_item(questionnaire_of(version))
    words = body.strip()
    if comment is None or not _has_words(words):
        return None
    _add_words(session, response_id, comment, words, now)
    return invitation_id


def _queue(session, conversation, kind, sequence, body, timezone, now) -> int | None:
    invitation = conversation.invitation
    phone = session.execute(
        select(Customer.phone_e164).where(Customer.id == invitation.customer_id)
    ).scalar_one()
    return queue(
        session,
        to_phone=phone,
        kind=kind,
        body=body,
        timezone=timezone,
        now=now,
        campaign_id=invitation.campaign_id,
        invitation_id=invitation.id,
        sequence=sequence,
    )


def _response(session: Session, conversation: Conversation, now: datetime) -> int:
    """The conversation's response, created by the first valid answer."""
    if conversation.response_id is None:
        invitation = conversation.invitation
        insert_once(
            session,
            Response,
            {
                "questionnaire_version_id": conversation.version.id,
                "campaign_id": invitation.campaign_id,
                "invitation_id": invitation.id,
                "customer_id": invitation.customer_id,
                "channel": CHANNEL,
                "language": conversation.language,
                "status": "in_progress",
                "started_at": now,
            },
        )
        # Two replies at once both insert; the unique invitation_id keeps one row for both.
        conversation.response_id = session.execute(
            select(Response.id).where(Response.invitation_id == invitation.id)
        ).scalar_one()
    return conversation.response_id


def _move_invitation(session, conversation, before, after) -> None:
    session.execute(
        update(Invitation)
        .where(Invitation.id == conversation.invitation.id, Invitation.status.in_(before))
        .values(status=after)
    )
