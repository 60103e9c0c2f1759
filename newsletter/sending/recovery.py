"""What a crash left behind in the send ledger: rows a dead worker had in flight.

A worker's id is ``host:pid:random`` (``ledger.worker_id``). A later run on the same host can see
whether that pid is gone; a worker on another host is taken for dead once its claim is older than
the in-flight lease (``send_inflight_lease``). Its rows become ``uncertain``: the transport may
or may not have taken them, so they are sent again only when the operator asks.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from newsletter.models import DeliveryStatus, SendStatus, delivery_table, send_table, utcnow

DIED = "the sending process died while this batch was in flight"


def worker_alive(claimed_by: str) -> bool | None:
    """True/False for a worker on this host; None when it ran elsewhere (unknowable here)."""
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(int(pid_text))


def _zombie(pid: int) -> bool:
    """A process that died but was not reaped yet (a sending process whose parent was killed
    with it, until init collects it) still answers ``kill 0``: Linux says so in /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def recover(engine: sa.Engine, send_id: int, *, lease: timedelta, resend_uncertain: bool) -> int:
    """Rows left in flight by a dead worker become uncertain; returns how many.

    A worker on this host is dead when its pid is gone; one elsewhere when its claim is older
    than ``lease``. With ``resend_uncertain`` every uncertain row goes back to pending.
    """
    now = utcnow()
    orphaned = 0
    with engine.connect() as connection, connection.begin():
        rows = connection.execute(
            sa.select(delivery_table.c.claimed_by, delivery_table.c.claimed_at)
            .where(
                delivery_table.c.send_id == send_id,
                delivery_table.c.status == DeliveryStatus.in_flight.value,
            )
            .distinct()
        ).all()
        for claimed_by, claimed_at in rows:
            alive = worker_alive(claimed_by)
            stale = claimed_at is None or claimed_at < now - lease
            if alive is False or (alive is None and stale):
                orphaned += connection.execute(
                    delivery_table.update()
                    .where(
                        delivery_table.c.send_id == send_id,
                        delivery_table.c.status == DeliveryStatus.in_flight.value,
                        delivery_table.c.claimed_by == claimed_by,
                    )
                    .values(
                        status=DeliveryStatus.uncertain.value,
                        last_error=DIED,
                        updated_at=now,
                    )
                ).rowcount
        if resend_uncertain:
            reopened = connection.execute(
                delivery_table.update()
                .where(
                    delivery_table.c.send_id == send_id,
                    delivery_table.c.status == DeliveryStatus.uncertain.value,
                )
                .values(status=DeliveryStatus.pending.value, updated_at=now)
            )
            if reopened.rowcount:  # a finished send has work again: send-due resumes it too
                connection.execute(
                    send_table.update()
                    .where(send_table.c.id == send_id)
                    .where(send_table.c.status == SendStatus.finished.value)
                    .values(status=SendStatus.sending.value, finished_at=None)
                )
    return orphaned
