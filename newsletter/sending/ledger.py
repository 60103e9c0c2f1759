"""The send ledger: a Send and one Delivery per recipient, the source of truth of who got what.

Every state change is one short transaction, so a process killed at any moment leaves the ledger
consistent: a batch is ``in_flight`` from just before it is handed to the transport until the
transport answers. Rows left ``in_flight`` by a dead worker become ``uncertain``
(``recovery.py``), and are sent again only when the operator asks.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, select

from newsletter.errors import SendError
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Send,
    SendKind,
    SendStatus,
    SubscriberStatus,
    delivery_table,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers.address import sendable


def worker_id() -> str:
    """host:pid:random, so a later run can tell whether the worker that claimed rows is alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Content:
    """What a send delivers: the compiled issue's subject and parts, and their hash."""

    issue_slug: str
    subject: str
    html: str
    text: str
    content_hash: str


def live_send(session: Session, slug: str) -> Send | None:
    return session.exec(select(Send).where(Send.live_slug == slug)).first()


def start_live(
    engine: sa.Engine,
    content: Content,
    *,
    allow_changed: bool = False,
    transport: str = "",
    started_by: str = "",
    clear_stop: bool = True,
) -> Send:
    """The issue's live send: created with its audience fixed now, or the existing one resumed.

    Resuming refuses when the issue compiles differently from what was already sent to part of
    the list, unless ``allow_changed``. ``transport`` names the transport this run uses; a send
    resumed through another one lists both (``outbox + sendgrid``). ``started_by`` is recorded
    on a new send; ``clear_stop`` (a deliberate run) takes back a stop request.
    """
    with Session(engine, expire_on_commit=False) as session:
        existing = live_send(session, content.issue_slug)
        if existing is None:
            try:
                return _create_live(session, content, transport, started_by)
            except sa.exc.IntegrityError:  # another process started it a moment ago
                session.rollback()
                existing = live_send(session, content.issue_slug)
                assert existing is not None
        if existing.content_hash != content.content_hash and not allow_changed:
            raise SendError(
                f"{content.issue_slug} has changed since its send started on "
                f"{existing.started_at:%Y-%m-%d %H:%M} UTC; some subscribers got the earlier "
                "version. Resume with the new version only if that is intended (--allow-changed)"
            )
        if existing.content_hash != content.content_hash:
            existing.content_hash = content.content_hash
            existing.subject, existing.html, existing.text = (
                content.subject,
                content.html,
                content.text,
            )
        existing.transport = with_transport(existing.transport, transport)
        if clear_stop:
            existing.stop_requested_at = None
        if existing.status == SendStatus.stopped and existing.stop_requested_at is None:
            existing.status = SendStatus.sending
        session.add(existing)
        session.commit()
        return existing


def with_transport(used: str, transport: str) -> str:
    """The ``send.transport`` value once ``transport`` has been used too."""
    names = [n for n in used.split(" + ") if n]
    return " + ".join(names if transport in names or not transport else [*names, transport])[:60]


def _create_live(session: Session, content: Content, transport: str, started_by: str) -> Send:
    now = utcnow()
    send = _new_send(content, SendKind.live, now, transport)
    send.started_by = started_by[:320]
    send.live_slug = content.issue_slug
    session.add(send)
    session.flush()
    audience = (
        sa.select(
            sa.literal(send.id),
            subscriber_table.c.id,
            sa.literal(DeliveryStatus.pending.value),
            sa.literal(now, type_=delivery_table.c.updated_at.type),
        )
        .where(subscriber_table.c.status == SubscriberStatus.confirmed.value)
        .order_by(subscriber_table.c.id)
    )  # one row per person: subscriber.email_key is unique (no one twice in a request)
    session.execute(
        delivery_table.insert().from_select(
            ["send_id", "subscriber_id", "status", "updated_at"], audience
        )
    )
    send.audience = session.execute(
        sa.select(sa.func.count())
        .select_from(delivery_table)
        .where(delivery_table.c.send_id == send.id)
    ).scalar_one()
    session.add(send)
    session.commit()
    _analyse(session)
    return send


