"""content store: the post table

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("html", sa.String(), nullable=False),
        sa.Column("image_url", sa.String(), nullable=False),
        sa.Column("image_alt", sa.String(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("source_id", sa.String(length=500), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("source", "source_id", name="uq_post_source"),
    )
    op.create_index("ix_post_slug", "post", ["slug"], unique=True)
    op.create_index("ix_post_published_at", "post", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_post_published_at", table_name="post")
    op.drop_index("ix_post_slug", table_name="post")
    op.drop_table("post")
