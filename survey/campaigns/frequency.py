"""Contact-frequency rules across every programme and campaign: how often one number is
surveyed.

A customer is invited at most once in :data:`MIN_DAYS_BETWEEN` days and at most
:data:`MAX_PER_QUARTER` times a calendar quarter (in :data:`QUARTER_TIMEZONE`). These are
the operator's rules for all its surveys, so they are module constants, not a programme's
settings.

The rules hold under concurrency because they are decided by the database, on one row per
phone number (:class:`~survey.db.tables.ContactGuard`): :func:`take` is one conditional upsert
``INSERT ... ON CONFLICT (phone) DO UPDATE ... WHERE <allowed> RETURNING phone``. On
PostgreSQL a second transaction taking the same number waits for the first to commit and then
finds the rule no longer allows it; SQLite has one writer at a time. A programme's events take
the number before they are invited (:mod:`survey.programmes.decide`), and so do a campaign's
invitations when their messages are queued (:mod:`survey.campaigns.lifecycle`): a number
refused keeps its invitation as ``frequency_capped`` and gets nothing. Only a re-survey
after a service remedy is counted without asking (:func:`record`): its customer was just
surveyed, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from survey.db.bulk import columns, unnest_insert
from survey.db.tables import ContactGuard

__all__ = ["MAX_PER_QUARTER", "MIN_DAYS_BETWEEN", "QUARTER_TIMEZONE", "quarter_of", "record",
           "take"]  # fmt: skip

#: At most one invitation per number in this many days.
MIN_DAYS_BETWEEN = 30
#: At most this many invitations per number in a calendar quarter.
MAX_PER_QUARTER = 3
#: The quarters are the operator's (China Standard Time).
QUARTER_TIMEZONE = ZoneInfo("Asia/Shanghai")
# Rows per statement: 5 bound values a row stays far below SQLite's 32,766 and
# PostgreSQL's 65,535 parameters.
_CHUNK = 1000

_TABLE = ContactGuard.__table__


def quarter_of(at: datetime) -> str:
    """The calendar quarter of ``at``, e.g. ``"2026Q3"``."""
    local = at.astimezone(QUARTER_TIMEZONE)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def _rows(invitations: Iterable[tuple[str, datetime]]) -> list[dict]:
    # One row per number (PostgreSQL refuses to update one row twice in a statement),
    # sorted, so that concurrent statements lock the rows in one order (no deadlock).
    first: dict[str, datetime] = {}
    for phone, at in invitations:
        first.setdefault(phone, at)
    return [
        {"phone_e164": phone, "last_invited_at": at,
         "blocked_until": at + timedelta(days=MIN_DAYS_BETWEEN), "quarter": quarter_of(at),
         "quarter_count": 1}
        for phone, at in sorted(first.items())
    ]  # fmt: skip


def _insert(connection: Connection):
    return postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert


def _take_statement():
    """The conditional upsert of :func:`take` on SQLite, compiled once (rows are bound per
    execution through SQLAlchemy's "insertmanyvalues")."""
    statement = sqlite_insert(ContactGuard)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["phone_e164"],
        set_={
            "last_invited_at": new.last_invited_at,
            "blocked_until": new.blocked_until,
            "quarter_count": case(
                (_TABLE.c.quarter == new.quarter, _TABLE.c.quarter_count + 1), else_=1
            ),
            "quarter": new.quarter,
        },
        where=(_TABLE.c.blocked_until <= new.last_invited_at)
        & ((_TABLE.c.quarter != new.quarter) | (_TABLE.c.quarter_count < MAX_PER_QUARTER)),
    ).returning(_TABLE.c.phone_e164)


_TAKE_SQLITE = _take_statement()
_COLUMNS = ("phone_e164", "last_invited_at", "blocked_until", "quarter", "quarter_count")
# The same upsert on PostgreSQL, a column per array parameter: one statement of fixed text (a
# multi-row VALUES was compiled again for every batch).
_TAKE_POSTGRESQL = unnest_insert(
    _TABLE,
    _COLUMNS,
    f"""
ON CONFLICT (phone_e164) DO UPDATE SET
    last_invited_at = excluded.last_invited_at,
    blocked_until = excluded.blocked_until,
    quarter_count = CASE WHEN contact_guard.quarter = excluded.quarter
                         THEN contact_guard.quarter_count + 1 ELSE 1 END,
    quarter = excluded.quarter
WHERE contact_guard.blocked_until <= excluded.last_invited_at
    AND (contact_guard.quarter != excluded.quarter
         OR contact_guard.quarter_count < {MAX_PER_QUARTER:d})
RETURNING phone_e164""",
)


def take(connection: Connection, invitations: Sequence[tuple[str, datetime]]) -> set[str]:
    """Take an invitation for each ``(phone, at)`` the rules allow; returns the numbers taken.

    A number given twice is tried once, at its first time. Not committed: the caller
    commits with the invitations, or rolls back and takes nothing.
    """
    rows = _rows(invitations)
    if not rows:
        return set()
    if connection.dialect.name == "postgresql":
        result = connection.exec_driver_sql(
            _TAKE_POSTGRESQL, tuple(columns(_TABLE, rows, _COLUMNS))
        )
        return {phone for (phone,) in result}
    return set(connection.execute(_TAKE_SQLITE, rows).scalars())


def record(connection: Connection, invitations: Iterable[tuple[str, datetime]]) -> None:
    """Count invitations made without asking (a re-survey after a remedy): never refused.

    Each number's block runs to the later of the stored one and this invitation's.
    """
    rows = _rows(invitations)
    for start in range(0, len(rows), _CHUNK):
        statement = _insert(connection)(ContactGuard).values(rows[start : start + _CHUNK])
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["phone_e164"],
            set_={
                "last_invited_at": new.last_invited_at,
                "blocked_until": case(
                    (_TABLE.c.blocked_until > new.blocked_until, _TABLE.c.blocked_until),
                    else_=new.blocked_until,
                ),
                "quarter_count": case(
                    (_TABLE.c.quarter == new.quarter, _TABLE.c.quarter_count + 1), else_=1
                ),
                "quarter": new.quarter,
            },
        )
        connection.execute(statement)
