"""SQLite: drop 0012's address prefix index, a copy there of the unique ``ix_subscriber_email_key``
(#14).

On PostgreSQL ``ix_subscriber_email_key_pattern`` is a ``text_pattern_ops`` index, which serves
``email_key LIKE 'prefix%'`` under any collation; SQLite has no operator classes, so there it
was a second plain index on ``email_key``, the same as the unique one. Every signup wrote both
(bench/signup.py: about 4 us of a signup's 75 us in the database, and its pages on disk). The
unique index answers the dashboard's prefix search on SQLite as before. PostgreSQL keeps it.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEX = "ix_subscriber_email_key_pattern"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="subscriber")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(INDEX, "subscriber", ["email_key"])
