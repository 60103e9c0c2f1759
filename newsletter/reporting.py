"""`newsletter report ISSUE`: per send, who was reached and who was not, and why."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.ledger import D
from newsletter.models import DeliveryStatus, Send

COUNTED = ("accepted", "failed", "uncertain", "skipped", "pending", "in_flight")


def report(session: Session, slug: str) -> list[dict[str, Any]]:
    """One dict per send of the issue, oldest first; keys named after the ledger's words."""
    rows = []
    for send in sends_of(session, slug):
        assert send.id is not None
        counts = tally(session, send.id)
        row: dict[str, Any] = {
            "send_id": send.id,
            "issue": send.issue_slug,
            "kind": send.kind.value if hasattr(send.kind, "value") else str(send.kind),
            "status": str(send.status),
            "started_at": send.started_at.isoformat(timespec="seconds"),
            "finished_at": send.finished_at.isoformat(timespec="seconds")
            if send.finished_at
            else None,
            "audience": send.audience,
        }
        for status in COUNTED:
            row[status] = sum(counts.get(status, {}).values())
        row["reasons"] = {
            status: {reason: n for reason, n in counts.get(status, {}).items() if reason}
            for status in (DeliveryStatus.failed, DeliveryStatus.uncertain, DeliveryStatus.skipped)
            if counts.get(status)
        }
        row["last_error"] = send.last_error
        rows.append(row)
    return rows


def sends_of(session: Session, slug: str) -> list[Send]:
    return list(
        session.exec(select(Send).where(Send.issue_slug == slug).order_by(col(Send.started_at)))
    )


def tally(session: Session, send_id: int) -> dict[str, dict[str, int]]:
    """status -> {reason: count} for one send (reason is '' for rows without an error)."""
    rows = session.execute(
        sa.select(D.c.status, D.c.last_error, sa.func.count())
        .where(D.c.send_id == send_id)
        .group_by(D.c.status, D.c.last_error)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for status, reason, count in rows:
        counts.setdefault(str(status), {})[str(reason or "")] = int(count)
    return counts
