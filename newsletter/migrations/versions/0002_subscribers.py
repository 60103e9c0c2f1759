"""subscriber store: subscriber, consent, status_event, suppression

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _subscriber_fk() -> sa.Column[int]:
    return sa.Column(
        "subscriber_id",
        sa.Integer(),
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.Column("confirmation_sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_subscriber_key"),
        sa.UniqueConstraint("email", name="uq_subscriber_email"),
    )
    op.create_index("ix_subscriber_status", "subscriber", ["status"])
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), primary_key=True),
        _subscriber_fk(),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=False),
        sa.Column("text_version", sa.String(length=50), nullable=False),
    )
    op.create_index("ix_consent_subscriber_id", "consent", ["subscriber_id"])
    op.create_table(
        "status_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        _subscriber_fk(),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
    )
    op.create_index("ix_status_event_subscriber_id", "status_event", ["subscriber_id"])
    op.create_index("ix_status_event_to_status", "status_event", ["to_status"])
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.UniqueConstraint("email_hash", name="uq_suppression_email_hash"),
    )


def downgrade() -> None:
    op.drop_table("suppression")
    op.drop_index("ix_status_event_to_status", table_name="status_event")
    op.drop_index("ix_status_event_subscriber_id", table_name="status_event")
    op.drop_table("status_event")
    op.drop_index("ix_consent_subscriber_id", table_name="consent")
    op.drop_table("consent")
    op.drop_index("ix_subscriber_status", table_name="subscriber")
    op.drop_table("subscriber")
