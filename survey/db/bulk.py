"""Many rows in one statement, whatever their number: :func:`insert_rows`, :func:`update_rows`.

A multi-row ``INSERT ... VALUES`` built with ``.values(rows)`` is compiled again for every
batch (500 rows of 18 columns: 9,000 bound parameters, ~0.2 s of SQLAlchemy's compiler), and
on PostgreSQL psycopg parses the long text again too; an ``executemany`` UPDATE is a
statement per row. Here the SQL is fixed: PostgreSQL takes the rows as one JSON parameter
(``json_populate_recordset`` turns it into rows of the table's own column types), SQLite
takes them through ``executemany`` (or SQLAlchemy's "insertmanyvalues" when rows come back)
on a statement compiled once.

The values stored are the ones SQLAlchemy would store: timestamps as UTC instants, a JSON
column's value as ``json.dumps`` writes it (SQLAlchemy's default serialiser).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

__all__ = ["insert_rows", "records", "update_rows"]


# Many rows in one statement, whatever their number: ``insert_rows`` and ``update_rows``.
#
# A multi-row ``INSERT ... VALUES`` built with ``.values(rows)`` is compiled again for every
# batch (500 rows of 18 columns: 9,000 bound parameters, ~0.2 s of SQLAlchemy's compiler),
# and on PostgreSQL psycopg parses the long text again too. Here the SQL is fixed:
# PostgreSQL takes the rows as one JSON parameter (``json_populate_recordset`` turns it into
# rows of the table's own types), SQLite takes them through ``executemany`` (or SQLAlchemy's
# "insertmanyvalues" when rows come back), on a statement compiled once.


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC) before they are stored")
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def records(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as one JSON array, for ``json_populate_recordset(NULL::table, %s::json)``."""
    return json.dumps(rows, default=_json_default)


def _checked_columns(
    table: Table, rows: Sequence[Mapping[str, Any]], *, inserted: bool = True
) -> list[str]:
    columns = list(rows[0])
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")
    if not inserted:
        return columns
    defaulted = {c.name for c in table.c if c.default is not None} - set(columns)
    if defaulted and not all(table.c[c].primary_key for c in defaulted):
        raise ValueError(f"columns with Python-side defaults not given: {sorted(defaulted)}")
    return columns


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[str] = (),
    on_conflict_do_nothing: bool = False,
) -> list[tuple]:
    """Insert ``rows`` (every row with the same keys, every column with a Python-side
    default among them) in one statement on PostgreSQL, one ``executemany`` on SQLite;
    returns the ``returning`` columns of the rows inserted (in no particular order)."""
    if not rows:
        return []
    columns = _checked_columns(table, rows)
    if connection.dialect.name == "postgresql":
        # Names of the table's own columns (checked above), quoted: no value is in the text.
        quote = connection.dialect.identifier_preparer.quote
        name, names = quote(table.name), ", ".join(quote(c) for c in columns)
        sql = (f"INSERT INTO {name} ({names}) SELECT {names} FROM "  # noqa: S608
               f"json_populate_recordset(NULL::{name}, %s::json)")  # fmt: skip
        if on_conflict_do_nothing:
            sql += " ON CONFLICT DO NOTHING"
        if returning:
            sql += " RETURNING " + ", ".join(quote(table.c[c].name) for c in returning)
            return [tuple(r) for r in connection.exec_driver_sql(sql, (records(rows),))]
        connection.exec_driver_sql(sql, (records(rows),))
        return []
    statement: Any = sqlite_insert(table) if on_conflict_do_nothing else insert(table)
    if on_conflict_do_nothing:
        statement = statement.on_conflict_do_nothing()
    if returning:
        statement = statement.returning(*(table.c[c] for c in returning))
        return [tuple(r) for r in connection.execute(statement, list(rows))]
    connection.execute(statement, list(rows))
    return []


def update_rows(
    connection: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``UPDATE table SET <the rows' other keys> WHERE key = <the row's>`` for every row, in
    one statement on PostgreSQL (``UPDATE ... FROM``), one ``executemany`` on SQLite."""
    if not rows:
        return
    columns = [c for c in _checked_columns(table, rows, inserted=False) if c != key]
    if connection.dialect.name == "postgresql":
        quote = connection.dialect.identifier_preparer.quote
        name, by = quote(table.name), quote(table.c[key].name)
        sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
        sql = (f"UPDATE {name} AS t SET {sets} FROM json_populate_recordset("  # noqa: S608
               f"NULL::{name}, %s::json) AS v WHERE t.{by} = v.{by}")  # fmt: skip
        connection.exec_driver_sql(sql, (records(rows),))
        return
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"b_{key}"))
        .values({c: bindparam(f"b_{c}") for c in columns})
    )
    connection.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
