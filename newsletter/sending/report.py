"""`newsletter report ISSUE`: per send, who was reached and who was not, and why.

Delivery counts are by the row's current status, so they add up to the audience: ``accepted``
rows are those SendGrid took and has said nothing more about yet; the Event Webhook moves them on
to deferred, delivered, soft_bounced, bounced or dropped. ``complaints`` and ``unsubscribes``
count the send's recipients who complained or unsubscribed (by any route) after it started and
before the issue's next send started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import Send, SendKind, SubscriberStatus, delivery_table, status_event_table

COUNTED = (
    "accepted", "delivered", "deferred", "soft_bounced", "bounced", "dropped",
    "failed", "uncertain", "skipped", "pending", "in_flight",
)  # fmt: skip
WITH_REASONS = ("failed", "uncertain", "skipped", "soft_bounced", "bounced", "dropped", "deferred")


def report(session: Session, slug: str, *, engagement: bool = False) -> list[dict[str, Any]]:
    """One dict per send of the issue, oldest first; keys named after the ledger's words.

    ``engagement`` adds opens, machine_opens and clicks (counted when track_engagement is on).
    """
    rows = []
    for send in sends_of(session, slug):
        assert send.id is not None
        row = _head(send)
        counts = tally(session, send.id)
        for status in COUNTED:
            row[status] = sum(counts.get(status, {}).values())
        row["reasons"] = {
            status: {reason: n for reason, n in counts.get(status, {}).items() if reason}
            for status in WITH_REASONS
            if counts.get(status)
        }
        row.update(list_changes(session, send, _next_live_start(session, send)))
        row["uncertain_settled"] = settled(session, send.id)
        row["uncertain_remaining"] = row["uncertain"]
        if engagement:
            row.update(opens=send.opens, machine_opens=send.machine_opens, clicks=send.clicks)
        row["last_error"] = send.last_error
        rows.append(row)
    return rows


def _head(send: Send) -> dict[str, Any]:
    return {
        "send_id": send.id,
        "issue": send.issue_slug,
        "kind": send.kind.value if hasattr(send.kind, "value") else str(send.kind),
        "status": str(send.status),
        "transport": send.transport,
        "started_at": send.started_at.isoformat(timespec="seconds"),
        "finished_at": send.finished_at.isoformat(timespec="seconds") if send.finished_at else None,
        "audience": send.audience,
    }


def sends_of(session: Session, slug: str) -> list[Send]:
    return list(
        session.exec(select(Send).where(Send.issue_slug == slug).order_by(col(Send.started_at)))
    )


def tally(session: Session, send_id: int) -> dict[str, dict[str, int]]:
    """status -> {reason: count} for one send (reason is '' for rows without an error)."""
    rows = session.execute(
        sa.select(delivery_table.c.status, delivery_table.c.last_error, sa.func.count())
        .where(delivery_table.c.send_id == send_id)
        .group_by(delivery_table.c.status, delivery_table.c.last_error)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for status, reason, count in rows:
        counts.setdefault(str(status), {})[str(reason or "")] = int(count)
    return counts


def _next_live_start(session: Session, send: Send) -> datetime | None:
    """When the next issue's live send started: later changes are that issue's doing."""
    query = select(sa.func.min(Send.started_at)).where(
        Send.kind == SendKind.live, Send.started_at > send.started_at
    )
    return session.exec(query).first()


def settled(session: Session, send_id: int) -> int:
    """Rows left uncertain by a crash that SendGrid's events have since settled."""
    query = sa.select(sa.func.count()).where(
        delivery_table.c.send_id == send_id, delivery_table.c.settled_at.is_not(None)
    )
    return int(session.execute(query).scalar_one())


def list_changes(session: Session, send: Send, until: datetime | None) -> dict[str, int]:
    """complaints and unsubscribes among the send's recipients after it started."""
    words = {
        SubscriberStatus.complained: "complaints",
        SubscriberStatus.unsubscribed: "unsubscribes",
    }
    query = (
        sa.select(
            status_event_table.c.to_status,
            sa.func.count(sa.distinct(status_event_table.c.subscriber_id)),
        )
        .select_from(
            status_event_table.join(
                delivery_table, delivery_table.c.subscriber_id == status_event_table.c.subscriber_id
            )
        )
        .where(
            delivery_table.c.send_id == send.id,
            status_event_table.c.at >= send.started_at,
            status_event_table.c.to_status.in_([s.value for s in words]),
        )
        .group_by(status_event_table.c.to_status)
    )
    if until is not None:
        query = query.where(status_event_table.c.at < until)
    found = {str(status): int(n) for status, n in session.execute(query)}
    return {word: found.get(status.value, 0) for status, word in words.items()}
