"""A response's contact: which call, visit or chat a reply to a programme is about.

A programme's invitation is created for one contact event, whose row keeps the
invitation's id (``contact_event.invitation_id``); the reply by SMS and the web response
both belong to that invitation, so Invitation -> contact_event joins every answer to the
contact's agent, team, queue and channel. :func:`contact_of_invitation` and
:func:`contact_of_response` read them (None for a response of an ordinary campaign);
the follow-up's call page and case page show them with :func:`customer_words`, the words
a customer wrote (a comment item's answers: see :mod:`survey.sms.reply_mode`).

What the contact was about: the contact centre may send ``attributes``; the keys in
:data:`ABOUT_KEYS` (``topic``, then ``summary``) are shown, the others are not (they may be
anything: ids of the CRM, flags), so a page never shows raw data nobody chose to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from survey.db.tables import Answer, ContactEvent, QuestionnaireVersion, Response
from survey.sms.reply_mode import COMMENT_ITEM

__all__ = [
    "ABOUT_KEYS",
    "CONTACT_CHANNEL_LABELS",
    "COMMENT_ITEM",
    "ContactView",
    "contact_of_invitation",
    "contact_of_response",
    "customer_words",
    "follow_up_context",
]

#: The attributes shown as what the contact was about, in this order, with their labels.
ABOUT_KEYS: dict[str, tuple[str, str]] = {
    "topic": ("主题", "topic"),
    "summary": ("摘要", "summary"),
}
#: The contact channels in words (zh, en); another channel is shown by its code.
CONTACT_CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "hotline": ("客服热线", "hotline call"),
    "hall": ("营业厅", "service hall visit"),
    "online": ("在线客服", "online chat"),
    "chat": ("在线客服", "online chat"),
    "app": ("手机营业厅", "mobile app"),
    "email": ("电子邮件", "email"),
    "social": ("社交媒体", "social media"),
}
_ABOUT_MAX = 500


@dataclass(frozen=True)
class ContactView:
    """One contact as the follow-up team sees it."""

    contact_id: str
    ended_at: datetime
    channel: str
    channel_words: tuple[str, str]
    agent_id: str | None
    team: str | None
    queue: str | None
    region: str | None
    service_hall: str | None
    #: (key, (zh, en) label, value) of the attributes in ABOUT_KEYS the contact carried.
    about: tuple[tuple[str, tuple[str, str], str], ...]


def _view(event: ContactEvent) -> ContactView:
    attributes = event.attributes if isinstance(event.attributes, dict) else {}
    about = []
    for key, words in ABOUT_KEYS.items():
        value = attributes.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        text = str(value).strip()
        if text:
            about.append((key, words, text[:_ABOUT_MAX]))
    return ContactView(
        contact_id=event.contact_id,
        ended_at=event.ended_at,
        channel=event.channel,
        channel_words=CONTACT_CHANNEL_LABELS.get(event.channel, (event.channel, event.channel)),
        agent_id=event.agent_id,
        team=event.team,
        queue=event.queue,
        region=event.region,
        service_hall=event.service_hall,
        about=tuple(about),
    )


def contact_of_invitation(session: Session, invitation_id: int | None) -> ContactView | None:
    """The contact an invitation was created for, or None (not a programme's invitation)."""
    if invitation_id is None:
        return None
    event = session.execute(
        select(ContactEvent).where(ContactEvent.invitation_id == invitation_id).limit(1)
    ).scalar_one_or_none()
    return _view(event) if event is not None else None


def contact_of_response(session: Session, response_id: int | None) -> ContactView | None:
    """The contact a response answers (through its invitation), or None."""
    if response_id is None:
        return None
    invitation_id = session.execute(
        select(Response.invitation_id).where(Response.id == response_id)
    ).scalar_one_or_none()
    return contact_of_invitation(session, invitation_id)


def customer_words(session: Session, response_id: int | None) -> list[tuple[datetime, str]]:
    """Every text the customer wrote to a response, oldest first: its comment item's answers
    (a reply's words, words sent after the rating, the web form's comment) and the answers
    of its other text items. Nothing is dropped: a later text does not replace an earlier."""
    if response_id is None:
        return []
    document = session.execute(
        select(QuestionnaireVersion.document)
        .join(Response, Response.questionnaire_version_id == QuestionnaireVersion.id)
        .where(Response.id == response_id)
    ).scalar_one_or_none()
    items = (document or {}).get("items", []) if isinstance(document, dict) else []
    texts = {i.get("name") for i in items if isinstance(i, dict) and i.get("type") == "text"}
    texts.add(COMMENT_ITEM)
    rows = session.execute(
        select(Answer.answered_at, Answer.value)
        .where(Answer.response_id == response_id, Answer.item_name.in_(sorted(texts)))
        .order_by(Answer.id)
    ).all()
    return [(at, value) for at, value in rows if value not in (None, "")]


def follow_up_context(session: Session, response_id: int | None, timezone: str) -> dict:
    """What the follow-up pages show of a response's contact and words, ready for a
    template: ``contact`` (None when the response answers no contact) with ``ended`` on the
    wall clock of ``timezone`` (``YYYY-MM-DD HH:MM``), ``channel`` in words (zh, en),
    ``agent``, ``team``, ``queue`` and ``about`` ((zh, en) label, text); and ``words``, the
    customer's texts (``at`` local time, ``text``), oldest first."""
    zone = ZoneInfo(timezone)
    view = contact_of_response(session, response_id)
    contact = None
    if view is not None:
        contact = {
            "contact_id": view.contact_id,
            "ended": view.ended_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "channel": view.channel_words,
            "agent": view.agent_id,
            "team": view.team,
            "queue": view.queue,
            "about": [(words, text) for _, words, text in view.about],
        }
    words = [
        {"at": at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "", "text": text}
        for at, text in customer_words(session, response_id)
    ]
    return {"contact": contact, "words": words}
