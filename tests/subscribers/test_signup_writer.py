"""The web app's signup writer when the database cannot be written: a real SQLite file whose
write lock another connection holds (a backup, a long migration). Every request waiting is
answered with the error, within about one ``busy_timeout`` per batch (not one per signup), the
writer goes on with the signups behind a failed batch, and once the lock is gone the later
signups are written, each with its confirmation job."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter import db
from newsletter.email_jobs import queue
from newsletter.models import email_job_table, subscriber_table
from newsletter.subscribers import store
from newsletter.subscribers.signup_batch import Wanted, unavailable
from newsletter.web.signup_writer import SignupWriter

FORM = store.ConsentInfo(source="https://example.org/form")
BUSY_MS = 200  # this engine's busy_timeout (the project's is 30 s)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[sa.Engine, Path]]:
    path = tmp_path / "subscribers.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)

    def short_wait(connection: Any, _record: Any) -> None:  # after the project's pragmas
        connection.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    sa.event.listen(engine, "connect", short_wait)
    engine.dispose()  # connections from now on wait BUSY_MS for a lock
    yield engine, path
    engine.dispose()


def _locked(path: Path) -> sqlite3.Connection:
    """Another connection holding the database's write lock until it rolls back."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def _wanted(n: int) -> Wanted:
    return Wanted(f"person{n}@example.org", f"Person {n}", FORM)


def _written(engine: sa.Engine) -> tuple[set[str], int]:
    with engine.connect() as connection:
        emails = set(connection.execute(sa.select(subscriber_table.c.email)).scalars())
        jobs = connection.execute(sa.select(sa.func.count()).select_from(email_job_table))
        return emails, int(jobs.scalar_one())


async def _signups(writer: SignupWriter, numbers: range) -> list[bool | BaseException]:
    asked = [writer.signup(_wanted(n)) for n in numbers]
    # no request may hang: all of them answered well within this
    return await asyncio.wait_for(asyncio.gather(*asked, return_exceptions=True), timeout=20)


def test_a_locked_database_answers_every_waiting_signup_and_later_ones_are_written(
    database: tuple[sa.Engine, Path],
) -> None:
    engine, path = database
    blocker = _locked(path)

    async def scenario() -> tuple[list[bool | BaseException], float, list[bool | BaseException]]:
        writer = SignupWriter(engine, queue.ask, queue.ask_new, writers=1, most=4)
        start = time.monotonic()
        failed = await _signups(writer, range(12))  # three batches of four, all refused
        took = time.monotonic() - start
        assert writer.busy == 0 and not writer.waiting  # nothing left without a writer
        blocker.rollback()  # the lock is gone
        later = await _signups(writer, range(100, 103))
        return failed, took, later

    try:
        failed, took, later = asyncio.run(scenario())
    finally:
        blocker.close()
    assert all(isinstance(o, sa.exc.OperationalError) for o in failed), failed
    assert all(unavailable(o) for o in failed if isinstance(o, Exception))
    # one busy_timeout per batch; one by one would have been one per signup (12 × 30 s live)
    assert took < 12 * BUSY_MS / 1000, took
    assert later == [True, True, True]
    emails, jobs = _written(engine)
    assert emails == {f"person{n}@example.org" for n in range(100, 103)}
    assert jobs == 3


def test_the_writer_goes_on_after_a_failed_batch_with_the_signups_behind_it(
    database: tuple[sa.Engine, Path],
) -> None:
    """The lock goes away while signups still wait behind a refused batch: those are written
    without any new signup arriving to start a writer."""
    engine, path = database
    blocker = _locked(path)

    async def scenario() -> list[bool | BaseException]:
        writer = SignupWriter(engine, queue.ask, queue.ask_new, writers=1, most=4)
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, blocker.rollback)  # after the first batch was refused
        outcomes = await _signups(writer, range(40))
        assert writer.busy == 0 and not writer.waiting
        return outcomes

    try:
        outcomes = asyncio.run(scenario())
    finally:
        blocker.close()
    refused = [n for n, o in enumerate(outcomes) if isinstance(o, sa.exc.OperationalError)]
    written = [n for n, o in enumerate(outcomes) if o is True]
    assert refused[:4] == [0, 1, 2, 3]  # the first batch met the lock
    assert written and sorted(refused + written) == list(range(40))
    emails, jobs = _written(engine)
    assert emails == {f"person{n}@example.org" for n in written}
    assert jobs == len(written)


def test_a_conflict_between_transactions_is_not_unavailability() -> None:
    class OperationalError(Exception):  # a driver's, as DB-API 2 names it
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    deadlock = OperationalError("40P01")  # one signup per transaction may avoid it
    assert unavailable(sa.exc.OperationalError("INSERT", {}, OperationalError("57P03")))
    assert not unavailable(sa.exc.OperationalError("INSERT", {}, deadlock))
    assert not unavailable(sa.exc.OperationalError("INSERT", {}, Exception("not the driver's")))

    assert unavailable(sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("locked")))
    assert not unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("unique")))
