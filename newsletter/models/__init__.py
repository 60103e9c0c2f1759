"""The whole schema: SQLModel tables. Every change here needs a migration (migrations/versions/)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.models.columns import UTCDateTime, _utc_column, utcnow
from newsletter.models.email_job import EmailJob, EmailJobKind, EmailJobState
from newsletter.models.staff import (
    Activity,
    Approval,
    IssueRevision,
    Role,
    Staff,
    StaffLink,
    StaffRecoveryCode,
    StaffSession,
)
from newsletter.models.tasks import BackgroundTask

__all__ = [
    "MIGRATION_ONLY_INDEXES",
    "Activity",
    "Approval",
    "BackgroundTask",
    "EmailJob",
    "EmailJobKind",
    "EmailJobState",
    "IssueRevision",
    "Role",
    "Staff",
    "StaffLink",
    "StaffRecoveryCode",
    "StaffSession",
    "UTCDateTime",
    "include_object",
    "utcnow",
]


class Post(SQLModel, table=True):
    """One article in the content store."""

    __tablename__ = "post"
    __table_args__ = (sa.UniqueConstraint("source", "source_id", name="uq_post_source"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200, unique=True, index=True)
    title: str
    url: str
    published_at: datetime = _utc_column(index=True)
    updated_at: datetime = _utc_column()
    categories: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    author: str = ""
    summary: str = ""
    html: str = ""
    image_url: str = ""
    image_alt: str = ""
    source: str = Field(max_length=100)
    source_id: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    synced_at: datetime = _utc_column()


class SubscriberStatus(StrEnum):
    """Who may be mailed an issue: only ``confirmed``."""

    pending = "pending"
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"


def _status_column(*, nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(sa.String(20), nullable=nullable, index=not nullable))


def _email_key_default(context: Any) -> str:
    """For a row inserted without ``email_key`` (a script, a test): the lower-cased address,
    which is the key for an address with an ASCII domain (subscribers/address.py)."""
    return str(context.get_current_parameters()["email"]).strip().lower()


# Indexes the migrations make outside the models: 0013's pg_trgm GIN indexes for a name or
# "came from" search few people match, on PostgreSQL only and only where the extension could be
# created; and 0012's address prefix index (``text_pattern_ops``; on PostgreSQL only since 0016
# dropped SQLite's copy of the unique index), kept out of the models because declaring a
# ``postgresql_*`` option makes SQLAlchemy import its PostgreSQL dialect in every process, SQLite
# ones too (docs/architecture.md, "Startup"). Comparisons of the models with a database (alembic
# autogenerate, tests/test_db.py) leave them out through ``include_object``.
MIGRATION_ONLY_INDEXES = frozenset(
    {"ix_subscriber_name_trgm", "ix_consent_source_trgm", "ix_subscriber_email_key_pattern"}
)


def include_object(
    obj: object, name: str | None, kind: str, reflected: bool, other: object
) -> bool:
    """Alembic's hook: everything but ``MIGRATION_ONLY_INDEXES``."""
    return not (kind == "index" and name in MIGRATION_ONLY_INDEXES)


class Subscriber(SQLModel, table=True):
    """An address on the list. ``key`` is the random id that tokens sign (never the address).

    ``email`` is the address as typed (for display and sending); ``email_key`` is what is
    compared, unique: one person, one subscriber, whatever the letter case
    (``subscribers/address.py``). Ids are never reused (AUTOINCREMENT on SQLite, a sequence on
    PostgreSQL), so a late provider event for an erased person cannot reach the next one.
    """

    __tablename__ = "subscriber"
    __table_args__ = (
        sa.Index("ix_subscriber_email_key", "email_key", unique=True),
        # the dashboard's list, newest first, by keyset (0012)
        sa.Index("ix_subscriber_created", "created_at", "id"),
        sa.Index("ix_subscriber_status_created", "status", "created_at", "id"),
        # an address prefix search (LIKE 'ann.lee@%') on PostgreSQL: 0012's
        # ix_subscriber_email_key_pattern, one of MIGRATION_ONLY_INDEXES
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32, unique=True)
    email: str = Field(max_length=320, unique=True)
    email_key: str = Field(
        default=None,
        sa_column=sa.Column(sa.String(320), nullable=False, default=_email_key_default),
    )
    name: str = Field(default="", max_length=200)
    status: SubscriberStatus = _status_column()
    created_at: datetime = _utc_column()
    confirmed_at: datetime | None = _utc_column(nullable=True)
    unsubscribed_at: datetime | None = _utc_column(nullable=True)
    confirmation_sent_at: datetime | None = _utc_column(nullable=True)


class Consent(SQLModel, table=True):
    """How and when a subscriber agreed: one row per signup, import or staff addition."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = _utc_column()
    source: str = Field(max_length=500)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=500)
    text_version: str = Field(default="", max_length=50)


class StatusEvent(SQLModel, table=True):
    """One change of a subscriber's status; the history is never overwritten."""

    __tablename__ = "status_event"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = _utc_column()
    from_status: SubscriberStatus | None = _status_column(nullable=True)
    to_status: SubscriberStatus = _status_column()
    reason: str = Field(max_length=200)


class Suppression(SQLModel, table=True):
    """An erased address, kept only as a SHA-256 of its normalised form."""

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True)
    at: datetime = _utc_column()
    reason: str = Field(default="erased", max_length=200)


class SendKind(StrEnum):
    test = "test"
    live = "live"


