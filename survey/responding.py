"""Answering a questionnaire through an invitation link: pages, skip logic, saving, completion.

The web form (``api.routers.respondent``) is a thin shell around this module:

- :func:`open_link` turns a link token into the invitation, its campaign and the questionnaire
  version the campaign uses; an unknown token, an expired or closed campaign and an invitation
  that may not answer all raise the same :class:`LinkUnavailable`, so that a token cannot be
  probed.
- :func:`build_pages` cuts the questionnaire into pages for the campaign's layout.
- :func:`relevant_items` applies skip logic to the answers stored so far (the latest row per
  item); an answer to an item that is no longer relevant is ignored, never deleted.
- :func:`validate_page` checks a posted page and returns the codes to store or per-field errors.
- :func:`save_page` appends the page's answers in one transaction, and completes the response
  when asked to, at most once however many times the last page is posted.

Answers are append-only (the database refuses an UPDATE): a changed answer is a new row and the
latest row per (response, item) counts. A blank answer to a question shown on a page is stored as
a row with a NULL value, so that clearing an answer is recorded and a page seen is known to have
been seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from .campaigns import token_hash
from .publish import load_version
from .questionnaire import Item, Questionnaire
from .tables import (
    Answer,
    Campaign,
    Customer,
    Invitation,
    QuestionnaireVersion,
    Response,
    utcnow,
)

LAYOUTS = ("grouped", "single")
#: Who answers: web and SMS respondents see only the missing codes offered to them; the
#: interviewer-only codes (refused, don't know) are for CATI and intercept interviews.
RESPONDENT = "respondent"
INTERVIEWER = "interviewer"
#: Channels a response to the web form through an invitation link is recorded under; any
#: other invitation channel (an SMS-reply invitation whose customer found the link) counts
#: as the web link, because that is how the answers came in.
WEB_CHANNELS = ("sms_link", "web_link")
#: The longest text answer kept (characters); longer input is refused with a field error.
TEXT_MAX = 2000
#: Invitation states that may still open and answer the questionnaire.
OPEN_INVITATIONS = ("created", "invited", "opened", "started")
#: Campaign states during which the link works (a paused campaign stops sending, not answering).
OPEN_CAMPAIGNS = ("running", "paused")


class LinkUnavailable(LookupError):
    """The link is unknown, expired, closed or already used.

    Deliberately one exception for every case: the page shown for it must not tell them apart.
    """


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """Some consecutive items shown together; ``number`` counts from 1."""

    number: int
    items: tuple[Item, ...]
    #: The construct the page asks about (grouped layout), or None.
    construct: str | None = None

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)


def build_pages(questionnaire: Questionnaire, layout: str) -> tuple[Page, ...]:
    """The questionnaire's pages for a campaign layout.

    ``"single"``: one item per page. ``"grouped"``: consecutive items of one construct share a
    page; consecutive items without a construct share a small page of their own. In both, an
    item whose skip logic depends on an item of the page being built starts a new page, because
    a page without JavaScript cannot show or hide a question as the one above it is answered.
    Questionnaire order is kept (skip logic only looks back), so a construct whose items are
    not adjacent gets one page per run of items.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: use {' or '.join(LAYOUTS)}")
    groups: list[list[Item]] = []
    for item in questionnaire.items:
        current = groups[-1] if groups else None
        if (
            current is None
            or layout == "single"
            or item.construct != current[0].construct
            or (item.relevant is not None and item.relevant.references & {i.name for i in current})
        ):
            groups.append([item])
        else:
            current.append(item)
    return tuple(
        Page(number, tuple(items), items[0].construct)
        for number, items in enumerate(groups, start=1)
    )


# -- answers and skip logic ------------------------------------------------------------------


def latest_answers(rows: Iterable[tuple[str, str | None]]) -> dict[str, str | None]:
    """The latest stored value per item from ``(item_name, value)`` rows in insertion order.

    An item with a row whose value is None was shown and left blank (or cleared).
    """
    latest: dict[str, str | None] = {}
    for name, value in rows:
        latest[name] = value
    return latest


def stored_answers(session: Session, response_id: int) -> dict[str, str | None]:
    """The latest value per item of one response (the append-only log read in id order)."""
    rows = session.execute(
        select(Answer.item_name, Answer.value)
        .where(Answer.response_id == response_id)
        .order_by(Answer.id)
    ).all()
    return latest_answers((name, value) for name, value in rows)


def decode(item: Item, value: str | None) -> Any:
    """A stored value as the form shows it: a list of codes for multiple choice, else text."""
    if value is None:
        return [] if item.type == "multiple" else None
    if item.type == "multiple":
        try:
            codes = json.loads(value)
        except ValueError:
            return []
        return [str(code) for code in codes] if isinstance(codes, list) else []
    return value


