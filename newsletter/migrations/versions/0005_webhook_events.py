"""webhook events: applied sg_event_ids, delivery settled_at, engagement counts per send

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COUNTS = ("opens", "machine_opens", "clicks")


def upgrade() -> None:
    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sg_event_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("sg_event_id"),
    )
    op.create_index("ix_webhook_event_received_at", "webhook_event", ["received_at"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("settled_at", UTCDateTime(), nullable=True))
    op.create_index("ix_delivery_message_id", "delivery", ["message_id"])
    with op.batch_alter_table("send") as batch:
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("send") as batch:
        for name in COUNTS:
            batch.drop_column(name)
    op.drop_index("ix_delivery_message_id", table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("settled_at")
    op.drop_index("ix_webhook_event_received_at", table_name="webhook_event")
    op.drop_table("webhook_event")
