"""models/plain_sql.py: rows written as plain SQL are stored exactly as SQLAlchemy's own insert
stores them, failures are SQLAlchemy's exceptions, and RETURNING covers every row however many.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.models import (
    consent_table,
    email_job_table,
    status_event_table,
    subscriber_table,
)
from newsletter.models.plain_sql import MOST_VARIABLES, insert_many, rows_of

# not UTC on purpose: stored as UTC by the column type, on both paths
AT = datetime(2026, 11, 29, 23, 41, 9, 917771, tzinfo=timezone(timedelta(hours=2)))


def _person(n: int) -> dict[str, Any]:
    return {
        "key": f"{n:032x}",
        "email": f"p{n}@example.org",
        "email_key": f"p{n}@example.org",
        "name": f"Person {n}",
        "status": "pending",
        "created_at": AT,
        "confirmation_sent_at": AT + timedelta(seconds=n),
    }


def _stored(connection: sa.Connection, table: sa.Table, where: str, value: Any) -> tuple[Any, ...]:
    """The row as the database holds it (no SQLAlchemy type processing on the way out)."""
    columns = ", ".join(c.name for c in table.c if c.name not in ("id", "key"))
    sql = f"SELECT {columns} FROM {table.name} WHERE {where} = :value"
    return tuple(connection.execute(sa.text(sql), {"value": value}).one())


def test_rows_are_stored_as_sqlalchemys_insert_stores_them(engine):
    with engine.begin() as connection:
        (core,) = connection.execute(
            sa.insert(subscriber_table).returning(subscriber_table.c.id), [_person(1)]
        ).scalars()
        [(plain,)] = insert_many(connection, subscriber_table, [_person(2)], returning=["id"])
        # the same values on both paths, but for what must differ (the address, its key)
        core_row = _stored(connection, subscriber_table, "id", core)
        plain_row = _stored(connection, subscriber_table, "id", plain)
        differing = {"email", "email_key", "name", "confirmation_sent_at"}
        names = [c.name for c in subscriber_table.c if c.name not in ("id", "key")]
        for name, a, b in zip(names, core_row, plain_row, strict=True):
            if name not in differing:
                assert a == b and type(a) is type(b), name
        tables: list[tuple[sa.Table, dict[str, Any]]] = [
            (status_event_table, {"subscriber_id": plain, "at": AT, "from_status": None,
                                  "to_status": "pending", "reason": "signup"}),
            (consent_table, {"subscriber_id": plain, "at": AT, "source": "https://x.example/j",
                             "ip": "192.0.2.1", "user_agent": "UA", "text_version": "v1"}),
            (email_job_table, {"kind": "confirmation", "subscriber_id": plain, "staff_id": None,
                               "payload": "", "state": "queued", "attempts": 0,
                               "next_attempt_at": AT, "claimed_by": "", "last_error": "",
                               "created_at": AT}),
        ]  # fmt: skip
        for table, row in tables:
            connection.execute(sa.insert(table), [row])
            insert_many(connection, table, [row])
            both = connection.execute(
                sa.text(
                    f"SELECT {', '.join(c.name for c in table.c if c.name != 'id')} "
                    f"FROM {table.name} WHERE subscriber_id = :s ORDER BY id"
                ),
                {"s": plain},
            ).all()
            assert len(both) == 2 and both[0] == both[1], table.name
            assert all(type(a) is type(b) for a, b in zip(*both, strict=True)), table.name
        # read back through the models: the same aware UTC datetime that went in
        stored = connection.execute(
            sa.select(subscriber_table.c.created_at).where(subscriber_table.c.id == plain)
        ).scalar_one()
        assert stored == AT and stored.tzinfo == UTC


def test_returning_covers_every_row_past_one_statements_variables(engine):
    count = MOST_VARIABLES // len(_person(0)) * 2 + 3  # three statements
    with engine.begin() as connection:
        returned = insert_many(
            connection,
            subscriber_table,
            [_person(n) for n in range(count)],
            returning=("email_key", "id"),
        )
        stored = dict(rows_of(connection, "SELECT email_key, id FROM subscriber"))
    assert len(returned) == count and dict(returned) == stored


def test_a_failure_is_sqlalchemys_exception_and_rolls_back(engine):
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        insert_many(connection, subscriber_table, [_person(1)])
        insert_many(connection, subscriber_table, [_person(1)])  # the same unique key
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM subscriber")).scalar() == 0


def test_rows_must_share_their_columns(engine):
    other = {k: v for k, v in _person(2).items() if k != "name"}
    with pytest.raises(ValueError, match="must all have"), engine.begin() as connection:
        insert_many(connection, subscriber_table, [_person(1), other])
    with pytest.raises(KeyError), engine.begin() as connection:
        insert_many(connection, subscriber_table, [{"no_such_column": 1}])


def test_a_lost_connection_is_invalidated_as_for_any_statement(engine):
    """PostgreSQL: the server ends the session mid-transaction; the error says the connection
    was invalidated (the signup batch then treats the database as unavailable) and the pool
    does not hand that connection out again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a server that can end a session: PostgreSQL")
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as connection:
        pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        insert_many(connection, subscriber_table, [_person(1)])
    assert caught.value.connection_invalidated
    with engine.connect() as connection:  # a new connection: the dead one was thrown away
        assert connection.execute(sa.text("SELECT count(*) FROM subscriber")).scalar() == 0


def test_a_value_need_not_be_hashable(engine):
    """A JSON column's value (a list) goes through its type's processor like any other."""
    from newsletter.models import post_table

    row = {"slug": "s", "title": "T", "url": "https://x.example/s", "published_at": AT,
           "updated_at": AT, "categories": ["News"], "tags": ["a", "b"], "author": "",
           "summary": "", "html": "", "image_url": "", "image_alt": "", "source": "markdown",
           "source_id": "s", "content_hash": "h", "synced_at": AT}  # fmt: skip
    with engine.begin() as connection:
        insert_many(connection, post_table, [row])
        stored = connection.execute(sa.select(post_table.c.categories, post_table.c.tags)).one()
    assert (stored.categories, stored.tags) == (["News"], ["a", "b"])
