"""send.transport: which transport carried each send (the outbox writes files, it delivers
nothing), so `newsletter report` can say so. Sends made before this revision get "unknown".

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "send", sa.Column("transport", sa.String(length=60), nullable=False, server_default="")
    )
    op.execute("UPDATE send SET transport = 'unknown'")


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+): no table rebuild, which on
    # SQLite would drop the old send table and cascade into its deliveries
    op.drop_column("send", "transport")