def _analyse(session: Session) -> None:
    """PostgreSQL: fresh statistics once a send's audience is written. Without them the
    planner still takes the table for nearly empty, and with a million new rows it read the
    whole send for every claim and every settle (a bitmap scan of ix_delivery_send_status,
    450 ms and 190 ms each, growing as the send went on). Best effort: a database user that
    may not analyse the table still sends, only slower."""
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        session.execute(sa.text("ANALYZE delivery"))
        session.commit()
    except sa.exc.DBAPIError:
        session.rollback()


def _new_send(content: Content, kind: SendKind, now: datetime, transport: str) -> Send:
    return Send(
        transport=transport,
        issue_slug=content.issue_slug,
        kind=kind,
        status=SendStatus.sending,
        content_hash=content.content_hash,
        subject=content.subject,
        html=content.html,
        text=content.text,
        started_at=now,
    )


def start_test(
    engine: sa.Engine,
    content: Content,
    addresses: Sequence[str],
    transport: str = "",
    *,
    started_by: str = "",
) -> Send:
    """A proof to any addresses; recorded, never counted as the live send."""
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        send = _new_send(content, SendKind.test, now, transport)
        send.started_by = started_by[:320]
        send.audience = len(addresses)
        session.add(send)
        session.flush()
        assert send.id is not None
        for address in addresses:
            session.add(
                Delivery(
                    send_id=send.id, email=address, status=DeliveryStatus.pending, updated_at=now
                )
            )
        session.commit()
        return send


@dataclass(frozen=True)
class Claimed:
    """One recipient of a claimed batch."""

    delivery_id: int
    subscriber_id: int | None
    email: str
    name: str
    key: str


@dataclass(frozen=True)
class Batch:
    """What one claim took: recipients to send to now, and how many were skipped instead."""

    recipients: list[Claimed]
    skipped: int
    last: int = 0  # the highest row id the claim took (sent or skipped): where the next begins

    def __bool__(self) -> bool:
        return bool(self.recipients or self.skipped)


def claim(engine: sa.Engine, send_id: int, worker: str, size: int, *, after: int = 0) -> Batch:
    """Mark the next ``size`` pending rows in flight for ``worker``, and return them.

    Recipients whose status is no longer confirmed are skipped here, just before their batch.
    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several workers claim side by side. SQLite:
    ``BEGIN IMMEDIATE`` makes the claim exclusive.

    ``after``: only rows with a higher id (the ``last`` of this worker's previous batch), so a
    claim starts where the last one ended instead of stepping over every row already sent (in
    id order, PostgreSQL walked the whole sent part of the list on every claim: quadratic). A
    row below it that became pending again (a batch put back) is found by a claim from 0, which
    the sender makes before it ends.
    """
    now = utcnow()
    their_subscriber = delivery_table.c.subscriber_id == subscriber_table.c.id
    with engine.connect() as connection, connection.begin():
        pick = (
            sa.select(
                delivery_table.c.id,
                delivery_table.c.subscriber_id,
                delivery_table.c.email,
                subscriber_table.c.email,
                subscriber_table.c.name,
                subscriber_table.c.key,
                subscriber_table.c.status,
            )
            .select_from(delivery_table.outerjoin(subscriber_table, their_subscriber))
            .where(
                delivery_table.c.send_id == send_id,
                delivery_table.c.status == DeliveryStatus.pending.value,
                delivery_table.c.id > after,
            )
            .order_by(delivery_table.c.id)
            .limit(size)
        )
        if connection.dialect.name == "postgresql":
            pick = pick.with_for_update(of=delivery_table, skip_locked=True)
        rows = connection.execute(pick).all()
        if not rows:
            return Batch([], 0)
        claimed, skipped = _split(rows)
        for reason, skip_ids in skipped.items():
            connection.execute(
                delivery_table.update()
                .where(delivery_table.c.id.in_(skip_ids))
                .values(status=DeliveryStatus.skipped.value, last_error=reason, updated_at=now)
            )
        if claimed:
            connection.execute(
                delivery_table.update()
                .where(_among(claimed, send_id, connection.dialect.name))
                .values(
                    status=DeliveryStatus.in_flight.value,
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=delivery_table.c.attempts + 1,
                    updated_at=now,
                )
            )
    return Batch(claimed, sum(len(v) for v in skipped.values()), rows[-1][0])


