"""source_state: the last sync's error (kept until a sync succeeds) and the sync lease.

``last_error``/``last_error_at``: the one line ``newsletter content sync`` printed for the
source's last failed sync ('' once a sync succeeds). ``sync_owner``/``sync_started_at``/
``sync_until``: who is syncing the source now, since when, and until when their claim holds
(a lease: a crashed process's claim lapses), so the dashboard's Sync now and a cron
``content sync`` never sync one source at the same time (content/sync_lock.py).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("last_error_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("sync_owner", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("sync_started_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("sync_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        for name in ("sync_until", "sync_started_at", "sync_owner", "last_error_at", "last_error"):
            batch.drop_column(name)
