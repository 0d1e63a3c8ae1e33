"""What each agent, team, queue or channel of a programme counted: contacts to replies.

:func:`contact_counts` answers one row per unit (and per local day, ISO week or month, in
the time zone it is given) with the unit's contacts, invitations, replies (responses with
an answer), and the replies' "1" satisfied, "2" fair and "3" dissatisfied, and its
free-text replies apart. The rates, their intervals and the shrunken rankings are the
statistics' (``scoring.agents``), which the command line and the dashboard apply to these
counts.

A reply belongs to its contact through the contact's invitation (its response is the
invitation's). Its rating is the latest answer to the programme's question (the first item
of its questionnaire) among the offered codes; any other answer (words, or a code that is
not offered) makes it a free-text reply: it counts as a reply, in neither numerator.

Set-based: one GROUP BY over ``contact_event`` joined to its responses and their answers,
by unit and local day; weeks and months are sums of days. Local days: PostgreSQL converts
with its own zone database; on SQLite the zone's UTC offsets over the contacts' time span
are written into the query as a CASE of dates.

Scope (:func:`survey.staff.accounts.scope_clause`): a limited manager counts the contacts
of their regions and service halls only, by the contact's own region and hall; a team
leader the contacts of their teams only, by the contact's own team.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from survey.answering.pages import offered_codes, questionnaire_of
from survey.db.states import ContactDecision
from survey.db.tables import Answer, ContactEvent, Programme, QuestionnaireVersion, Response, Staff
from survey.errors import InvalidRequest, NotFound
from survey.staff.accounts import scope_clause

__all__ = [
    "COUNT_COLUMNS",
    "PERIODS",
    "UNITS",
    "contact_counts",
    "period_of",
]

#: The units a report is by, and their column of ``contact_event``.
UNITS = {
    "agent": ContactEvent.agent_id,
    "team": ContactEvent.team,
    "queue": ContactEvent.queue,
    "channel": ContactEvent.channel,
}
PERIODS = ("day", "week", "month")
#: The counts of a row, in order.
COUNT_COLUMNS = (
    "contacts",
    "invitations",
    "replies",
    "satisfied",
    "fair",
    "dissatisfied",
    "free_text",
)
#: A unit the contact centre did not name (a hall visit without an agent).
UNNAMED = "(none)"
SATISFIED, FAIR, DISSATISFIED = "1", "2", "3"


def period_of(day: date, period: str) -> str:
    """A local day's period: ``2026-03-02``, ``2026-W10`` (ISO week) or ``2026-03``."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise InvalidRequest(f"period {period!r}: use {', '.join(PERIODS)}")


def _rated(session: Session, programmes: Sequence[Programme], answer, response):
    """The clause "this answer is a rating": the programme's question, an offered code."""
    parts = []
    for programme in programmes:
        version = session.get(QuestionnaireVersion, programme.questionnaire_version_id)
        questionnaire = questionnaire_of(version)
        item = questionnaire.items[0]
        parts.append(
            and_(
                response.questionnaire_version_id == version.id,
                answer.item_name == item.name,
                col(answer.value).in_(offered_codes(item, questionnaire)),
            )
        )
    return or_(*parts) if parts else false()


def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets (minutes) from ``start`` to ``end``: (from when, offset)."""
    moment = start.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    changes: list[tuple[datetime, int]] = []
    # Offsets change on whole hours of UTC in every zone with daylight saving today, so
    # an hourly walk finds each change (a year is 8,760 steps).
    while moment <= end + timedelta(hours=1):
        offset = int(moment.astimezone(zone).utcoffset().total_seconds() // 60)
        if not changes or changes[-1][1] != offset:
            changes.append((moment, offset))
        moment += timedelta(hours=1)
    return changes


def _local_day(session: Session, zone: ZoneInfo, where: list) -> ColumnElement:
    """The contact's local day in ``zone`` as an SQL expression (text ``YYYY-MM-DD``)."""
    ended = ContactEvent.ended_at
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(zone.key, ended), "YYYY-MM-DD")
    span = session.execute(select(func.min(ended), func.max(ended)).where(*where)).one()
    if span[0] is None:
        return func.date(ended)
    first, last = (ContactEvent.__table__.c.ended_at.type.process_result_value(v, None)
                   for v in span)  # fmt: skip
    changes = _offsets(zone, first, last)
    days = [func.date(ended, f"{offset:+d} minutes") for _, offset in changes]
    if len(days) == 1:
        return days[0]
    whens = [(ended < changes[i + 1][0], days[i]) for i in range(len(changes) - 1)]
    return case(*whens, else_=days[-1])


