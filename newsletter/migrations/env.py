"""Alembic environment: runs on the connection handed over by newsletter.db."""

from alembic import context
from sqlmodel import SQLModel

from newsletter.models import include_object  # (importing registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
