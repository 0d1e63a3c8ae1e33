"""Answering a questionnaire through an invitation link: pages, skip logic, saving, completion.

The questionnaire pages (``api.web.answering_pages``) are a thin shell around this module:

- :func:`open_link` turns a link token into the invitation, its campaign and the questionnaire
  version the campaign uses; an unknown token, an expired or closed campaign and an invitation
  that may not answer all raise the same :class:`LinkUnavailable`, so that a token cannot be
  probed.
- :func:`build_pages` cuts the questionnaire into pages for the campaign's layout.
- :func:`relevant_items` applies skip logic to the answers stored so far (the latest row per
  item); an answer to an item that is no longer relevant is ignored, never deleted.
- :func:`validate_page` checks a posted page and returns the codes to store or per-field errors.
- :func:`plan_page` (what to write, pure) then :func:`apply_page` (the statements, no commit)
  save a page's answers, and complete the response when asked to, at most once however many
  times the last page is posted; a caller may commit several pages at once
  (:mod:`survey.db.group_commit`). :func:`survey.answering.submit.submit_page` is the one
  function that posts a page through them.

Answers are append-only (the database refuses an UPDATE): a changed answer is a new row and the
latest row per (response, item) counts. A blank answer to a question shown on a page is stored as
a row with a NULL value, so that clearing an answer is recorded and a page seen is known to have
been seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from survey.answering.links import token_hash
from survey.db.raw_sql import RawStatement
from survey.db.tables import (
    Answer,
    Campaign,
    Customer,
    Invitation,
    QuestionnaireVersion,
    Response,
    utcnow,
)
from survey.errors import NotFound
from survey.questionnaire import Item, Questionnaire
from survey.questionnaire.publish import load_version
from survey.remedy.rules import open_follow_ups

K = TypeVar("K")
V = TypeVar("V")

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


class LinkUnavailable(NotFound):
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


_ANSWER = Answer.__table__.c
_STORED_ANSWERS = RawStatement(
    select(_ANSWER.item_name, _ANSWER.value)
    .where(_ANSWER.response_id == bindparam("response_id"))
    .order_by(_ANSWER.id)
)


def stored_answers(session: Session, response_id: int) -> dict[str, str | None]:
    """The latest value per item of one response (the append-only log read in id order)."""
    return _stored_answers(session.connection(), response_id)


def _stored_answers(connection: Connection, response_id: int) -> dict[str, str | None]:
    return latest_answers(_STORED_ANSWERS.rows(connection, {"response_id": response_id}))


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


def _remember(cache: dict[K, V], key: K, limit: int, compute: Callable[[], V]) -> V:
    """``cache[key]``, computed on a miss and kept while the cache holds fewer than ``limit``."""
    found = cache.get(key)
    if found is None:
        found = compute()
        if len(cache) < limit:
            cache[key] = found
    return found


_ABSENT = object()


def relevant_items(
    questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> frozenset[str]:
    """Names of the items to ask given the stored answers, in one pass in questionnaire order.

    An item that is not relevant does not count as answered for the items after it, whatever
    was stored for it before (a customer who went back and changed the answer that led to it).

    The result depends only on the answers to the items that some condition names, so it is
    remembered with the questionnaire (its ``memo``) by those answers: most customers give
    the same few answers to the filter questions.
    """
    entry = questionnaire.memo.get("skip_logic")
    if entry is None:
        entry = questionnaire.memo["skip_logic"] = _skip_logic_entry(questionnaire)
    inputs, known = entry
    key = tuple(answers.get(name, _ABSENT) for name in inputs)
    return _remember(known, key, 4096, lambda: _relevant_items(questionnaire, answers))


def _skip_logic_entry(questionnaire: Questionnaire):
    named = set().union(*(i.relevant.references for i in questionnaire.items if i.relevant))
    inputs = tuple(name for name in questionnaire.item_names if name in named)
    return inputs, {}


def _relevant_items(
    questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> frozenset[str]:
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
    questionnaire: Questionnaire,
    answers: Mapping[str, str | None],
    relevant: frozenset[str] | None = None,
) -> list[str]:
    """Required relevant items without an answer ("cannot answer" is an answer).

    ``relevant``: :func:`relevant_items` of ``answers``, when the caller has it already.
    """
    if relevant is None:
        relevant = relevant_items(questionnaire, answers)
    return [
        item.name
        for item in questionnaire.items
        if item.required and item.name in relevant and not is_answered(answers.get(item.name))
    ]


def resume_page(
    pages: Sequence[Page],
    questionnaire: Questionnaire,
    answers: Mapping[str, str | None],
    relevant: frozenset[str] | None = None,
) -> Page:
    """Where a customer who opens the link again continues.

    The first visible page with a required relevant item still unanswered, or with a
    relevant item never shown (no row at all: a page of optional questions not reached yet);
    when every page has been answered, the last page, whose button completes the response.
    ``relevant``: :func:`relevant_items` of ``answers``, when the caller has it already.
    """
    if relevant is None:
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
    return next((p for p in pages if p.number > after.number and shown_items(p, relevant)), None)


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
#
# The hot path of a submission (read_link, then submit_page) uses prebuilt Core statements on the
# tables, not ORM queries: building an ORM statement per request (coercions, cache keys) cost
# more than running it. Statements built once at import are compiled once per dialect.

_PARSED: dict[str, Questionnaire] = {}
_PAGES: dict[tuple[str, str], tuple[Page, ...]] = {}


def questionnaire_of(version: QuestionnaireVersion) -> Questionnaire:
    """The questionnaire of a stored version, parsed once per content.

    Published versions never change (the database refuses it) and a parsed questionnaire is
    frozen, so sharing it between requests is safe; keyed by content hash, bounded in size.
    """
    return _remember(_PARSED, version.content_hash, 64, lambda: load_version(version))


def _questionnaire(connection: Connection, version_id: int, content_hash: str) -> Questionnaire:
    """The parsed questionnaire of a version, reading its (large) document only on a miss."""
    parsed = _PARSED.get(content_hash)
    if parsed is None:
        # A session joined to the connection's transaction, only to load the ORM row.
        with Session(bind=connection) as session:
            version = session.get(QuestionnaireVersion, version_id)
            if version is None:
                raise LinkUnavailable
            parsed = questionnaire_of(version)
    return parsed


def pages_of(questionnaire: Questionnaire, content_hash: str, layout: str) -> tuple[Page, ...]:
    """:func:`build_pages`, once per questionnaire content and layout (pages are frozen)."""
    key = (content_hash, layout)
    return _remember(_PAGES, key, 128, lambda: build_pages(questionnaire, layout))


# What answering needs of the rows behind a link, read in one statement. An intercept interview
# (survey.answering.intercept) fills the same attributes from its ORM rows.


@dataclass(slots=True)
class InvitationState:
    id: int
    customer_id: int
    channel: str
    status: str


@dataclass(slots=True)
class CampaignState:
    id: int
    status: str
    layout: str
    expires_at: datetime | None


@dataclass(slots=True)
class VersionState:
    id: int
    content_hash: str


@dataclass(slots=True)
class ResponseState:
    id: int
    status: str
    language: str
    interviewer: str | None = None
    service_hall: str | None = None


@dataclass(slots=True)
class Link:
    """A response being answered, with what answering it needs.

    Opened by a customer through an invitation link (:func:`open_link`), or by an interviewer
    who started an intercept interview (``invitation`` None, ``mode`` interviewer; see
    :mod:`survey.answering.intercept`). ``token`` is what the page addresses carry.
    """

    token: str
    invitation: InvitationState | Invitation | None
    campaign: CampaignState | Campaign
    version: VersionState | QuestionnaireVersion
    questionnaire: Questionnaire
    pages: tuple[Page, ...]
    #: The customer's language, or the questionnaire's default.
    customer_language: str
    response: ResponseState | Response | None
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

    def language_for(self, wanted: str | None) -> str:
        """``wanted`` if the questionnaire has it (a switch, a posted page), else
        :attr:`language`."""
        return wanted if wanted in self.questionnaire.languages else self.language

    @property
    def relevant(self) -> frozenset[str]:
        return relevant_items(self.questionnaire, self.answers)

    def page(self, number: int) -> Page | None:
        return self.pages[number - 1] if 1 <= number <= len(self.pages) else None


_INVITATION, _CAMPAIGN = Invitation.__table__.c, Campaign.__table__.c
_VERSION, _CUSTOMER, _RESPONSE = (
    QuestionnaireVersion.__table__.c,
    Customer.__table__.c,
    Response.__table__.c,
)
# One statement for everything a link needs, without the version's document (the parsed
# questionnaire is cached by content hash); the response, if any, by an outer join.
_OPEN_LINK = RawStatement(
    select(
        _INVITATION.id,
        _INVITATION.customer_id,
        _INVITATION.channel,
        _INVITATION.status,
        _CAMPAIGN.id,
        _CAMPAIGN.status,
        _CAMPAIGN.layout,
        _CAMPAIGN.expires_at,
        _VERSION.id,
        _VERSION.content_hash,
        _CUSTOMER.language,
        _RESPONSE.id,
        _RESPONSE.status,
        _RESPONSE.language,
    )
    .select_from(
        Invitation.__table__.join(Campaign.__table__, _INVITATION.campaign_id == _CAMPAIGN.id)
        .join(QuestionnaireVersion.__table__, _CAMPAIGN.questionnaire_version_id == _VERSION.id)
        .join(Customer.__table__, _INVITATION.customer_id == _CUSTOMER.id)
        .outerjoin(Response.__table__, _RESPONSE.invitation_id == _INVITATION.id)
    )
    .where(_INVITATION.token_hash == bindparam("token_hash"))
)


def open_link(session: Session, token: str, now: datetime | None = None) -> Link:
    """Resolve a link token; raise :class:`LinkUnavailable` when it cannot be answered.

    A completed response is returned (``link.completed``): the caller decides what a used link
    shows. Unknown tokens, closed or expired campaigns and invitations that may not answer
    (opted out, no consent, expired) all raise the same exception.
    """
    return read_link(session.connection(), token, now)


def read_link(connection: Connection, token: str, now: datetime | None = None) -> Link:
    """:func:`open_link` on a connection, in its transaction (e.g. a group commit's batch)."""
    now = now or utcnow()
    if not token or len(token) > 64:
        raise LinkUnavailable
    row = _OPEN_LINK.first(connection, {"token_hash": token_hash(token)})
    if row is None:
        raise LinkUnavailable
    invitation = InvitationState(*row[0:4])
    campaign = CampaignState(*row[4:8])
    version = VersionState(*row[8:10])
    customer_language = row[10]
    response = ResponseState(*row[11:14]) if row[11] is not None else None
    completed = response is not None and response.status == "completed"
    if not completed and (
        invitation.status not in OPEN_INVITATIONS
        or campaign.status not in OPEN_CAMPAIGNS
        or (campaign.expires_at is not None and now >= campaign.expires_at)
    ):
        raise LinkUnavailable
    questionnaire = _questionnaire(connection, version.id, version.content_hash)
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
        pages=pages_of(questionnaire, version.content_hash, layout),
        customer_language=language,
        response=response,
        answers=_stored_answers(connection, response.id) if response is not None else {},
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


@dataclass(frozen=True, slots=True)
class PageWrite:
    """What saving one page writes: computed from the link alone, applied by :func:`apply_page`.

    ``response_id`` is None for a link's first page: the response is then created with it.
    """

    response_id: int | None
    #: The columns of a response created with this page (its first).
    new_response: dict[str, Any]
    #: The response's new language, and status and completion time when completing.
    changes: dict[str, Any]
    #: Answer rows without their response id (known only once the response exists).
    answers: tuple[dict[str, Any], ...]
    invitation_id: int | None
    #: The invitation's new status ("started", "completed"), or None: nothing to move.
    invitation_status: str | None


def plan_page(
    link: Link,
    values: Mapping[str, str | None],
    *,
    language: str,
    complete: bool,
    now: datetime | None = None,
    relevant: frozenset[str] | None = None,
) -> PageWrite:
    """What saving a page writes (see :func:`apply_page`); reads nothing.

    ``relevant``: :func:`relevant_items` of the answers with this page's, when the caller
    has it already (completing clears the answers skip logic now leaves out).
    """
    now = now or utcnow()
    language = link.language_for(language)
    answers = dict(link.answers)
    answers.update(values)
    changes: dict[str, Any] = {"language": language}
    if complete:
        changes |= {"status": "completed", "completed_at": now}
    rows = [
        {"item_name": name, "value": value, "answered_at": now}
        for name, value in values.items()
        if name not in link.answers or link.answers[name] != value
    ]
    if complete:
        if relevant is None:
            relevant = relevant_items(link.questionnaire, answers)
        rows += [
            {"item_name": name, "value": None, "answered_at": now}
            for name in link.questionnaire.item_names
            if name not in relevant and answers.get(name) is not None
        ]
    invitation = link.invitation
    new_response: dict[str, Any] = {}
    invitation_status = None
    if invitation is not None:
        if link.response is None:
            new_response = {
                "questionnaire_version_id": link.version.id,
                "campaign_id": link.campaign.id,
                "invitation_id": invitation.id,
                "customer_id": invitation.customer_id,
                "channel": invitation.channel if invitation.channel in WEB_CHANNELS else "web_link",
                "status": "in_progress",
                "started_at": now,
                "completed_at": None,
                **changes,
            }
        if complete:
            invitation_status = "completed"
        elif invitation.status != "started":
            # An invitation read as started can only be started or later: nothing to move.
            invitation_status = "started"
    elif link.response is None:
        raise ValueError("a link without an invitation needs its response created first")
    return PageWrite(
        response_id=int(link.response.id) if link.response is not None else None,
        new_response=new_response,
        changes=changes,
        answers=tuple(rows),
        invitation_id=invitation.id if invitation is not None else None,
        invitation_status=invitation_status,
    )


# The statements of a saved page, on the driver's cursor (survey.db.raw_sql): they are the hot path.
_RESPONSE_OF_INVITATION = RawStatement(
    select(_RESPONSE.id).where(_RESPONSE.invitation_id == bindparam("invitation_id"))
)
# Inline: the answers' ids are not wanted back (no RETURNING on PostgreSQL).
_INSERT_ANSWERS = RawStatement(insert(Answer.__table__).inline())
# The two moves a saved page makes. OR-ed equalities rather than IN: SQLAlchemy expands an IN
# list at every execution, these compile once.
_INVITATION_MOVES = {
    "started": ("created", "invited", "opened"),
    "completed": OPEN_INVITATIONS,
}
_MOVE_INVITATION = {
    status: RawStatement(
        update(Invitation.__table__)
        .where(
            _INVITATION.id == bindparam("invitation_id"),
            or_(*(_INVITATION.status == before for before in moves_from)),
        )
        .values(status=status)
    )
    for status, moves_from in _INVITATION_MOVES.items()
}


def _claim_response(changes: Mapping[str, Any]) -> RawStatement:
    return RawStatement(
        update(Response.__table__)
        .where(_RESPONSE.id == bindparam("response_id"), _RESPONSE.status == "in_progress")
        .values({key: bindparam(f"new_{key}") for key in changes})
    )


# Keyed by whether the page completes the response.
_CLAIM = {
    False: _claim_response({"language": None}),
    True: _claim_response({"language": None, "status": None, "completed_at": None}),
}


def _create_response(dialect: str) -> RawStatement:
    # ON CONFLICT DO NOTHING: a double tap racing on a first page finds the other tap's row
    # without an error, so the transaction (and a group commit's batch) stays usable.
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return RawStatement(
        dialect_insert(Response.__table__)
        .on_conflict_do_nothing(index_elements=["invitation_id"])
        .returning(_RESPONSE.id)
    )


_CREATE_RESPONSE = {name: _create_response(name) for name in ("postgresql", "sqlite")}


def apply_page(connection: Connection, write: PageWrite) -> bool:
    """Run a page's statements in the connection's transaction; the caller commits.

    Returns False, writing nothing, when the response was already completed (the second tap of
    a double tap, or an old tab): the conditional UPDATE on the response's status is the guard,
    taken first so that it also holds the row while the answers are written.
    """
    response_id = write.response_id
    created = False
    if response_id is None:
        row = _CREATE_RESPONSE[connection.dialect.name].first(connection, write.new_response)
        # Created here, with the page's status and language: nobody can have completed it.
        created = row is not None
        if created:
            response_id = row[0]
        else:
            # Another tap created it first: claim it like any existing response.
            (response_id,) = _RESPONSE_OF_INVITATION.rows(
                connection, {"invitation_id": write.invitation_id}
            )[0]
    if not created:
        claim = _CLAIM["status" in write.changes]
        params = {f"new_{key}": value for key, value in write.changes.items()}
        claimed = claim.execute(connection, {"response_id": response_id, **params})
        count = claimed.rowcount
        claimed.close()
        if count != 1:
            return False
    if write.answers:
        _INSERT_ANSWERS.executemany(
            connection, [{"response_id": response_id, **row} for row in write.answers]
        )
    if write.invitation_status is not None:
        _MOVE_INVITATION[write.invitation_status].execute(
            connection, {"invitation_id": write.invitation_id}
        ).close()
    if write.changes.get("status") == "completed":
        # Service remedy: a dissatisfied answer opens its follow-up in this same transaction,
        # so the call-back is queued the moment the answer is stored, never lost between.
        open_follow_ups(connection, response_id, write.changes["completed_at"])
    return True
