"""Migration 0006 on a database that has lived under 0005: case duplicates merged (earliest
consent kept, full history, most restrictive status), every child row kept through SQLite's
table rebuild, subscriber ids never reused, and the merge said out loud. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from newsletter import db
from newsletter.models import UTCDateTime, subscriber_table
from tests.conftest import ROOT

T = UTCDateTime()
subscriber = sa.table(
    "subscriber",
    sa.column("id", sa.Integer()),
    *(sa.column(c, sa.String()) for c in ("key", "email", "name", "status")),
    *(sa.column(c, T) for c in ("created_at", "confirmed_at", "unsubscribed_at")),
)
consent = sa.table(
    "consent",
    sa.column("id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("at", T),
    *(sa.column(c, sa.String()) for c in ("source", "ip", "user_agent", "text_version")),
)
status_event = sa.table(
    "status_event",
    sa.column("id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("at", T),
    *(sa.column(c, sa.String()) for c in ("from_status", "to_status", "reason")),
)
send = sa.table(
    "send",
    sa.column("id", sa.Integer()),
    *(sa.column(c, sa.String()) for c in ("issue_slug", "kind", "live_slug", "status")),
    *(sa.column(c, sa.String()) for c in ("content_hash", "subject", "html", "text")),
    *(sa.column(c, sa.Integer()) for c in ("audience", "opens", "machine_opens", "clicks")),
    sa.column("last_error", sa.String()),
    sa.column("started_at", T),
)
delivery = sa.table(
    "delivery",
    sa.column("id", sa.Integer()),
    sa.column("send_id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    *(sa.column(c, sa.String()) for c in ("email", "status", "message_id", "last_error")),
    sa.column("claimed_by", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("updated_at", T),
)


def day(year: int, month: int = 1, d: int = 1) -> datetime:
    return datetime(year, month, d, 12, tzinfo=UTC)


# id, email, status, created (= first consent), confirmed_at, unsubscribed_at
PEOPLE = [
    (1, "Ann@example.org", "confirmed", day(2020), day(2020, 1, 2), None),
    (2, "ANN@example.org", "pending", day(2019), None, None),  # earliest consent: kept
    (3, "ann@example.org", "unsubscribed", day(2021), day(2021), day(2021, 6)),
    (4, "bo@example.org", "confirmed", day(2020), day(2020), None),  # nobody else
    (5, "Cy@example.org", "complained", day(2018), day(2018), None),
    (6, "cy@example.org", "confirmed", day(2022), day(2022), None),
    (7, "dee@münchen.de", "confirmed", day(2020), day(2020), None),
    (8, "Dee@XN--MNCHEN-3YA.de", "pending", day(2023), None, None),
]


def _old_database(database_url: str) -> sa.Engine:
    """A database at revision 0005 with case duplicates and rows in every child table."""
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0005")
    with engine.begin() as c:
        for pid, email, status, created, confirmed, unsubscribed in PEOPLE:
            c.execute(
                subscriber.insert().values(
                    id=pid, key=f"{pid:032x}", email=email, name=f"Person {pid}", status=status,
                    created_at=created, confirmed_at=confirmed, unsubscribed_at=unsubscribed,
                )
            )  # fmt: skip
            c.execute(
                consent.insert().values(
                    id=pid, subscriber_id=pid, at=created, source=f"form {pid}", ip="192.0.2.1",
                    user_agent="UA", text_version="1",
                )
            )  # fmt: skip
            c.execute(
                status_event.insert().values(
                    id=pid, subscriber_id=pid, at=created, from_status=None, to_status=status,
                    reason=f"event of {pid}",
                )
            )  # fmt: skip
        for sid, slug, state in ((1, "2016-q2", "finished"), (2, "2016-q3", "sending")):
            c.execute(
                send.insert().values(
                    id=sid, issue_slug=slug, kind="live", live_slug=slug, status=state,
                    content_hash="h", subject="s", html="h", text="t", audience=3, opens=0,
                    machine_opens=0, clicks=0, last_error="", started_at=day(2024),
                )
            )  # fmt: skip
        # send 1 reached Ann twice (ids 1 and 3) and Bo; send 2 has Ann (1, 3) and Bo pending
        rows = [(1, 1, 1, "delivered"), (2, 1, 3, "accepted"), (3, 1, 4, "delivered"),
                (4, 2, 1, "pending"), (5, 2, 3, "pending"), (6, 2, 4, "pending")]  # fmt: skip
        for did, sid, pid, state in rows:
            c.execute(
                delivery.insert().values(
                    id=did, send_id=sid, subscriber_id=pid, email="", status=state,
                    message_id="", last_error="", claimed_by="", attempts=0, updated_at=day(2024),
                )
            )  # fmt: skip
        if c.dialect.name == "postgresql":  # explicit ids leave the sequences behind
            for table in ("subscriber", "consent", "status_event", "send", "delivery"):
                c.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
    return engine


@pytest.fixture
def old(database_url: str) -> Iterator[sa.Engine]:
    engine = _old_database(database_url)
    yield engine
    engine.dispose()


def _all(engine: sa.Engine, query: sa.Select[Any]) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(query))


def test_case_duplicates_are_merged_keeping_consent_history_and_the_strictest_status(old, caplog):
    engine = old
    with caplog.at_level(logging.WARNING, logger="newsletter.migrations"):
        db.upgrade(engine)
    people = {r.id: r for r in _all(engine, sa.select(subscriber_table))}
    assert sorted(people) == [2, 4, 5, 7]
    ann, bo, cy, dee = people[2], people[4], people[5], people[7]
    assert (ann.email, ann.email_key, ann.status) == (
        "ANN@example.org", "ann@example.org", "unsubscribed"
    )  # fmt: skip
    assert (ann.confirmed_at, ann.unsubscribed_at) == (day(2020, 1, 2), day(2021, 6))
    assert (bo.email_key, bo.status) == ("bo@example.org", "confirmed")
    assert (cy.email, cy.status) == ("Cy@example.org", "complained")
    assert (dee.email_key, dee.status) == ("dee@münchen.de", "confirmed")

    consents = _all(engine, sa.select(consent.c.subscriber_id, consent.c.source))
    assert sorted(s for p, s in consents if p == 2) == ["form 1", "form 2", "form 3"]
    assert sorted(s for p, s in consents if p == 4) == ["form 4"]
    events = _all(engine, sa.select(status_event.c.subscriber_id, status_event.c.reason))
    ann_events = sorted(r for p, r in events if p == 2)
    assert ann_events[:3] == ["event of 1", "event of 2", "event of 3"]
    assert ann_events[3].startswith("merged subscribers 1, 3")
    assert [r for p, r in events if p == 4] == ["event of 4"]

    found = _all(
        engine,
        sa.select(delivery.c.id, delivery.c.send_id, delivery.c.subscriber_id, delivery.c.status,
                  delivery.c.last_error).order_by(delivery.c.id),
    )  # fmt: skip
    by_id = {r.id: r for r in found}
    assert (by_id[1].subscriber_id, by_id[1].status) == (2, "delivered")  # one per send
    assert (by_id[2].subscriber_id, by_id[2].status) == (None, "accepted")
    assert "merged into subscriber 2" in by_id[2].last_error
    assert (by_id[4].subscriber_id, by_id[4].status) == (2, "pending")
    assert (by_id[5].subscriber_id, by_id[5].status) == (None, "skipped")
    assert by_id[3].subscriber_id == by_id[6].subscriber_id == 4  # Bo untouched

    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            assert list(c.exec_driver_sql("PRAGMA foreign_key_check")) == []
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "merged 3 subscribers with the address ANN@example.org" in said
    assert "#1 Ann@example.org" in said and "#3 ann@example.org" in said
    assert "merged 4 duplicate subscribers" in said


def test_the_unique_key_refuses_a_second_case_of_an_address(engine):
    row = {"key": "a" * 32, "email": "Eve@example.org", "email_key": "eve@example.org",
           "name": "", "status": "pending", "created_at": day(2024)}  # fmt: skip
    table = sa.table("subscriber", *(sa.column(c) for c in row))
    with engine.begin() as c:
        c.execute(table.insert().values(**row))
    other = {**row, "key": "b" * 32, "email": "eve@example.org"}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as c:
        c.execute(table.insert().values(**other))


def test_subscriber_ids_are_never_reused(old):
    engine = old
    db.upgrade(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            ddl = c.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'subscriber'")
            ).scalar_one()
        assert "AUTOINCREMENT" in ddl
    row = {"key": "f" * 32, "email": "new@example.org", "email_key": "new@example.org",
           "name": "", "status": "pending", "created_at": day(2024)}  # fmt: skip
    table = sa.table("subscriber", *(sa.column(c) for c in ("id", *row)))
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM subscriber WHERE id = 7"))  # the highest id
        new_id = c.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()
    assert new_id > 7


def test_db_upgrade_says_what_it_merged(database_url, tmp_path):
    _old_database(database_url).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env |= {"NEWSLETTER_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"database at revision {db.head_revision()}" in done.stdout  # 0006 and on
    assert "merged 3 subscribers with the address ANN@example.org" in done.stderr
    assert "Traceback" not in done.stderr


def test_down_and_up_again_keeps_every_child_row(old):
    db.upgrade(old)

    def counts() -> list[int]:
        with old.connect() as c:
            return [
                c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("subscriber", "consent", "status_event", "delivery")
            ] + [
                c.execute(
                    sa.text("SELECT count(*) FROM delivery WHERE subscriber_id IS NOT NULL")
                ).scalar_one()
            ]

    merged = counts()
    assert merged == [4, 8, 11, 6, 4]
    with old.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0005")
    assert counts() == merged
    db.upgrade(old)
    assert counts() == merged