def _for_skip_logic(item: Item, value: str | None) -> Any:
    """A stored value as skip logic sees it: missing codes ("cannot answer") are empty."""
    decoded = decode(item, value)
    if item.type == "multiple":
        return [code for code in decoded if not item.is_missing_code(code)]
    if decoded is None or item.is_missing_code(decoded):
        return None
    return decoded


def relevant_items(
    questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> frozenset[str]:
    """Names of the items to ask given the stored answers, in one pass in questionnaire order.

    An item that is not relevant does not count as answered for the items after it, whatever
    was stored for it before (a customer who went back and changed the answer that led to it).
    """
    relevant: set[str] = set()
    context: dict[str, Any] = {}
    for item in questionnaire.items:
        if item.relevant is not None and not item.relevant.evaluate(context):
            continue
        relevant.add(item.name)
        if item.name in answers:
            context[item.name] = _for_skip_logic(item, answers[item.name])
    return frozenset(relevant)


def shown_items(page: Page, relevant: frozenset[str]) -> tuple[Item, ...]:
    return tuple(item for item in page.items if item.name in relevant)


def visible_pages(pages: Sequence[Page], relevant: frozenset[str]) -> list[Page]:
    """The pages with at least one question to ask."""
    return [page for page in pages if shown_items(page, relevant)]


def is_answered(value: str | None) -> bool:
    return value is not None and value != "" and value != "[]"


def unanswered_required(
    questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> list[str]:
    """Required relevant items without an answer ("cannot answer" is an answer)."""
    relevant = relevant_items(questionnaire, answers)
    return [
        item.name
        for item in questionnaire.items
        if item.required and item.name in relevant and not is_answered(answers.get(item.name))
    ]


def resume_page(
    pages: Sequence[Page], questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> Page:
    """Where a customer who opens the link again continues.

    The first visible page with a required relevant item still unanswered, or with a
    relevant item never shown (no row at all: a page of optional questions not reached yet);
    when every page has been answered, the last page, whose button completes the response.
    """
    relevant = relevant_items(questionnaire, answers)
    visible = visible_pages(pages, relevant)
    for page in visible:
        for item in shown_items(page, relevant):
            if item.name not in answers or (item.required and not is_answered(answers[item.name])):
                return page
    # An item without skip logic is always relevant, so only a questionnaire whose every item
    # is conditional can leave no visible page: its first page is then the honest answer.
    return visible[-1] if visible else pages[0]


def next_page(pages: Sequence[Page], after: Page, relevant: frozenset[str]) -> Page | None:
    """The first visible page after ``after``, or None when ``after`` is the last one."""
    return next((p for p in visible_pages(pages, relevant) if p.number > after.number), None)


def previous_page(pages: Sequence[Page], before: Page, relevant: frozenset[str]) -> Page | None:
    earlier = [p for p in visible_pages(pages, relevant) if p.number < before.number]
    return earlier[-1] if earlier else None


# -- validation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why a posted answer was refused; ``code`` is translated by the page that shows it.

    Codes: ``required`` (no answer), ``invalid_choice`` (a value that is not one of the item's
    options), ``too_long`` (text over :data:`TEXT_MAX`), ``exclusive_missing`` ("cannot answer"
    ticked together with other options).
    """

    item: str
    code: str


@dataclass(frozen=True, slots=True)
class PageCheck:
    """A posted page: the values to store (None for blank) and the refused fields."""

    values: dict[str, str | None]
    errors: dict[str, FieldError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def offered_codes(
    item: Item, questionnaire: Questionnaire, mode: str = RESPONDENT
) -> tuple[str, ...]:
    """The codes a respondent may choose for an item, in the order they are shown."""
    if item.type == "nps":
        return tuple(str(n) for n in range(11))
    if item.choices is None:
        return ()
    return tuple(choice.name for choice in offered_choices(item, questionnaire, mode))


def offered_choices(item: Item, questionnaire: Questionnaire, mode: str = RESPONDENT) -> tuple:
    """The item's choices offered in ``mode``: missing codes only where their mode allows."""
    if item.choices is None:
        return ()
    return tuple(
        choice
        for choice in item.choices.choices
        if choice.missing is None
        or (
            choice.missing in questionnaire.missing_codes
            and mode in questionnaire.missing_codes[choice.missing].modes
        )
    )


def validate_page(
    questionnaire: Questionnaire,
    items: Sequence[Item],
    posted: Mapping[str, Sequence[str]],
    mode: str = RESPONDENT,
) -> PageCheck:
    """Check the posted answers to the items shown on a page.

    ``posted`` maps a field name to its values as the browser sent them (several for
    checkboxes). Fields that are not items of the page are ignored.
    """
    values: dict[str, str | None] = {}
    errors: dict[str, FieldError] = {}
    for item in items:
        raw = [v for v in posted.get(item.name, ()) if v is not None]
        value, error = _check(item, raw, offered_codes(item, questionnaire, mode))
        values[item.name] = value
        if error is None and item.required and not is_answered(value):
            error = "required"
        if error is not None:
            errors[item.name] = FieldError(item.name, error)
    return PageCheck(values, errors)


def _check(item: Item, raw: list[str], codes: tuple[str, ...]) -> tuple[str | None, str | None]:
    if item.type == "text":
        text = raw[0].strip() if raw else ""
        # Browsers send line breaks as CRLF; one stored form keeps lengths honest.
        text = text.replace("\r\n", "\n")
        if len(text) > TEXT_MAX:
            return text, "too_long"
        return (text or None), None
    if item.type == "multiple":
        chosen = set(raw)
        if not chosen <= set(codes):
            return None, "invalid_choice"
        ordered = [code for code in codes if code in chosen]
        if len(ordered) > 1 and any(item.is_missing_code(code) for code in ordered):
            return json.dumps(ordered), "exclusive_missing"
        return (json.dumps(ordered) if ordered else None), None
    if not raw or raw[0] == "":
        return None, None
    if len(raw) > 1 or raw[0] not in codes:
        return None, "invalid_choice"
    return raw[0], None


# -- links, responses, saving ----------------------------------------------------------------


_PARSED: dict[str, Questionnaire] = {}


def questionnaire_of(version: QuestionnaireVersion) -> Questionnaire:
    """The questionnaire of a stored version, parsed once per content.

    Published versions never change (the database refuses it) and a parsed questionnaire is
    frozen, so sharing it between requests is safe; keyed by content hash, bounded in size.
    """
    parsed = _PARSED.get(version.content_hash)
    if parsed is None:
        parsed = load_version(version)
        if len(_PARSED) < 64:
            _PARSED[version.content_hash] = parsed
    return parsed


@dataclass(slots=True)
class Link:
    """A response being answered, with what answering it needs.

    Opened by a customer through an invitation link (:func:`open_link`), or by an interviewer
    who started an intercept interview (``invitation`` None, ``mode`` interviewer; see
    :mod:`survey.intercept`). ``token`` is what the page addresses carry.
    """

    token: str
    invitation: Invitation | None
    campaign: Campaign
    version: QuestionnaireVersion
    questionnaire: Questionnaire
    pages: tuple[Page, ...]
    #: The customer's language, or the questionnaire's default.
    customer_language: str
    response: Response | None
    answers: dict[str, str | None]
    #: Which missing codes are offered: :data:`RESPONDENT` or :data:`INTERVIEWER`.
    mode: str = RESPONDENT

    @property
    def completed(self) -> bool:
        return self.response is not None and self.response.status == "completed"

    @property
    def language(self) -> str:
        """The language the customer reads: chosen for the response, else the customer's."""
        if self.response is not None and self.response.language in self.questionnaire.languages:
            return self.response.language
        return self.customer_language

    @property
    def relevant(self) -> frozenset[str]:
        return relevant_items(self.questionnaire, self.answers)

    def page(self, number: int) -> Page | None:
        return self.pages[number - 1] if 1 <= number <= len(self.pages) else None


def open_link(session: Session, token: str, now: datetime | None = None) -> Link:
    """Resolve a link token; raise :class:`LinkUnavailable` when it cannot be answered.

    A completed response is returned (``link.completed``): the caller decides what a used link
    shows. Unknown tokens, closed or expired campaigns and invitations that may not answer
    (opted out, no consent, expired) all raise the same exception.
    """
    now = now or utcnow()
    if not token or len(token) > 64:
        raise LinkUnavailable
    row = session.execute(
        select(Invitation, Campaign, QuestionnaireVersion, Customer.language)
        .join(Campaign, Invitation.campaign_id == Campaign.id)
        .join(QuestionnaireVersion, Campaign.questionnaire_version_id == QuestionnaireVersion.id)
        .join(Customer, Invitation.customer_id == Customer.id)
        .where(Invitation.token_hash == token_hash(token))
    ).first()
    if row is None:
        raise LinkUnavailable
    invitation, campaign, version, customer_language = row
    response = session.execute(
        select(Response).where(Response.invitation_id == invitation.id)
    ).scalar_one_or_none()
    completed = response is not None and response.status == "completed"
    if not completed and (
        invitation.status not in OPEN_INVITATIONS
        or campaign.status not in OPEN_CAMPAIGNS
        or (campaign.expires_at is not None and now >= campaign.expires_at)
    ):
        raise LinkUnavailable
    questionnaire = questionnaire_of(version)
    language = (
        customer_language
        if customer_language in questionnaire.languages
        else questionnaire.default_language
    )
    layout = campaign.layout if campaign.layout in LAYOUTS else "grouped"
    return Link(
        token=token,
        invitation=invitation,
        campaign=campaign,
        version=version,
        questionnaire=questionnaire,
        pages=build_pages(questionnaire, layout),
        customer_language=language,
        response=response,
        answers=stored_answers(session, response.id) if response is not None else {},
    )


def mark_opened(session: Session, link: Link) -> None:
    """Record that the link was opened (created/invited -> opened), once."""
    if link.invitation is not None and link.invitation.status in ("created", "invited"):
        session.execute(
            update(Invitation)
            .where(
                Invitation.id == link.invitation.id, Invitation.status.in_(("created", "invited"))
            )
            .values(status="opened")
        )
        session.commit()


def remember_language(session: Session, link: Link, language: str) -> None:
    """Keep the language a customer switched to for the rest of the response."""
    if language not in link.questionnaire.languages or link.response is None:
        return
    if link.response.language != language and link.response.status == "in_progress":
        session.execute(
            update(Response)
            .where(Response.id == link.response.id, Response.status == "in_progress")
            .values(language=language)
        )
        session.commit()
        link.response.language = language


def _response_for(session: Session, link: Link, language: str, now: datetime) -> int:
    """The response's id, created on the first saved page.

    Two first pages posted at once (a double tap) both try to insert; the unique invitation_id
    lets one win and the other read the winner's row.
    """
    if link.response is not None:
        return int(link.response.id)
    if link.invitation is None:
        raise ValueError("a link without an invitation needs its response created first")
    channel = link.invitation.channel
    values = {
        "questionnaire_version_id": link.version.id,
        "campaign_id": link.campaign.id,
        "invitation_id": link.invitation.id,
        "customer_id": link.invitation.customer_id,
        "channel": channel if channel in WEB_CHANNELS else "web_link",
        "language": language,
        "status": "in_progress",
        "started_at": now,
    }
    try:
        session.execute(insert(Response).values(**values))
        session.commit()
    except IntegrityError:
        session.rollback()
    return int(
        session.execute(
            select(Response.id).where(Response.invitation_id == link.invitation.id)
        ).scalar_one()
    )


def save_page(
    session: Session,
    link: Link,
    values: Mapping[str, str | None],
    *,
    language: str,
    complete: bool,
    now: datetime | None = None,
) -> bool:
    """Append a page's answers and, with ``complete``, complete the response; one commit.

    Only values that differ from the stored latest ones are appended (a re-posted page adds
    nothing new). On completion, answers to items that skip logic now leaves out get a NULL row:
    the log keeps what was said, and "the latest row per item" no longer counts it.

    Returns False, storing nothing, when the response was already completed (the second tap of
    a double tap, or an old tab): the conditional UPDATE on the response's status is the guard,
    taken first so that it also holds the row while the answers are written.
    """
    now = now or utcnow()
    if language not in link.questionnaire.languages:
        language = link.language
    response_id = _response_for(session, link, language, now)
    answers = dict(link.answers)
    answers.update(values)
    changes: dict[str, Any] = {"language": language}
    if complete:
        changes |= {"status": "completed", "completed_at": now}
    claimed = session.execute(
        update(Response)
        .where(Response.id == response_id, Response.status == "in_progress")
        .values(**changes)
    )
    if claimed.rowcount != 1:
        session.rollback()
        return False
    rows = [
        {"response_id": response_id, "item_name": name, "value": value, "answered_at": now}
        for name, value in values.items()
        if name not in link.answers or link.answers[name] != value
    ]
    if complete:
        relevant = relevant_items(link.questionnaire, answers)
        rows += [
            {"response_id": response_id, "item_name": name, "value": None, "answered_at": now}
            for name in link.questionnaire.item_names
            if name not in relevant and answers.get(name) is not None
        ]
    if rows:
        session.execute(insert(Answer), rows)
    if link.invitation is not None:
        status, before = (
            ("completed", OPEN_INVITATIONS)
            if complete
            else ("started", ("created", "invited", "opened"))
        )
        session.execute(
            update(Invitation)
            .where(Invitation.id == link.invitation.id, Invitation.status.in_(before))
            .values(status=status)
        )
    # The one commit: the page that acknowledges these answers is sent only after it.
    session.commit()
    return True