def contact_counts(
    session: Session,
    *,
    by: str,
    timezone: str,
    period: str | None = None,
    programme: str | None = None,
    since: date | None = None,
    until: date | None = None,
    reader: Staff | None = None,
) -> pd.DataFrame:
    """Counts per unit (and per period) of the contacts ``reader`` may see.

    Parameters
    ----------
    by : {"agent", "team", "queue", "channel"}
    timezone : str
        The zone of local days (the settings' ``timezone``).
    period : {"day", "week", "month"}, optional
        One row per unit and period; None: one row per unit over the whole span.
    programme : str, optional
        One programme's contacts; None: every programme's.
    since, until : datetime.date, optional
        Local days, both included.
    reader : Staff, optional
        Whose scope to count in; None: everything (the command line's operator).

    Returns
    -------
    pandas.DataFrame
        Columns ``unit`` (:data:`UNNAMED` when the contact named none), ``period`` (with
        ``period`` only), ``team`` (with ``by="agent"``: the agent's team, the largest
        team name when an agent was in two), then :data:`COUNT_COLUMNS`; sorted by unit
        and period.
    """
    if by not in UNITS:
        raise InvalidRequest(f"by {by!r}: use {', '.join(UNITS)}")
    if period is not None and period not in PERIODS:
        raise InvalidRequest(f"period {period!r}: use {', '.join(PERIODS)}")
    zone = ZoneInfo(timezone)
    where: list = [] if reader is None else [scope_clause(
        reader, ContactEvent.region, ContactEvent.service_hall, ContactEvent.team)]  # fmt: skip
    if programme is not None:
        found = session.execute(select(Programme).where(Programme.name == programme)).scalar()
        if found is None:
            raise NotFound(f"no programme named {programme!r}: `manyi programme list` shows them")
        programmes = [found]
        where.append(ContactEvent.programme_id == found.id)
    else:
        programmes = list(session.execute(select(Programme)).scalars())
    if since is not None:
        where.append(ContactEvent.ended_at >= datetime.combine(since, time(), zone).astimezone(UTC))
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC)
        where.append(ContactEvent.ended_at < end)

    # Per response: its rating answer (the latest offered code) and its other answers.
    inner_response = aliased(Response)
    rated = _rated(session, programmes, Answer, inner_response)
    replies = (
        select(
            Answer.response_id.label("response_id"),
            func.max(case((rated, Answer.id))).label("rating_id"),
            func.sum(case((rated, 0), else_=1)).label("texts"),
        )
        .join(inner_response, inner_response.id == Answer.response_id)
        .group_by(Answer.response_id)
        .subquery()
    )
    rating = aliased(Answer)
    unit = UNITS[by].label("unit")
    keys: list = [unit]
    if period is not None:
        keys.append(_local_day(session, zone, where).label("day"))

    def tally(condition) -> ColumnElement:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    columns = [
        *keys,
        *([func.max(ContactEvent.team).label("team")] if by == "agent" else []),
        func.count(ContactEvent.id).label("contacts"),
        tally(ContactEvent.decision == ContactDecision.INVITED).label("invitations"),
        func.count(replies.c.response_id).label("replies"),
        tally(rating.value == SATISFIED).label("satisfied"),
        tally(rating.value == FAIR).label("fair"),
        tally(rating.value == DISSATISFIED).label("dissatisfied"),
        tally(replies.c.texts > 0).label("free_text"),
    ]
    query = (
        select(*columns)
        .select_from(ContactEvent)
        .outerjoin(Response, Response.invitation_id == ContactEvent.invitation_id)
        .outerjoin(replies, replies.c.response_id == Response.id)
        .outerjoin(rating, rating.id == replies.c.rating_id)
        .where(*where)
        .group_by(*keys)
    )
    rows = session.execute(query).mappings().all()
    names = ["unit", *(["day"] if period else []), *(["team"] if by == "agent" else []),
             *COUNT_COLUMNS]  # fmt: skip
    frame = pd.DataFrame([dict(r) for r in rows], columns=names)
    frame["unit"] = frame["unit"].fillna(UNNAMED).astype("object")
    if by == "agent":
        frame["team"] = frame["team"].fillna(UNNAMED).astype("object")
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].fillna(0).astype("int64")
    if period is None:
        return frame.sort_values("unit", kind="stable").reset_index(drop=True)
    frame["period"] = [period_of(date.fromisoformat(str(d)), period) for d in frame.pop("day")]
    sums = {column: "sum" for column in COUNT_COLUMNS}
    if by == "agent":
        sums = {"team": "max", **sums}
    grouped = frame.groupby(["unit", "period"], sort=True).agg(sums).reset_index()
    return grouped[["unit", "period", *(["team"] if by == "agent" else []), *COUNT_COLUMNS]]
