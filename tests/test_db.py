"""Migrations: they build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from newsletter import db
from newsletter.migrations.head import HEAD
from newsletter.models import include_object
from tests.conftest import run_cli


def _context(connection: sa.Connection) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"include_object": include_object})


def test_migrations_match_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(_context(connection), SQLModel.metadata)
    assert diff == []
    assert db.current_revision(engine) == db.head_revision()


def test_head_constant_is_alembics_head():
    """The commands know the newest revision without importing Alembic (migrations/head.py)."""
    real = db.head_revision()
    assert real == HEAD, (
        f"newsletter/migrations/head.py says HEAD = {HEAD!r}, but the newest migration in "
        f"newsletter/migrations/versions/ is {real!r}: set HEAD = {real!r} in "
        "newsletter/migrations/head.py"
    )


def test_first_use_upgrades_automatically_and_twice_is_harmless(database_url):
    engine = db.make_engine(database_url)
    assert db.current_revision(engine) is None
    db.ensure_schema(engine)
    db.ensure_schema(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_db_upgrade_command(project, database_url):
    code, out, _ = run_cli("db", "upgrade")
    assert code == 0 and db.head_revision() in out


def test_unreachable_database_is_a_clear_error(project, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, _, err = run_cli("content", "list")
    assert code == 1 and "cannot open database" in err and "Traceback" not in err


def test_every_migration_goes_down_to_nothing_and_up_again(engine):
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(db.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(_context(connection), SQLModel.metadata)
    assert diff == []


def test_an_empty_or_unparsable_database_url_is_one_readable_line(project, monkeypatch):
    """An empty setting used to be "masked" between every two characters of the message."""
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "")
    code, _, err = run_cli("content", "list")
    assert code == 1 and "database_url is empty" in err and err.count("not shown") == 0
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "not a url")
    code, _, err = run_cli("content", "list")
    assert code == 1 and err.count("(not shown: it is not a URL)") == 1, err
