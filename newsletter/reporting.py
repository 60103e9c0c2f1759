"""`newsletter report ISSUE`: per send, who was reached and who was not, and why."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from newsletter.ledger import sends_of, tally
from newsletter.models import DeliveryStatus

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
