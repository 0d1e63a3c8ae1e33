"""Many rows in one statement, whatever their number: :func:`insert_rows`, :func:`update_rows`,
and on PostgreSQL the pieces to write several tables in one statement (:func:`unnest_insert`,
:func:`unnest_update`, :func:`columns`).

A multi-row ``INSERT ... VALUES`` built with ``.values(rows)`` is compiled again for every
batch (500 rows of 18 columns: 9,000 bound parameters, ~0.2 s of SQLAlchemy's compiler), and
on PostgreSQL psycopg parses the long text again too; an ``executemany`` UPDATE is a
statement per row. Here the SQL is fixed. PostgreSQL takes each column as one array
parameter in psycopg's binary format, turned back into rows by ``unnest``: for 500 contact
events that is ~1 ms of Python and ~1 ms of the server, where one JSON parameter read by
``json_populate_recordset`` took ~4 ms of each (the JSON written by Python, then parsed and
every field looked up by name). SQLite takes the rows through ``executemany`` (or
SQLAlchemy's "insertmanyvalues" when rows come back) on a statement compiled once.

The values stored are the ones SQLAlchemy would store: timestamps as UTC instants, a JSON
column's value as ``json.dumps`` writes it (SQLAlchemy's default serialiser).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

__all__ = ["columns", "insert_rows", "unnest_insert", "unnest_update", "update_rows"]


def _checked_columns(
    table: Table, rows: Sequence[Mapping[str, Any]], *, inserted: bool = True
) -> list[str]:
    names = list(rows[0])
    unknown = set(names) - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")
    if not inserted:
        return names
    defaulted = {c.name for c in table.c if c.default is not None} - set(names)
    if defaulted and not all(table.c[c].primary_key for c in defaulted):
        raise ValueError(f"columns with Python-side defaults not given: {sorted(defaulted)}")
    return names


# -- PostgreSQL: a column per array parameter ------------------------------------------------

# The array type each kind of column travels as. Text goes as text[], not varchar(n)[]: an
# explicit cast to varchar(n) would cut a longer value silently, where the INSERT's own
# assignment refuses it. Integers go as int8[] for the same reason (int4 overflows are errors).
_ARRAY_TYPES: tuple[tuple[type, str], ...] = (
    (JSON, "text"),  # json.dumps text, cast to json in the SELECT
    (Boolean, "bool"),
    (Integer, "int8"),
    (Float, "float8"),
    (DateTime, "timestamptz"),
    (String, "text"),
)


def _array_type(table: Table, name: str) -> str:
    kind = table.c[name].type._type_affinity  # a TypeDecorator's underlying generic type
    for generic, pg in _ARRAY_TYPES:
        if kind is not None and issubclass(kind, generic):
            return pg
    raise ValueError(f"{table.name}.{name}: no array type for {table.c[name].type!r}")


@functools.cache
def _unnest(table: Table, names: tuple[str, ...]) -> tuple[str, str, str]:
    """(quoted column list, select list, ``unnest(...) AS v(...)``) for ``names`` of ``table``."""
    quoted = ", ".join(f'"{n}"' for n in names)  # the table's own column names, checked
    select = ", ".join(
        f'v."{n}"::json' if isinstance(table.c[n].type, JSON) else f'v."{n}"' for n in names
    )
    arrays = ", ".join(f"%b::{_array_type(table, n)}[]" for n in names)
    return quoted, select, f"unnest({arrays}) AS v({quoted})"


def _column_values(table: Table, name: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    values = [row[name] for row in rows]
    kind = table.c[name].type
    if isinstance(kind, JSON):
        # As SQLAlchemy's JSON type binds None: JSON's null unless the column says SQL NULL.
        if kind.none_as_null:
            return [None if v is None else json.dumps(v) for v in values]
        return [json.dumps(v) for v in values]
    if kind._type_affinity is not None and issubclass(kind._type_affinity, DateTime):
        for value in values:
            if value is not None and value.tzinfo is None:
                raise ValueError("timestamps must be timezone-aware (UTC) before they are stored")
    return values


def columns(table: Table, rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list]:
    """The parameters of :func:`unnest_insert`/:func:`unnest_update`: a list per column."""
    return [_column_values(table, name, rows) for name in names]


def unnest_insert(table: Table, names: Sequence[str], suffix: str = "") -> str:
    """``INSERT INTO table (names) SELECT ... FROM unnest(<an array per column>)`` (plus
    ``suffix``: ``ON CONFLICT``, ``RETURNING``), the parameters given by :func:`columns`.
    PostgreSQL only; a fixed text per table and columns, so psycopg parses it once."""
    quoted, select, source = _unnest(table, tuple(names))
    # Names of the table's own columns: no value is in the text.
    return f'INSERT INTO "{table.name}" ({quoted}) SELECT {select} FROM {source} {suffix}'  # noqa: S608


def unnest_update(table: Table, key: str, names: Sequence[str]) -> str:
    """``UPDATE table SET <names but key> FROM unnest(...) WHERE key = v.key``, the
    parameters given by :func:`columns` for ``names`` (``key`` among them). PostgreSQL only."""
    _, _, source = _unnest(table, tuple(names))
    sets = ", ".join(
        f'"{n}" = v."{n}"::json' if isinstance(table.c[n].type, JSON) else f'"{n}" = v."{n}"'
        for n in names
        if n != key
    )
    return f'UPDATE "{table.name}" AS t SET {sets} FROM {source} WHERE t."{key}" = v."{key}"'  # noqa: S608


# -- both databases --------------------------------------------------------------------------


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
    names = _checked_columns(table, rows)
    if connection.dialect.name == "postgresql":
        suffix = " ON CONFLICT DO NOTHING" if on_conflict_do_nothing else ""
        if returning:
            suffix += " RETURNING " + ", ".join(f'"{table.c[c].name}"' for c in returning)
        sql = unnest_insert(table, names, suffix)
        result = connection.exec_driver_sql(sql, tuple(columns(table, rows, names)))
        return [tuple(r) for r in result] if returning else []
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
    one statement on PostgreSQL (``UPDATE ... FROM unnest``), one ``executemany`` on SQLite."""
    if not rows:
        return
    names = _checked_columns(table, rows, inserted=False)
    if connection.dialect.name == "postgresql":
        sql = unnest_update(table, key, names)
        connection.exec_driver_sql(sql, tuple(columns(table, rows, names)))
        return
    others = [c for c in names if c != key]
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"b_{key}"))
        .values({c: bindparam(f"b_{c}") for c in others})
    )
    connection.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
