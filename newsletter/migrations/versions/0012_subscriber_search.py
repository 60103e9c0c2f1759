"""The dashboard's subscriber list (#13): read newest first by keyset on (created_at, id), with
or without a status filter, so the first page and any later one cost the same on a large list
(bench/subscribers_admin.py). The address search uses the unique email_key index (a LIKE prefix
uses it under the C collation; see docs/dashboard.md for others).

Revision ID: 0012
Revises: 0009 (main's head when this was written; #13's other revisions may come between)
"""

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscriber_created", "subscriber", ["created_at", "id"])
    op.create_index("ix_subscriber_status_created", "subscriber", ["status", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_subscriber_status_created", table_name="subscriber")
    op.drop_index("ix_subscriber_created", table_name="subscriber")
