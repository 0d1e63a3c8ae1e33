"""survey.db.raw_sql: statements on the driver's cursor store and read exactly what SQLAlchemy does.

The hot path of answering runs its statements through :class:`RawStatement`; every other part
of Manyi reads those rows through SQLAlchemy. So the stored form (the text SQLite keeps for a
timestamp, the value PostgreSQL keeps) must be the same byte for byte, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    insert,
    select,
    update,
)

from survey.db.raw_sql import RawStatement
from survey.db.tables import UTCDateTime

METADATA = MetaData()
PROBE = Table(
    "raw_sql_probe",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    Column("value", String),
    Column("at", UTCDateTime),
    Column("origin", String, default="sqlalchemy"),
)
#: A timestamp with microseconds, and one without (SQLite's text must still carry ".000000").
MOMENTS = (
    datetime(2026, 11, 23, 18, 35, 12, 345678, tzinfo=UTC),
    datetime(2026, 11, 24, 2, 0, 0, tzinfo=timezone(timedelta(hours=8))),
)


@pytest.fixture
def probe(engine):
    METADATA.create_all(engine)
    yield engine
    METADATA.drop_all(engine)


def _stored_text(engine) -> list[tuple]:
    """The rows as the database keeps them, every column cast to text."""
    with engine.connect() as connection:
        columns = [cast(c, Text) for c in (PROBE.c.name, PROBE.c.status, PROBE.c.value, PROBE.c.at)]
        return [tuple(row) for row in connection.execute(select(*columns).order_by(PROBE.c.id))]


def test_rows_written_raw_are_stored_exactly_as_sqlalchemy_stores_them(probe):
    rows = [
        {"name": f"n{i}", "status": "open", "value": value, "at": at, "origin": "x"}
        for i, (value, at) in enumerate([("满意", MOMENTS[0]), (None, MOMENTS[1]), ("", None)])
    ]
    with probe.begin() as connection:
        connection.execute(insert(PROBE), rows)
    by_sqlalchemy = _stored_text(probe)
    with probe.begin() as connection:
        connection.execute(PROBE.delete())
    with probe.begin() as connection:
        RawStatement(insert(PROBE).inline()).executemany(connection, rows)
    assert _stored_text(probe) == by_sqlalchemy
    # The stored timestamps are the UTC instants given, whatever zone they were given in.
    with probe.connect() as connection:
        read = connection.execute(select(PROBE.c.at).order_by(PROBE.c.id)).scalars().all()
    assert read == [MOMENTS[0], MOMENTS[1], None]
    assert read[1].tzinfo is not None


def test_rows_read_raw_equal_rows_read_by_sqlalchemy(probe):
    with probe.begin() as connection:
        connection.execute(
            insert(PROBE),
            [
                {"name": "a", "status": "open", "value": "1", "at": MOMENTS[0]},
                {"name": "b", "status": "open", "value": None, "at": None},
            ],
        )
    query = select(PROBE.c.name, PROBE.c.value, PROBE.c.at).where(
        PROBE.c.status == bindparam("status")
    )
    with probe.connect() as connection:
        expected = [tuple(row) for row in connection.execute(query, {"status": "open"})]
        raw = RawStatement(query.order_by(PROBE.c.id))
        assert raw.rows(connection, {"status": "open"}) == expected
        assert raw.first(connection, {"status": "open"}) == ("a", "1", MOMENTS[0])
        assert raw.first(connection, {"status": "closed"}) is None
    # An aware UTC datetime, as SQLAlchemy gives it (SQLite keeps no zone).
    assert expected[0][2].utcoffset() == timedelta(0)


def test_literals_of_the_statement_are_bound_and_rowcount_counts(probe):
    with probe.begin() as connection:
        connection.execute(
            insert(PROBE),
            [{"name": n, "status": s} for n, s in (("a", "open"), ("b", "open"), ("c", "done"))],
        )
    close = RawStatement(
        update(PROBE)
        .where(PROBE.c.name == bindparam("who"), PROBE.c.status == "open")
        .values(status="done", at=bindparam("when"))
    )
    with probe.begin() as connection:
        assert close.execute(connection, {"who": "a", "when": MOMENTS[0]}).rowcount == 1
        # "c" is not open: the literal in the WHERE clause holds.
        assert close.execute(connection, {"who": "c", "when": MOMENTS[0]}).rowcount == 0
    with probe.connect() as connection:
        states = dict(connection.execute(select(PROBE.c.name, PROBE.c.status)).all())
    assert states == {"a": "done", "b": "open", "c": "done"}


def test_raw_statements_run_in_the_connections_transaction(probe):
    add = RawStatement(insert(PROBE).inline())
    with probe.connect() as connection:
        with connection.begin() as transaction:
            add.execute(connection, {"name": "gone", "status": "open", "origin": "raw"})
            transaction.rollback()
        with connection.begin():
            add.execute(connection, {"name": "kept", "status": "open", "origin": "raw"})
    assert [row[0] for row in _stored_text(probe)] == ["kept"]


def test_a_column_default_the_caller_leaves_out_is_refused_not_skipped(probe):
    with probe.begin() as connection, pytest.raises(ValueError, match="origin"):
        # "origin" has a Python-side default SQLAlchemy would fill in; raw, nobody would.
        RawStatement(insert(PROBE).inline()).execute(connection, {"name": "a", "status": "open"})


def test_a_statement_expanded_per_execution_is_refused(probe):
    query = select(PROBE.c.id).where(PROBE.c.name.in_(bindparam("names", expanding=True)))
    with probe.connect() as connection, pytest.raises(ValueError, match="expanded"):
        RawStatement(query).rows(connection, {"names": ["a"]})
