"""content sources: the source_state table (ETag, Last-Modified, incremental cursor)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.String(), nullable=False),
        sa.Column("last_modified", sa.String(), nullable=False),
        sa.Column("newest_modified_at", UTCDateTime(), nullable=True),
        sa.Column("last_synced_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("source_state")
