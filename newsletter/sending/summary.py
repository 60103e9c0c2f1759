"""What a send amounts to, in the operator's words: its totals from the ledger (the whole send,
uncertain rows included, not only what one run did), the transport that carried it and whether
that delivers anything, and times in the organisation's time zone with UTC beside.

``send``, ``send-due``, ``schedule`` and ``report`` all say these things the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.models import DeliveryStatus, Send, delivery_table
from newsletter.sending import ledger

# the transport took these; SendGrid's events may have moved them on since
HANDED = ("accepted", "delivered", "deferred", "soft_bounced", "bounced", "dropped")


@dataclass(frozen=True)
class Totals:
    """A send's recipients by outcome, from the ledger."""

    audience: int
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    pending: int = 0
    in_flight: int = 0

    @property
    def open(self) -> int:
        """Rows that keep the send from being finished."""
        return self.pending + self.in_flight

    def to_send(self, *, resend_uncertain: bool = False) -> int:
        """How many recipients a run would send to now."""
        return self.pending + (self.uncertain if resend_uncertain else 0)

    def words(self) -> str:
        text = (
            f"{count(self.audience, 'recipient')}: {self.accepted} accepted, {self.failed} failed, "
            f"{self.uncertain} uncertain, {self.skipped} skipped"
        )
        if self.pending:
            text += f", {self.pending} not sent yet"
        if self.in_flight:
            text += f", {self.in_flight} in flight"
        return text


def totals(engine: sa.Engine, send_id: int, audience: int) -> Totals:
    """The send's rows counted by outcome (``accepted`` includes what SendGrid's events moved
    on to delivered, deferred, bounced or dropped: the transport took all of them)."""
    query = (
        sa.select(delivery_table.c.status, sa.func.count())
        .where(delivery_table.c.send_id == send_id)
        .group_by(delivery_table.c.status)
    )
    with engine.connect() as connection:
        counts = {str(status): int(n) for status, n in connection.execute(query)}
    return Totals(
        audience=audience,
        accepted=sum(counts.get(s, 0) for s in HANDED),
        failed=counts.get(DeliveryStatus.failed.value, 0),
        uncertain=counts.get(DeliveryStatus.uncertain.value, 0),
        skipped=counts.get(DeliveryStatus.skipped.value, 0),
        pending=counts.get(DeliveryStatus.pending.value, 0),
        in_flight=counts.get(DeliveryStatus.in_flight.value, 0),
    )


def live_state(engine: sa.Engine, slug: str) -> tuple[Send | None, Totals]:
    """The issue's live send and its totals; without one, the audience it would have now
    (every confirmed subscriber, all still to send)."""
    with Session(engine, expire_on_commit=False) as session:
        send = ledger.live_send(session, slug)
    if send is None or send.id is None:
        audience = ledger.confirmed_count(engine)
        return None, Totals(audience=audience, pending=audience)
    return send, totals(engine, send.id, send.audience)


def transport_label(settings: Settings) -> str:
    """What ``send.transport`` records for a send made with these settings."""
    if settings.transport == "sendgrid" and settings.sendgrid_sandbox:
        return "sendgrid (sandbox)"
    return settings.transport


def not_delivered(transport: str, messages: int, outbox_dir: Path) -> str:
    """The warning that a send's messages reached nobody, or "" when its transport delivers."""
    names = transport.split(" + ")
    some = "the" if len(names) == 1 else "some of the"
    if "outbox" in names:
        return (
            f"{some.capitalize()} {count(messages, 'message')} "
            f"{'was' if messages == 1 else 'were'} WRITTEN TO THE OUTBOX "
            f'({outbox_dir}/) and NOT delivered: transport = "outbox" only writes .eml files '
            "(to deliver through SendGrid, see docs/sendgrid.md)"
        )
    if "sendgrid (sandbox)" in names:
        return (
            f"SendGrid checked {some} {count(messages, 'message')} in sandbox mode and did "
            "NOT deliver them (sendgrid_sandbox = true)"
        )
    return ""


def transport_words(settings: Settings) -> str:
    """How a send with these settings is carried, for the line before it starts."""
    label = transport_label(settings)
    if label == "outbox":
        return (
            f"the outbox transport: messages are WRITTEN TO {settings.outbox_dir}/ as .eml files "
            "and NOT delivered, and the issue counts as sent"
        )
    if label == "sendgrid (sandbox)":
        return "SendGrid in sandbox mode: checked, NOT delivered, and the issue counts as sent"
    return f"the {label} transport"


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """``2016-10-04 09:00 +07 (02:00 UTC)``: the organisation's time, with UTC beside unless the
    zone is UTC (and the UTC date too when it differs)."""
    local = at.astimezone(zone)
    text = f"{local:%Y-%m-%d %H:%M %Z}"
    utc = at.astimezone(UTC)
    if local.utcoffset() == timedelta(0):
        return text if text.endswith("UTC") else f"{text} (UTC)"
    shown = f"{utc:%H:%M}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M}"
    return f"{text} ({shown} UTC)"


def count(n: int, word: str) -> str:
    """``1 recipient``, ``3 recipients``."""
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("ch") else "s")


def duration(delta: timedelta) -> str:
    """3 days, 5 h 12 min, or 40 s."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        minutes = seconds % 3600 // 60
        return f"{seconds // 3600} h" + (f" {minutes} min" if minutes else "")
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
