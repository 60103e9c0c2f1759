"""What a newcomer's set-up would miss, for the home page: each warning says what is wrong, the
one-line fix, and where the docs explain it. Each is computed from the settings and a few
small queries, when its condition holds and only then.

- the outbox transport on a live deployment (``base_url`` https or not on this machine);
- ``base_url`` not https on a live deployment (a loopback host is a developer's machine);
- the Event Webhook never having received an event while a live SendGrid send exists;
- the database still SQLite above ``SQLITE_CEILING`` subscribers;
- a live send left with uncertain deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.models import delivery_table, send_table

SQLITE_CEILING = 50_000  # subscribers: past this, PostgreSQL
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Warning:
    key: str
    text: str
    fix: str
    docs: str  # a docs page and section, as docs/name.md#anchor


def on_this_machine(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") in LOOPBACK


def setup_warnings(settings: Settings, engine: sa.Engine, subscribers: int) -> list[Warning]:
    """The warnings that hold now; ``subscribers`` is the number of subscriber rows."""
    found = []
    https = urlsplit(settings.base_url).scheme == "https"
    live = https or not on_this_machine(settings.base_url)
    if settings.transport == "outbox" and live:
        found.append(
            Warning(
                "outbox",
                f"The transport is the outbox on a live deployment ({settings.base_url}): "
                "issues are written as files in the outbox folder, nobody receives them.",
                "Set NEWSLETTER_TRANSPORT=sendgrid and NEWSLETTER_SENDGRID_API_KEY.",
                "docs/sendgrid.md",
            )
        )
    if not https and live:
        found.append(
            Warning(
                "http",
                f"base_url is {settings.base_url}, not https: the links in every email "
                "(unsubscribe, confirm) and the dashboard's sign-in travel unencrypted.",
                "Serve the app behind TLS and set NEWSLETTER_BASE_URL=https://...",
                "docs/deploy.md#nginx-with-tls",
            )
        )
    if settings.database_url.startswith("sqlite") and subscribers > SQLITE_CEILING:
        found.append(
            Warning(
                "sqlite",
                f"The database is SQLite with {subscribers:,} subscribers (more than "
                f"{SQLITE_CEILING:,}): sends and the dashboard slow down and wait on each other.",
                "Move to PostgreSQL: set NEWSLETTER_DATABASE_URL=postgresql+psycopg://...",
                "docs/deploy.md#postgresql",
            )
        )
    s, d = send_table.c, delivery_table.c
    with engine.connect() as connection:
        sendgrid = connection.execute(
            sa.select(s.id)
            .where(
                s.kind == "live",
                s.transport.like("%sendgrid%"),
                s.transport.not_like("%sandbox%"),
            )
            .limit(1)
        ).first()
        heard = connection.execute(sa.text("SELECT 1 FROM webhook_event LIMIT 1")).first()
        uncertain = connection.execute(
            sa.select(s.issue_slug, sa.func.count())
            .join(delivery_table, d.send_id == s.id)
            .where(s.kind == "live", d.status == "uncertain")
            .group_by(s.issue_slug)
            .order_by(s.issue_slug)
        ).all()
    if sendgrid is not None and heard is None:
        found.append(
            Warning(
                "webhook",
                "Issues went out through SendGrid but the Event Webhook has never received an "
                "event: deliveries, bounces and complaints are not recorded.",
                "In SendGrid, point the Event Webhook at "
                f"{settings.base_url.rstrip('/')}/webhooks/sendgrid and set its verification key.",
                "docs/webhooks.md#setting-it-up-operator",
            )
        )
    for slug, n in uncertain:
        found.append(
            Warning(
                f"uncertain-{slug}",
                f"The send of {slug} has {n:,} uncertain deliver{'y' if n == 1 else 'ies'}: "
                "the transport may or may not have taken them.",
                f"Wait for SendGrid's events to settle them, or run: newsletter send {slug} "
                "--resend-uncertain (some may then get it twice).",
                "docs/sending.md#the-send-ledger",
            )
        )
    return found
