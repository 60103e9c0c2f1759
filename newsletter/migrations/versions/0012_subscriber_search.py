"""The dashboard's subscriber list (#13): read newest first by keyset on (created_at, id), with
or without a status filter, so the first page and any later one cost the same on a large list
(bench/subscribers_admin.py). An address search is a LIKE prefix of email_key: on PostgreSQL a
text_pattern_ops index serves it under any collation (the unique index serves LIKE only under
"C"; C.UTF-8 is not "C" to the planner: the bench measured 120 ms without it at 1,000,000 rows).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscriber_created", "subscriber", ["created_at", "id"])
    op.create_index("ix_subscriber_status_created", "subscriber", ["status", "created_at", "id"])
    op.create_index(
        "ix_subscriber_email_key_pattern",
        "subscriber",
        ["email_key"],
        postgresql_ops={"email_key": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_subscriber_email_key_pattern", table_name="subscriber")
    op.drop_index("ix_subscriber_status_created", table_name="subscriber")
    op.drop_index("ix_subscriber_created", table_name="subscriber")
