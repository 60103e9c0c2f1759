"""The email job table's operations: enqueue, recover, prune, list and retry (claim and settle:
``claims.py``).

Every change is one short transaction, so a process killed at any moment leaves the table
consistent. A job is claimed by one worker only: ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE
SKIP LOCKED)`` on PostgreSQL, the same UPDATE guarded by ``state = 'queued'`` on SQLite (whose
transactions take the write lock when they begin, db.py): ``claims.py``. The claim is
committed, ``in_flight``, before the message is built and handed to the transport; a job found
in flight after its worker died (or past ``email_job_lease``) becomes ``uncertain`` and is sent
again only when the operator asks (``newsletter jobs retry``): the send ledger's rule
(docs/sending.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.models import (
    EmailJobKind,
    EmailJobState,
    email_job_table,
    plain_sql,
    utcnow,
)
from newsletter.models.email_job import UNFINISHED
from newsletter.sending.recovery import worker_alive

ERROR_MAX = 500
DIED = "the worker died while this email was in flight: it may or may not have gone out"
CONFIRMATION_KINDS = (EmailJobKind.confirmation.value, EmailJobKind.reconfirm.value)
KEEP_FINISHED = timedelta(days=30)  # sent and dropped jobs are pruned after this
KEEP_SECRET = timedelta(days=1)  # a failed job's payload, after this (a sign-in link's life)
table = email_job_table


def one_line(text: str) -> str:
    return " ".join(text.split())[:ERROR_MAX]


def enqueue(
    connection: sa.Connection,
    kind: EmailJobKind,
    *,
    subscriber_id: int | None = None,
    staff_id: int | None = None,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> int:
    """A new queued job, in the caller's transaction; its id."""
    now = utcnow()
    inserted = connection.execute(
        table.insert().values(
            kind=kind.value,
            subscriber_id=subscriber_id,
            staff_id=staff_id,
            payload=json.dumps(payload) if payload else "",
            state=EmailJobState.queued.value,
            attempts=0,
            next_attempt_at=max(not_before or now, now),
            claimed_by="",
            last_error="",
            created_at=now,
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    return int(key[0])


def ask(session: Session, subscriber_id: int, kind: EmailJobKind, not_before: datetime) -> bool:
    """The confirmation email's job for a subscriber, in the caller's transaction
    (``subscribers.store.Ask``); False when one is already waiting (queued or in flight): a
    second signup during an outage does not bring a second email when the provider is back."""
    connection = session.connection()
    waiting = connection.execute(
        sa.select(table.c.id).where(
            table.c.subscriber_id == subscriber_id,
            table.c.kind.in_(CONFIRMATION_KINDS),
            table.c.state.in_(UNFINISHED),
        )
    ).first()
    if waiting is not None:
        return False
    enqueue(connection, kind, subscriber_id=subscriber_id, not_before=not_before)
    return True


def ask_new(
    connection: sa.Connection,
    subscriber_ids: Sequence[int],
    kind: EmailJobKind,
    not_before: datetime,
) -> None:
    """The confirmation emails' jobs of subscribers inserted in the caller's transaction
    (``subscribers.signup_batch.AskNew``): one executemany INSERT, no "already waiting" check
    (a subscriber just inserted has no job yet); plain SQL, as the signups' own rows."""
    if not subscriber_ids:
        return
    now = utcnow()
    job = {
        "kind": kind.value, "staff_id": None, "payload": "", "state": EmailJobState.queued.value,
        "attempts": 0, "next_attempt_at": max(not_before, now), "claimed_by": "",
        "last_error": "", "created_at": now,
    }  # fmt: skip
    plain_sql.insert_many(connection, table, [{**job, "subscriber_id": i} for i in subscriber_ids])


def ask_staff_link(engine: sa.Engine, staff_id: int, token: str, purpose: str) -> int:
    """The job of the email carrying a staff member's new sign-in link (``staff/links.py``).
    The token is kept in the payload until the email is sent or dropped."""
    with engine.begin() as connection:
        return enqueue(
            connection,
            EmailJobKind.staff_link,
            staff_id=staff_id,
            payload={"token": token, "purpose": purpose},
        )


def waiting_for(engine: sa.Engine, subscriber_id: int) -> int | None:
    """The id of the subscriber's confirmation job still queued, if any."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(table.c.id).where(
                table.c.subscriber_id == subscriber_id,
                table.c.kind.in_(CONFIRMATION_KINDS),
                table.c.state == EmailJobState.queued.value,
            )
        ).scalar()


def recover(engine: sa.Engine, *, lease: timedelta, own: str = "") -> int:
    """Jobs left in flight by a dead worker become uncertain; returns how many. A worker on
    this host is dead when its pid is gone; one elsewhere when its claim is older than
    ``lease`` (``sending/recovery.py``'s rule). ``own``: the calling worker, between two jobs,
    so a job still in flight under its name was left by a pass that failed half-way (say the
    database went away before the job was settled)."""
    now = utcnow()
    found = 0
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(table.c.id, table.c.claimed_by, table.c.claimed_at).where(
                table.c.state == EmailJobState.in_flight.value
            )
        ).all()
        for job_id, claimed_by, claimed_at in rows:
            alive = worker_alive(claimed_by)
            stale = claimed_at is None or claimed_at < now - lease
            if alive is False or (alive is None and stale) or (own and claimed_by == own):
                found += connection.execute(
                    table.update()
                    .where(table.c.id == job_id, table.c.state == EmailJobState.in_flight.value)
                    .values(state=EmailJobState.uncertain.value, last_error=DIED, finished_at=now)
                ).rowcount
    return found


def prune(engine: sa.Engine, *, keep: timedelta = KEEP_FINISHED) -> int:
    """Sent and dropped jobs older than ``keep`` are deleted; failed and uncertain ones stay
    until the operator retries them, their payload (a sign-in link's token) wiped after
    ``KEEP_SECRET``, when the link no longer works anyway. Returns how many were deleted."""
    now = utcnow()
    stuck = (EmailJobState.failed.value, EmailJobState.uncertain.value)
    with engine.begin() as connection:
        connection.execute(
            table.update()
            .where(
                table.c.state.in_(stuck),
                table.c.payload != "",
                table.c.finished_at < now - KEEP_SECRET,
            )
            .values(payload="")
        )
        return connection.execute(
            table.delete().where(
                table.c.state.in_((EmailJobState.sent.value, EmailJobState.dropped.value)),
                table.c.finished_at < now - keep,
            )
        ).rowcount


def counts(engine: sa.Engine) -> dict[str, int]:
    """Jobs per state, every state present."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.state, sa.func.count()).group_by(table.c.state)
        ).all()
    found = {str(state): int(n) for state, n in rows}
    return {state.value: found.get(state.value, 0) for state in EmailJobState}


@dataclass(frozen=True)
class Listed:
    id: int
    kind: str
    state: str
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    last_error: str


def listing(engine: sa.Engine, *states: EmailJobState, limit: int = 100) -> list[Listed]:
    """The newest jobs in ``states``, newest first."""
    columns = (
        table.c.id, table.c.kind, table.c.state, table.c.attempts, table.c.created_at,
        table.c.finished_at, table.c.last_error,
    )  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(*columns)
            .where(table.c.state.in_([s.value for s in states]))
            .order_by(table.c.id.desc())
            .limit(limit)
        ).all()
    return [Listed(*row) for row in rows]


def retry(engine: sa.Engine, *, job_ids: list[int] | None = None, failed: bool = False) -> int:
    """Failed or uncertain jobs back to queued, due now, their attempts counted from zero:
    ``job_ids``, or every failed one (``failed``). An uncertain job sent again may reach its
    person twice: only the operator decides that. Returns how many were queued again."""
    where: list[sa.ColumnElement[bool]] = [
        table.c.state.in_((EmailJobState.failed.value, EmailJobState.uncertain.value))
    ]
    if job_ids is not None:
        where.append(table.c.id.in_(job_ids))
    elif failed:
        where = [table.c.state == EmailJobState.failed.value]
    else:
        return 0
    with engine.begin() as connection:
        return connection.execute(
            table.update()
            .where(*where)
            .values(
                state=EmailJobState.queued.value,
                attempts=0,
                next_attempt_at=utcnow(),
                claimed_by="",
                finished_at=None,
            )
        ).rowcount
