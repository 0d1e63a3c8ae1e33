"""What customers answered, counted live from the database for the managers' pages.

The fitted analyses give indexes and priorities; a manager going from a driver to its items
also wants to see the answers themselves and what customers wrote. These are counts and
rows, not statistics of a model, so they are read live (never stale), within the reader's
scope (:func:`survey.staff.scope.response_clause`), from completed responses only:

- :func:`distribution`: how many customers chose each answer of an item;
- :func:`comments`: open-text answers, newest first, searchable, optionally only of the
  customers who rated an item low (the bottom two points of its scale) — one item, or any
  item of a driver;
- :func:`completed_count`: how many responses are completed, in all or after a moment (an
  analysis's computation), for the pages' freshness line.

The latest answer of each (response, item) counts: answers are an append-only log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from survey.db.tables import Answer, Customer, Response, Staff
from survey.questionnaire.document import Item
from survey.staff.scope import response_clause

#: The longest search text, and the most comments one page lists.
MAX_SEARCH = 100
PAGE = 50


@dataclass(frozen=True)
class Where:
    """Which completed responses count: a questionnaire version, a period of completion
    (``until`` excluded), and a region, hall, channel or customer tier (None: any)."""

    version_id: int
    since: datetime | None = None
    until: datetime | None = None
    region: str | None = None
    hall: str | None = None
    channel: str | None = None
    tier: int | None = None


@dataclass(frozen=True)
class Comment:
    response_id: int
    completed_at: datetime | None
    region: str | None
    hall: str | None
    channel: str
    item: str
    text: str


def _responses(reader: Staff, where: Where) -> list[ColumnElement[bool]]:
    clauses = [
        Response.questionnaire_version_id == where.version_id,
        Response.status == "completed",
        response_clause(reader),
    ]
    if where.since is not None:
        clauses.append(col(Response.completed_at) >= where.since)
    if where.until is not None:
        clauses.append(col(Response.completed_at) < where.until)
    if where.region is not None:
        clauses.append(Customer.region == where.region)
    if where.hall is not None:
        clauses.append(func.coalesce(Customer.service_hall, Response.service_hall) == where.hall)
    if where.channel is not None:
        clauses.append(Response.channel == where.channel)
    if where.tier is not None:
        clauses.append(Customer.tier == where.tier)
    return clauses


def _latest(items: Sequence[str], reader: Staff, where: Where) -> Select:
    """The id of the latest answer of each (response, item) among ``items``."""
    return (
        select(func.max(Answer.id).label("id"))
        .join(Response, Response.id == Answer.response_id)
        .outerjoin(Customer, Customer.id == Response.customer_id)
        .where(col(Answer.item_name).in_(items), *_responses(reader, where))
        .group_by(Answer.response_id, Answer.item_name)
    )


def distribution(session: Session, item: Item, reader: Staff, where: Where) -> dict[str, int]:
    """How many of the responses chose each stored code of ``item`` (unanswered: absent)."""
    latest = _latest([item.name], reader, where).subquery()
    rows = session.execute(
        select(Answer.value, func.count())
        .join(latest, latest.c.id == Answer.id)
        .where(col(Answer.value).is_not(None), Answer.value != "")
        .group_by(Answer.value)
    ).all()
    return {str(value): int(count) for value, count in rows}


def low_codes(item: Item) -> list[str]:
    """The codes of an item's low answers (:meth:`Item.is_low`: a rating's two lowest
    points after reverse scoring)."""
    if item.choices is None:
        return []
    return [choice.name for choice in item.choices.scored if item.is_low(choice.name)]


def top_codes(item: Item) -> list[str]:
    """The codes of an item's two highest scale points (after reverse scoring): top-2-box."""
    if item.choices is None or item.bounds is None:
        return []
    high = item.bounds[1] - 1
    scored = ((choice.name, item.score(choice.name)) for choice in item.choices.scored)
    return [name for name, score in scored if score is not None and score >= high]


def comments(
    session: Session,
    text_items: Sequence[str],
    reader: Staff,
    where: Where,
    *,
    search: str = "",
    rated_low: Sequence[Item] = (),
    limit: int = PAGE,
) -> tuple[list[Comment], int]:
    """Open-text answers to ``text_items``, newest first (at most ``limit``), and how many
    there are in all; those containing ``search``; when ``rated_low`` names items, only of
    the customers whose latest answer to one of them is one of its two lowest points."""
    latest = _latest(text_items, reader, where).subquery()
    clauses = [col(Answer.value).is_not(None), func.trim(Answer.value) != ""]
    if search:
        # The search text is a bound parameter; LIKE's own wildcards in it are taken as text.
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(col(Answer.value).like(f"%{escaped}%", escape="\\"))
    if rated_low:
        low = _latest([item.name for item in rated_low], reader, where).subquery()
        rating = aliased(Answer)  # the rating's own row, apart from the comment's
        either = or_(*(and_(rating.item_name == item.name,
                            col(rating.value).in_(low_codes(item) or [""]))
                       for item in rated_low))  # fmt: skip
        rated = select(rating.response_id).join(low, low.c.id == rating.id).where(either)
        clauses.append(col(Answer.response_id).in_(rated))
    base = (
        select(Answer, Response, Customer)
        .join(latest, latest.c.id == Answer.id)
        .join(Response, Response.id == Answer.response_id)
        .outerjoin(Customer, Customer.id == Response.customer_id)
        .where(and_(*clauses))
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        base.order_by(col(Response.completed_at).desc(), col(Answer.id).desc()).limit(limit)
    ).all()
    found = [
        Comment(response.id, response.completed_at, customer.region if customer else None,
                (customer.service_hall if customer else None) or response.service_hall,
                response.channel, answer.item_name, answer.value)
        for answer, response, customer in rows
    ]  # fmt: skip
    return found, int(total)


def completed_count(
    session: Session, reader: Staff, where: Where, *, after: datetime | None = None
) -> int:
    """Completed responses that ``where`` and the reader's scope keep; with ``after``, only
    those completed after that moment (an analysis's computation)."""
    clauses = _responses(reader, where)
    if after is not None:
        clauses.append(col(Response.completed_at) > after)
    return int(
        session.execute(
            select(func.count())
            .select_from(Response)
            .outerjoin(Customer, Customer.id == Response.customer_id)
            .where(*clauses)
        ).scalar_one()
    )
