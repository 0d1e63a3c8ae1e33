"""``insert_rows`` and ``update_rows`` store what SQLAlchemy's own INSERT and UPDATE store,
on SQLite and PostgreSQL: JSON as its serialiser writes it, timestamps as UTC instants,
NULLs, booleans, floats; a value too long for its column is refused, never cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, StatementError

from survey.db.bulk import insert_rows, update_rows
from survey.db.tables import UTCDateTime


def kinds() -> list[Column]:
    return [
        Column("id", Integer, primary_key=True),
        Column("name", String(8)),
        Column("spend", Float),
        Column("consent", Boolean),
        Column("at", UTCDateTime),
        Column("attributes", JSON),
        Column("nullable_json", JSON(none_as_null=True)),
    ]


CHINA = timezone(timedelta(hours=8))
ROWS = [
    {"id": 1, "name": "话题", "spend": 0.1, "consent": True,
     "at": datetime(2026, 7, 15, 10, 0, 0, 123456, tzinfo=CHINA),
     "attributes": {"topic": "账单", "n": 2, "ok": False, "none": None, "list": [1, "a"]},
     "nullable_json": None},
    {"id": 2, "name": None, "spend": -1e300, "consent": False,
     "at": datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "attributes": {}, "nullable_json": [1]},
    {"id": 3, "name": "x" * 8, "spend": None, "consent": None, "at": None,
     "attributes": {"quote": '"\\\n\x01'}, "nullable_json": {"a": None}},
]  # fmt: skip


@pytest.fixture
def tables(engine):
    metadata = MetaData()
    ours = Table("bulk_ours", metadata, *kinds())
    theirs = Table("bulk_theirs", metadata, *kinds())
    metadata.create_all(engine)
    yield ours, theirs
    metadata.drop_all(engine)


def stored(connection, table):
    # As text, the way the database keeps it: a different JSON spelling or instant shows.
    return connection.execute(
        select(*(cast(c, String) for c in table.c)).order_by(table.c.id)
    ).all()  # fmt: skip


def test_inserted_and_updated_rows_are_stored_as_sqlalchemy_stores_them(engine, tables):
    ours, theirs = tables
    with engine.begin() as connection:
        returned = insert_rows(connection, ours, ROWS, returning=["id", "name"])
        connection.execute(insert(theirs), ROWS)
        assert sorted(returned, key=lambda r: r[0]) == [(1, "话题"), (2, None), (3, "x" * 8)]
        assert stored(connection, ours) == stored(connection, theirs)
        changes = [{"id": 1, "name": None, "attributes": {"b": "两"}},
                   {"id": 3, "name": "y", "attributes": None}]  # fmt: skip
        update_rows(connection, ours, "id", changes)
        connection.execute(
            update(theirs).where(theirs.c.id == bindparam("b_id"))
            .values(name=bindparam("b_name"), attributes=bindparam("b_attributes")),
            [{f"b_{k}": v for k, v in row.items()} for row in changes],
        )  # fmt: skip
        assert stored(connection, ours) == stored(connection, theirs)


def test_a_conflicting_row_is_skipped_and_not_returned(engine, tables):
    ours, _ = tables
    with engine.begin() as connection:
        insert_rows(connection, ours, ROWS[:1])
        returned = insert_rows(connection, ours, ROWS, returning=["id"],
                               on_conflict_do_nothing=True)  # fmt: skip
        assert sorted(returned) == [(2,), (3,)]


def test_a_value_too_long_is_refused_not_cut(engine, tables):
    ours, _ = tables
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite keeps text of any length in a VARCHAR(n)")
    with pytest.raises(DBAPIError, match="too long"), engine.begin() as connection:
        insert_rows(connection, ours, [dict(ROWS[0], name="x" * 9)])


def test_a_naive_timestamp_is_refused(engine, tables):
    ours, _ = tables
    with pytest.raises((ValueError, StatementError), match="timezone-aware"):
        with engine.begin() as connection:
            insert_rows(connection, ours, [dict(ROWS[0], at=datetime(2026, 7, 15, 10))])
