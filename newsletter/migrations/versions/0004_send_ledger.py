"""send ledger: send, delivery, schedule

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issue_slug", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("live_slug", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=False),
    )
    op.create_index("ix_send_issue_slug", "send", ["issue_slug"])
    op.create_index("ix_send_live_slug", "send", ["live_slug"], unique=True)
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "send_id", sa.Integer(), sa.ForeignKey("send.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscriber.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("send_id", "subscriber_id", name="uq_delivery_subscriber"),
    )
    op.create_index("ix_delivery_send_status", "delivery", ["send_id", "status"])
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id"])
    op.create_table(
        "schedule",
        sa.Column("issue_slug", sa.String(length=200), primary_key=True),
        sa.Column("send_at", UTCDateTime(), nullable=False),
        sa.Column("refused_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule")
    op.drop_index("ix_delivery_subscriber_id", table_name="delivery")
    op.drop_index("ix_delivery_send_status", table_name="delivery")
    op.drop_table("delivery")
    op.drop_index("ix_send_live_slug", table_name="send")
    op.drop_index("ix_send_issue_slug", table_name="send")
    op.drop_table("send")
