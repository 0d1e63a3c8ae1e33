"""Core statements run on the driver's cursor: the hot path of answering, without the ORM's toll.

Why: saving a questionnaire page is a handful of small statements, and SQLAlchemy's execution
path (compiled-cache lookup, execution context, result object) costs 40-60 µs of Python per
statement, several times what SQLite or psycopg take to run it. Under load that toll, not the
database, decided how many pages a server stores per second (``bench/bench_collection.py``).

A :class:`RawStatement` keeps the statement written once in SQLAlchemy Core, against the
tables of :mod:`survey.db.tables`. It is compiled once per dialect; each execution binds the
parameters through the column types' own processors (a UTC timestamp is stored exactly as
SQLAlchemy stores it) and runs on the DBAPI cursor of the SQLAlchemy connection, in its
transaction. Rows come back as tuples, through the columns' result processors.

Only what is bound is sent: a statement whose columns have Python-side defaults, or whose
parameters are expanded per execution (``IN`` lists), is refused when first compiled.

On PostgreSQL, :meth:`RawStatement.executemany` of a plain ``INSERT ... VALUES`` sends one
statement with a row of values per row (``VALUES (...), (...)``): one round trip and one
statement for the server to run. psycopg's own executemany enters pipeline mode and sends a
statement per row, which measured 2-3 round trips' worth of waiting for a page's few answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable, Select

__all__ = ["RawStatement"]


#: A bound value the caller gives (as opposed to a literal the statement holds).
_GIVEN = object()

#: A compiled INSERT that ends with its one group of values, bound by name (psycopg's style).
_INSERT_VALUES = re.compile(
    r"(?s)^(INSERT INTO .+ VALUES )"
    # Each value a named parameter, perhaps cast (``%(value)s::VARCHAR``, ``::NUMERIC(9, 2)``).
    r"(\((?:%\(\w+\)s(?:::[A-Za-z0-9_ ]+(?:\(\d+(?:, ?\d+)?\))?)?(?:, )?)+\))$"
)
_NAMED = re.compile(r"%\((\w+)\)s")
#: Multi-row statements kept per row count up to this many rows; longer lists go in chunks.
_MULTI_ROWS = 64


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    #: Whether the driver takes a tuple in ``slots`` order (else a dict by name).
    positional: bool
    #: Per bound value: its name, the type's processor (or None), and the literal the
    #: statement holds for it (or ``_GIVEN``).
    slots: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
    #: One result processor per selected column (None: the driver's value as it is).
    results: tuple[Callable[[Any], Any] | None, ...]


class RawStatement:
    """A Core statement run on the DBAPI cursor of a :class:`~sqlalchemy.engine.Connection`."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...] | None], _Compiled] = {}
        self._multi_rows: dict[tuple[str, int], str] = {}

    def _compile(self, dialect: Dialect, keys: tuple[str, ...] | None) -> _Compiled:
        cache_key = (dialect.name, keys)
        compiled = self._compiled.get(cache_key)
        if compiled is not None:
            return compiled
        sql = self.statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        if sql.literal_execute_params or sql.post_compile_params:
            raise ValueError(f"a statement with parameters expanded per execution: {sql}")
        named = {name: bind for bind, name in sql.bind_names.items()}
        if keys is not None:
            missing = set(named) - set(keys)
            if missing:
                raise ValueError(f"values the caller does not give (defaults?): {sorted(missing)}")
        positional = bool(sql.positional)
        order = sql.positiontup if positional else list(named)
        slots = tuple(
            (
                name,
                # The dialect's own variant of the type (SQLite's DATETIME, not the generic one).
                named[name].type.dialect_impl(dialect).bind_processor(dialect),
                _GIVEN if named[name].required else named[name].effective_value,
            )
            for name in order or ()
        )
        results: tuple = ()
        if isinstance(self.statement, Select):
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
        compiled = _Compiled(sql.string, positional, slots, results)
        self._compiled[cache_key] = compiled
        return compiled

    @staticmethod
    def _parameters(compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        bound = []
        for name, process, literal in compiled.slots:
            value = values[name] if literal is _GIVEN else literal
            bound.append(value if process is None else process(value))
        if compiled.positional:
            return tuple(bound)
        return {slot[0]: value for slot, value in zip(compiled.slots, bound, strict=True)}

    def _compiled_for(self, connection: Connection, values: Mapping[str, Any]) -> _Compiled:
        # An INSERT compiles its columns from the keys given; other statements bind by name.
        insert_keys = tuple(values) if getattr(self.statement, "is_insert", False) else None
        return self._compile(connection.dialect, insert_keys)

    def _run(self, connection: Connection, compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(compiled.sql, self._parameters(compiled, values))
        return cursor

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Run once with ``values``; returns the DBAPI cursor (rowcount, fetch)."""
        return self._run(connection, self._compiled_for(connection, values), values)

    def executemany(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row, in one call to the driver; every row has the same keys."""
        if not rows:
            return
        compiled = self._compiled_for(connection, rows[0])
        cursor = connection.connection.driver_connection.cursor()
        values = None if compiled.positional else _INSERT_VALUES.match(compiled.sql)
        if values is None or connection.dialect.name != "postgresql":
            cursor.executemany(compiled.sql, [self._parameters(compiled, row) for row in rows])
        else:
            head, group = values.groups()
            for start in range(0, len(rows), _MULTI_ROWS):
                chunk = rows[start : start + _MULTI_ROWS]
                bound: dict[str, Any] = {}
                for index, row in enumerate(chunk):
                    for name, value in self._parameters(compiled, row).items():
                        bound[f"{name}__{index}"] = value
                cursor.execute(self._multi_row_sql(compiled.sql, head, group, len(chunk)), bound)
        cursor.close()

    def _multi_row_sql(self, sql: str, head: str, group: str, count: int) -> str:
        """``sql``'s INSERT with ``count`` groups of values, names suffixed by row (cached)."""
        key = (sql, count)
        multi = self._multi_rows.get(key)
        if multi is None:
            groups = (_NAMED.sub(rf"%(\1__{index})s", group) for index in range(count))
            multi = self._multi_rows[key] = head + ", ".join(groups)
        return multi

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple]:
        """Every row of a SELECT, each value through its column's result processor; or the
        rows of a RETURNING clause, as the driver gives them."""
        compiled = self._compiled_for(connection, values)
        cursor = self._run(connection, compiled, values)
        fetched = cursor.fetchall()
        cursor.close()
        processors = compiled.results
        if not any(processors):
            return fetched if isinstance(fetched, list) else list(fetched)
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in fetched
        ]

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple | None:
        found = self.rows(connection, values)
        return found[0] if found else None