def _among(claimed: list[Claimed], send_id: int, dialect: str) -> sa.ColumnElement[bool]:
    """The claimed rows, without a thousand bind parameters.

    PostgreSQL: ``id = ANY(:ids)``, one array (other workers may hold rows in between, so the
    ids are listed exactly). SQLite: the id range of the batch among this send's pending rows,
    which under BEGIN IMMEDIATE (no other writer) are exactly the rows just selected, since the
    skipped ones were marked first.
    """
    ids = [c.delivery_id for c in claimed]
    if dialect == "postgresql":
        array = sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Integer))
        return delivery_table.c.id == sa.any_(array)
    return sa.and_(
        delivery_table.c.send_id == send_id,
        delivery_table.c.status == DeliveryStatus.pending.value,
        delivery_table.c.id.between(ids[0], ids[-1]),
    )


def _split(rows: Sequence[Any]) -> tuple[list[Claimed], dict[str, list[int]]]:
    claimed: list[Claimed] = []
    skipped: dict[str, list[int]] = {}
    confirmed = SubscriberStatus.confirmed.value  # looked up once, not per row
    for delivery_id, subscriber_id, test_email, email, name, key, status in rows:
        if subscriber_id is None and not test_email:
            skipped.setdefault("erased before their batch", []).append(delivery_id)
        elif subscriber_id is not None and status != confirmed:
            skipped.setdefault(f"{status} before their batch", []).append(delivery_id)
        elif (address := sendable(email or test_email)) is None:  # IDN domain: punycode
            skipped.setdefault("not ASCII before the @: cannot be sent", []).append(delivery_id)
        else:
            claimed.append(Claimed(delivery_id, subscriber_id, address, name or "", key or ""))
    return claimed, skipped


def settle(
    engine: sa.Engine,
    send_id: int,
    worker: str,
    status: DeliveryStatus,
    *,
    message_id: str = "",
    error: str = "",
) -> None:
    """Record how the worker's batch in flight ended: accepted, failed, uncertain, or pending.

    A worker has one batch in flight at a time, so its in-flight rows are exactly that batch.
    """
    with engine.begin() as connection:
        connection.execute(
            delivery_table.update()
            .where(
                delivery_table.c.send_id == send_id,
                delivery_table.c.claimed_by == worker,
                delivery_table.c.status == DeliveryStatus.in_flight.value,
            )
            .values(
                status=status.value,
                message_id=message_id,
                last_error=error[:1000],
                claimed_by="" if status == DeliveryStatus.pending else delivery_table.c.claimed_by,
                updated_at=utcnow(),
            )
        )


def count(engine: sa.Engine, send_id: int, *statuses: DeliveryStatus) -> int:
    """How many of a send's rows have one of ``statuses``.

    Pending ones are what a resumed send would still try; pending plus in-flight ones are
    what keeps a send from being finished.
    """
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(delivery_table)
                .where(
                    delivery_table.c.send_id == send_id,
                    delivery_table.c.status.in_([s.value for s in statuses]),
                )
            ).scalar_one()
        )


def confirmed_count(engine: sa.Engine) -> int:
    """The audience a live send started now would have."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(subscriber_table)
                .where(subscriber_table.c.status == SubscriberStatus.confirmed.value)
            ).scalar_one()
        )


def close(engine: sa.Engine, send_id: int, status: SendStatus, error: str = "") -> None:
    with Session(engine) as session:
        send = session.get(Send, send_id)
        if send is None:
            return
        send.status = status
        send.last_error = error
        send.finished_at = utcnow() if status == SendStatus.finished else None
        session.add(send)
        session.commit()
