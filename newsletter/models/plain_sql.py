"""Plain SQL for the few hot paths where SQLAlchemy's work per row costs more than the database's.

A group of web signups (``subscribers/signup_batch.py``) writes a subscriber, a status event, a
consent and an email job per person. Through compiled Core statements that took about 110 us of
CPU per signup in groups of 8 (the common size under load), most of it SQLAlchemy building each
row's parameters (a type processor per value, a dict per row, the execution context); sent as
plain SQL on the driver's cursor it takes about 75 us (``bench/signup.py``, docs/scaling.md).
Everything else in the code uses Core or the ORM.

What SQLAlchemy would do is still done, once: the statement's text comes from the table's own
columns (quoted by the dialect), each value is stored as its column's type stores it (the
dialect's bind processor: a ``UTCDateTime`` is naive UTC text on SQLite, an aware datetime on
PostgreSQL), a value that repeats (a group's one timestamp) is processed once; the statement
runs on the caller's connection and transaction (SQLite's ``BEGIN IMMEDIATE`` included,
``db.py``); a failure is raised as SQLAlchemy raises it (an ``IntegrityError``, an
``OperationalError`` when the database is locked) and a lost connection is invalidated, as for
any statement. The placeholders are the driver's: ``?`` for sqlite3, ``%s`` for psycopg.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # sqlite3, psycopg
MOST_VARIABLES = 999  # per statement: SQLite's oldest limit, far below what either allows now


def mark(dialect: sa.Dialect) -> str:
    """The driver's positional placeholder."""
    try:
        return MARKS[dialect.paramstyle]
    except KeyError:  # pragma: no cover - only sqlite3 and psycopg are supported (db.py)
        raise ValueError(f"no plain SQL for the {dialect.paramstyle!r} paramstyle") from None


def rows_of(
    connection: sa.Connection, sql: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Every row ``sql`` returns, on the connection's own transaction."""
    with _cursor(connection, sql) as cursor:
        cursor.execute(sql, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]


@contextmanager
def _cursor(connection: sa.Connection, sql: str) -> Iterator[Any]:
    """The driver's cursor on the connection's transaction. A driver error is raised as
    SQLAlchemy would raise it (``IntegrityError``, ``OperationalError``..., the statement
    named, its values not), and a connection the error says is lost is invalidated, so its
    pool does not hand it out again."""
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw, cursor)
        if lost:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            sql,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc
    finally:
        with suppress(Exception):  # a lost connection's cursor may not close
            cursor.close()


def insert_many(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys: column names) into ``table``; with
    ``returning``, those columns of every inserted row, in no particular order (multi-row
    VALUES statements), else nothing (one executemany)."""
    if not rows:
        return []
    names = tuple(rows[0])
    plan = _plan(connection.dialect, table, names)
    # the processed form of each value object seen, each one once (by identity: a value need
    # not be hashable, and ``rows`` keeps every one alive while this runs)
    processed: dict[tuple[str, int], Any] = {}
    params = []
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"rows for {table.name} must all have the columns {names}")
        values = []
        for name, process in zip(names, plan.processors, strict=True):
            value = row[name]
            if process is not None and value is not None:
                key = (name, id(value))
                if key not in processed:
                    processed[key] = process(value)
                value = processed[key]
            values.append(value)
        params.append(values)
    if not returning:
        with _cursor(connection, plan.sql) as cursor:
            cursor.executemany(plan.sql, params)
        return []
    found: list[tuple[Any, ...]] = []
    step = max(1, MOST_VARIABLES // len(names))
    for start in range(0, len(params), step):
        chunk = params[start : start + step]
        sql = plan.returning(len(chunk), returning)
        with _cursor(connection, sql) as cursor:
            cursor.execute(sql, [value for values in chunk for value in values])
            found += [tuple(row) for row in cursor.fetchall()]
    return found


@dataclass(frozen=True)
class _Plan:
    sql: str  # one row's INSERT
    head: str  # INSERT INTO t (a, b)
    one: str  # (?, ?)
    processors: tuple[Callable[[Any], Any] | None, ...]

    def returning(self, count: int, columns: Sequence[str]) -> str:
        return f"{self.head} VALUES {', '.join([self.one] * count)} RETURNING {', '.join(columns)}"


@lru_cache(maxsize=64)
def _plan(dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...]) -> _Plan:
    columns = [table.c[name] for name in names]  # a name that is not a column: KeyError
    preparer = dialect.identifier_preparer
    head = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(column) for column in columns)})"
    )
    one = f"({', '.join([mark(dialect)] * len(columns))})"
    # the dialect's own form of each type (its processors), as SQLAlchemy uses it
    processors = tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
    return _Plan(sql=f"{head} VALUES {one}", head=head, one=one, processors=processors)
