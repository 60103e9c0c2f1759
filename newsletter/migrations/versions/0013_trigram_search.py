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
    schema = _trigram_schema(bind)
    if schema is None:
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
        schema = _trigram_schema(bind)
    # the operator class named with its schema: the extension may live in a schema that is not
    # on this connection's search_path (created earlier by another role or in another schema)
    opclass = (
        f"{bind.dialect.identifier_preparer.quote_identifier(schema or 'public')}.gin_trgm_ops"
    )
    op.execute(
        f"CREATE INDEX ix_subscriber_name_trgm ON subscriber USING gin (lower(name) {opclass})"
    )
    op.execute(
        f"CREATE INDEX ix_consent_source_trgm ON consent USING gin (lower(source) {opclass})"
    )


def _trigram_schema(bind: sa.Connection) -> str | None:
    """The schema pg_trgm is installed in, or None when it is not installed."""
    found = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    ).scalar()
    return str(found) if found is not None else None


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_consent_source_trgm")
    op.execute("DROP INDEX IF EXISTS ix_subscriber_name_trgm")