class SendStatus(StrEnum):
    """``sending`` until no recipient is pending or in flight; ``stopped`` after a fatal error
    (bad API key, unverified sender, provider down past the retries): run it again to resume."""

    sending = "sending"
    stopped = "stopped"
    finished = "finished"


class DeliveryStatus(StrEnum):
    """The ledger's words up to ``skipped``; the rest come from SendGrid's Event Webhook."""

    pending = "pending"
    in_flight = "in_flight"
    accepted = "accepted"
    failed = "failed"
    uncertain = "uncertain"
    skipped = "skipped"
    deferred = "deferred"
    delivered = "delivered"
    soft_bounced = "soft_bounced"
    bounced = "bounced"
    dropped = "dropped"


class Send(SQLModel, table=True):
    """One run of delivering an issue (or a test proof) to its audience: the send ledger's head.

    ``live_slug`` is the issue slug for live sends and NULL for tests, and unique: an issue has
    at most one live send, however many processes try to start it. ``transport`` names what
    carried it (``outbox``, ``sendgrid``, ``sendgrid (sandbox)``; ``outbox + sendgrid`` when
    resumed through another; ``unknown`` for sends made before it was recorded).
    """

    __tablename__ = "send"
    __table_args__ = (sa.Index("ix_send_live_slug", "live_slug", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    issue_slug: str = Field(max_length=200, index=True)
    kind: SendKind = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    live_slug: str | None = Field(default=None, max_length=200)
    status: SendStatus = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    content_hash: str = Field(max_length=64)
    subject: str
    html: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    audience: int = 0
    started_at: datetime = _utc_column()
    finished_at: datetime | None = _utc_column(nullable=True)
    last_error: str = ""
    opens: int = 0
    machine_opens: int = 0
    clicks: int = 0
    transport: str = Field(
        default="", sa_column=sa.Column(sa.String(60), nullable=False, server_default="")
    )
    started_by: str = Field(  # a staff address, "cli" or "scheduler"; "" before 0008
        default="", sa_column=sa.Column(sa.String(320), nullable=False, server_default="")
    )
    stop_requested_at: datetime | None = _utc_column(nullable=True)  # stop after this batch


class Delivery(SQLModel, table=True):
    """One recipient's row in a Send. Live sends point at the subscriber (no copy of the address,
    so erasing a subscriber leaves no personal data here); test sends keep the address."""

    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("send_id", "subscriber_id", name="uq_delivery_subscriber"),
        sa.Index("ix_delivery_send_status", "send_id", "status"),
        sa.Index("ix_delivery_message_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("send.id", ondelete="CASCADE"), nullable=False)
    )
    subscriber_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("subscriber.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    email: str = ""
    status: DeliveryStatus = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    attempts: int = 0
    message_id: str = ""
    last_error: str = ""
    claimed_by: str = ""
    claimed_at: datetime | None = _utc_column(nullable=True)
    updated_at: datetime = _utc_column()
    settled_at: datetime | None = _utc_column(nullable=True)  # when an event settled uncertain


class Schedule(SQLModel, table=True):
    """When an issue is due (``newsletter schedule``), and whether send-due refused it as stale."""

    __tablename__ = "schedule"

    issue_slug: str = Field(max_length=200, primary_key=True)
    send_at: datetime = _utc_column()
    refused_at: datetime | None = _utc_column(nullable=True)
    updated_at: datetime = _utc_column()


class SourceState(SQLModel, table=True):
    """What a source remembers between syncs: HTTP validators and the incremental cursor."""

    __tablename__ = "source_state"

    name: str = Field(max_length=100, primary_key=True)
    config_hash: str = Field(default="", max_length=64)
    etag: str = ""
    last_modified: str = ""
    newest_modified_at: datetime | None = _utc_column(nullable=True)
    last_synced_at: datetime | None = _utc_column(nullable=True)
    # the last failed sync's one-line error ('' after a success), and the sync lease (0011):
    # who syncs the source now and until when their claim holds (content/sync_lock.py)
    last_error: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, default=""))
    last_error_at: datetime | None = _utc_column(nullable=True)
    sync_owner: str = Field(default="", max_length=100)
    sync_started_at: datetime | None = _utc_column(nullable=True)
    sync_until: datetime | None = _utc_column(nullable=True)


class WebhookEvent(SQLModel, table=True):
    """An ``sg_event_id`` already applied: SendGrid retries for 24 h, so each is applied once.
    Rows older than a few days are pruned."""

    __tablename__ = "webhook_event"

    id: int | None = Field(default=None, primary_key=True)
    sg_event_id: str = Field(max_length=100, unique=True)
    received_at: datetime = _utc_column(index=True)


# Core handles: one per table that Core statements use (bulk inserts, the send and webhook hot
# paths, the report), typed, instead of ``Model.__table__`` and a ``type: ignore`` at each use.
post_table: sa.Table = SQLModel.metadata.tables["post"]
subscriber_table: sa.Table = SQLModel.metadata.tables["subscriber"]
consent_table: sa.Table = SQLModel.metadata.tables["consent"]
status_event_table: sa.Table = SQLModel.metadata.tables["status_event"]
send_table: sa.Table = SQLModel.metadata.tables["send"]
delivery_table: sa.Table = SQLModel.metadata.tables["delivery"]
webhook_event_table: sa.Table = SQLModel.metadata.tables["webhook_event"]
email_job_table: sa.Table = SQLModel.metadata.tables["email_job"]
