"""Stop requests: the dashboard's Stop asks a live send to stop after the batch in flight.

The request is ``send.stop_requested_at``. Every worker of a Sender checks it between batches
(``stop_requested``), so the send stops after the batch it has in flight; what was not sent stays
pending, and the send is resumable as any stopped send. ``send-due`` (cron's or the server's)
leaves a stop-requested send alone; a deliberate run (``newsletter send``, the dashboard's Resume)
takes the request back (``ledger.start_live(clear_stop=True)``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.models import DeliveryStatus, Send, SendStatus, send_table, utcnow
from newsletter.sending.ledger import count, live_send


def request_stop(engine: sa.Engine, slug: str, *, now: datetime | None = None) -> Send | None:
    """Ask the issue's live send to stop after the batch in flight (every worker checks between
    batches); None when it has no live send, or it is finished. With no batch in flight it is
    stopped at once. A run started deliberately (``newsletter send``, the dashboard's Resume)
    takes the request back; send-due's does not."""
    with Session(engine) as session:
        found = live_send(session, slug)
        send_id = found.id if found is not None else None
    if send_id is None:
        return None
    idle = not count(engine, send_id, DeliveryStatus.in_flight)
    with Session(engine, expire_on_commit=False) as session:
        send = session.get(Send, send_id)
        if send is None or send.status == SendStatus.finished:
            return None
        if send.stop_requested_at is None:
            send.stop_requested_at = now or utcnow()
        if idle:  # a worker between two batches stops at its next check, and says so again
            send.status, send.last_error = SendStatus.stopped, "stopped on request"
        session.add(send)
        session.commit()
        return send


def stop_requested(engine: sa.Engine, send_id: int) -> bool:
    with engine.connect() as connection:
        at = connection.execute(
            sa.select(send_table.c.stop_requested_at).where(send_table.c.id == send_id)
        ).scalar_one_or_none()
    return at is not None
