"""Claiming and settling email jobs: the email worker's statements, run for every job.

A job is claimed by one worker only: ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
LOCKED)`` on PostgreSQL, the same UPDATE guarded by ``state = 'queued'`` on SQLite (whose
transactions take the write lock when they begin, db.py). The claim is committed, ``in_flight``,
before the message is built and handed to the transport (``queue.py`` says what becomes of a
job left in flight).

The worker records how one job ended and claims the next in one transaction (``next_job``), and
reads a confirmation's subscriber in the claim's: one transaction per job instead of three, with
still one job in flight at a time; the statements are built once (bench/email_job_cpu.py).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from newsletter.email_jobs.queue import CONFIRMATION_KINDS, one_line, table
from newsletter.models import (
    EmailJobKind,
    EmailJobState,
    SubscriberStatus,
    subscriber_table,
    utcnow,
)

CLAIMED = (
    table.c.id, table.c.kind, table.c.subscriber_id, table.c.staff_id, table.c.payload,
    table.c.attempts, table.c.created_at,
)  # fmt: skip


@dataclass(frozen=True)
class Person:
    """A confirmation job's subscriber as they were when the job was claimed (read in the
    claim's transaction): what the email is built from."""

    id: int
    key: str
    email: str
    name: str
    status: SubscriberStatus


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: EmailJobKind
    subscriber_id: int | None
    staff_id: int | None
    payload: dict[str, Any]
    attempts: int  # this one included
    created_at: datetime
    person: Person | None = None  # a confirmation's subscriber; None: erased, or not read


@dataclass(frozen=True)
class Settled:
    """How a job in flight ended, to be recorded (``settle``, ``next_job``)."""

    job_id: int
    state: EmailJobState
    error: str = ""
    retry_at: datetime | None = None


# Built once: the worker runs them for every job, and building a statement costs more CPU
# than running it (the compiled form is cached by SQLAlchemy either way).
_CLAIM_SET = {
    "state": EmailJobState.in_flight.value,
    "attempts": table.c.attempts + 1,
    "claimed_at": sa.bindparam("now", type_=table.c.claimed_at.type),
    "claimed_by": sa.bindparam("worker", type_=table.c.claimed_by.type),
}
_PERSON = sa.select(
    subscriber_table.c.id, subscriber_table.c.key, subscriber_table.c.email,
    subscriber_table.c.name, subscriber_table.c.status,
).where(subscriber_table.c.id == sa.bindparam("subscriber_id"))  # fmt: skip
_SETTLE_WHERE = (
    table.c.id == sa.bindparam("job_id"),
    table.c.claimed_by == sa.bindparam("worker"),
    table.c.state == EmailJobState.in_flight.value,
)


@functools.cache
def _claim_statement(postgresql: bool, one: bool) -> sa.Update:
    """The oldest queued job due by ``:due_by`` (``one``: job ``:job_id`` only), in flight."""
    pick = sa.select(table.c.id).where(
        table.c.state == EmailJobState.queued.value,
        table.c.next_attempt_at <= sa.bindparam("due_by", type_=table.c.next_attempt_at.type),
    )
    if one:
        pick = pick.where(table.c.id == sa.bindparam("job_id"))
    pick = pick.order_by(table.c.next_attempt_at, table.c.id).limit(1)
    if postgresql:
        pick = pick.with_for_update(skip_locked=True)
    return (
        table.update()
        .where(table.c.id == pick.scalar_subquery())
        .where(table.c.state == EmailJobState.queued.value)
        .values(_CLAIM_SET)
        .returning(*CLAIMED)
    )


@functools.cache
def _settle_statement(state: EmailJobState) -> sa.Update:
    now = sa.bindparam("now", type_=table.c.finished_at.type)
    values: dict[str, Any] = {
        "state": state.value,
        "last_error": sa.bindparam("error", type_=table.c.last_error.type),
    }
    if state == EmailJobState.queued:
        values.update(
            next_attempt_at=sa.bindparam("retry_at", type_=table.c.next_attempt_at.type),
            claimed_by="",
        )
    else:
        values["finished_at"] = now
    if state in (EmailJobState.sent, EmailJobState.dropped):
        values["payload"] = ""
    return table.update().where(*_SETTLE_WHERE).values(values)


def claim(
    engine: sa.Engine, worker: str, *, due_by: datetime, job_id: int | None = None
) -> Claimed | None:
    """The oldest queued job due by ``due_by`` (or job ``job_id``, if queued), marked in flight
    for ``worker`` and committed; None when there is none."""
    return next_job(engine, worker, due_by=due_by, job_id=job_id)[1]


def settle(
    engine: sa.Engine,
    job_id: int,
    worker: str,
    state: EmailJobState,
    *,
    error: str = "",
    retry_at: datetime | None = None,
) -> bool:
    """How the worker's job in flight ended. ``queued`` with ``retry_at``: try again then. A
    sent or dropped job's payload (a sign-in link's token) is wiped. False when the job was no
    longer this worker's (another worker marked it uncertain: past the lease)."""
    settled = Settled(job_id, state, error, retry_at)
    mine, _ = next_job(engine, worker, due_by=utcnow(), settled=settled, claim=False)
    return bool(mine)


def next_job(
    engine: sa.Engine,
    worker: str,
    *,
    due_by: datetime,
    job_id: int | None = None,
    settled: Settled | None = None,
    claim: bool = True,
) -> tuple[bool | None, Claimed | None]:
    """In one short transaction: the worker's previous job ``settled`` (recorded as in
    ``settle``), then the next job claimed (as in ``claim``) with its subscriber read, when
    ``claim``. Returns whether the settled job was still this worker's (None: nothing to
    settle) and the job claimed, committed in flight before anything is sent, or None.

    One transaction per job instead of three: on SQLite each is a write lock taken and a
    commit; the job handed to the transport is still the only one in flight."""
    now = utcnow()
    mine: bool | None = None
    row: sa.Row[Any] | None = None
    person: Person | None = None
    with engine.begin() as connection:
        if settled is not None:
            mine = bool(
                connection.execute(
                    _settle_statement(settled.state),
                    {
                        "job_id": settled.job_id, "worker": worker, "now": now,
                        "error": one_line(settled.error), "retry_at": settled.retry_at or now,
                    },
                ).rowcount
            )  # fmt: skip
        if claim:
            postgresql = connection.dialect.name == "postgresql"
            statement = _claim_statement(postgresql, job_id is not None)
            values = {"now": now, "worker": worker, "due_by": due_by, "job_id": job_id}
            row = connection.execute(statement, values).first()
            person = _person(connection, row)
    if row is None:
        return mine, None
    payload = json.loads(row.payload) if row.payload else {}
    return mine, Claimed(
        row.id, EmailJobKind(row.kind), row.subscriber_id, row.staff_id,
        payload if isinstance(payload, dict) else {}, row.attempts, row.created_at, person,
    )  # fmt: skip


def _person(connection: sa.Connection, row: sa.Row[Any] | None) -> Person | None:
    """A confirmation job's subscriber, as they are now; None when erased or another kind."""
    if row is None or row.subscriber_id is None or row.kind not in CONFIRMATION_KINDS:
        return None
    found = connection.execute(_PERSON, {"subscriber_id": row.subscriber_id}).first()
    if found is None:
        return None
    return Person(found.id, found.key, found.email, found.name, SubscriberStatus(found.status))
