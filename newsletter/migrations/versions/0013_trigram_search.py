"""A name or "came from" search that few people match, fast on PostgreSQL (#13).

``lower(name) LIKE '%zzq%'`` and the first consent's ``lower(source) LIKE '%conference%'`` read
the list newest first until a page is full: quick when many match, the whole list when few do
(2.5 s at 1,000,000 rows). A ``pg_trgm`` GIN index answers a rare one from the index and the
planner still walks the (created_at, id) index for a common one (bench/subscribers_admin.py).

``pg_trgm`` ships with PostgreSQL and is a trusted extension (13 and later): the database's owner
may create it. Where it cannot be created the search still works, only slower on a rare match;
the migration says so and goes on. SQLite has no such index and needs none at its sizes.

Revision ID: 0013
Revises: 0012
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s): a search few subscribers match reads the "
            "whole list; ask the database's owner to run CREATE EXTENSION pg_trgm",
            str(error.orig).strip().splitlines()[0],
        )
        return
    op.execute(
        "CREATE INDEX ix_subscriber_name_trgm ON subscriber USING gin (lower(name) gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX ix_consent_source_trgm ON consent USING gin (lower(source) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_consent_source_trgm")
    op.execute("DROP INDEX IF EXISTS ix_subscriber_name_trgm")
