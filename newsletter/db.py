"""Engines, sessions and migrations (Alembic, shipped in newsletter/migrations/).

This module owns database URLs: ``masked`` is the one way one is shown (password hidden), and
``database_error`` the one way a failure of the database becomes a one-line DatabaseError.

Alembic is imported only to migrate: ``ensure_schema`` reads the database's revision with one
plain query and compares it with ``migrations/head.py``'s ``HEAD``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.errors import DatabaseError
from newsletter.migrations.head import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_PASSWORD_IN_AUTHORITY = re.compile(r"(://[^/@]*?:)[^/]*@")
_PASSWORD_IN_QUERY = re.compile(
    r"((?:^|[?&;\s])(?:password|passwd|pwd|sslpassword)=)[^&;\s]*", re.I
)
READ_ONLY_SQLSTATE = "25006"  # PostgreSQL: read_only_sql_transaction
VERSION_TABLE = "alembic_version"  # Alembic's: one row, the revision the schema is at


def masked(url: str | sa.URL) -> str:
    """A database URL fit for an error or a log: every password replaced by ``***``.

    A string that does not parse as a URL is not shown at all: where its password is cannot
    be known.
    """
    try:
        text = sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        text = str(url)
        if not _PASSWORD_IN_AUTHORITY.search(text):
            return "(not shown: it is not a URL)"
        text = _PASSWORD_IN_AUTHORITY.sub(r"\1***@", text)
    return _PASSWORD_IN_QUERY.sub(r"\1***", text)


def _scrub(text: str, url: str | sa.URL) -> str:
    """``text`` (an error message) with the URL and its passwords masked wherever they occur."""
    raw = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if raw:  # "" would be "found" between every two characters
        text = text.replace(raw, masked(raw))
    secrets = [m.group(0).split("=", 1)[1] for m in _PASSWORD_IN_QUERY.finditer(raw)]
    secrets += [m.group(0)[len(m.group(1)) : -1] for m in _PASSWORD_IN_AUTHORITY.finditer(raw)]
    with suppress(sa.exc.ArgumentError, ValueError, TypeError):
        secrets.append(str(sa.make_url(raw).password or ""))
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def database_error(
    exc: sa.exc.DBAPIError, url: str | sa.URL | None = None, *, doing: str = ""
) -> DatabaseError:
    """One line for a failure of the database itself (read-only, locked, full, unreachable):
    ``the database <url> is read-only: <reason>``, or ``<doing> <url>: <reason>``."""
    reason = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    shown = masked(url) if url is not None else ""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate == READ_ONLY_SQLSTATE or "readonly database" in reason:
        message = f"the database {shown} is read-only: {reason}".replace("  ", " ")
    else:
        message = f"{doing or 'database error in'} {shown}: {reason}".replace(" :", ":")
    return DatabaseError(_scrub(message, url) if url is not None else message)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, say when a transaction begins (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    """Every SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE).

    With a plain (deferred) BEGIN, a transaction that reads and then writes fails at once with
    "database is locked" when another process wrote in between (WAL cannot upgrade a stale
    snapshot, and busy_timeout does not help). IMMEDIATE waits for the lock instead, up to
    busy_timeout, so concurrent senders, cron ticks and web requests queue rather than fail.
    Readers outside a transaction are never blocked (WAL).
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (SQLite file or PostgreSQL), without touching the schema."""
    if not url.strip():
        raise DatabaseError("database_url is empty: give it an SQLite file or a PostgreSQL URL")
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        reason = _scrub(" ".join(str(exc).split()), url)
        shown = masked(url)
        shown = shown if shown.startswith("(") else repr(shown)
        raise DatabaseError(f"bad database_url {shown}: {reason}") from exc
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _alembic_config(connection: sa.Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision as Alembic finds it in migrations/versions/ (imports Alembic; the
    commands use ``migrations.head.HEAD``, which a test keeps equal to this)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at; None for a new database (no version table yet)."""
    revisions = _revisions(engine)
    if len(revisions) > 1:  # Alembic's branches: ours has none; say what Alembic says
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    return revisions[0] if revisions else None


def _revisions(engine: sa.Engine) -> list[str]:
    """The rows of Alembic's version table, read with plain SQL (no Alembic import)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return []
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        return [str(row[0]) for row in rows]


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest)."""
    from alembic import command

    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    except (sa.exc.OperationalError, sa.exc.InternalError) as exc:
        raise database_error(exc, engine.url, doing="cannot migrate") from exc


def ensure_schema(engine: sa.Engine) -> None:
    """Upgrade a new or older database on first use; a no-op when it is current.

    Being current is one query against ``HEAD``: Alembic is imported only to upgrade.
    """
    try:
        revisions = _revisions(engine)
    except (sa.exc.OperationalError, sa.exc.InternalError) as exc:
        raise database_error(exc, engine.url, doing="cannot open database") from exc
    if revisions != [HEAD]:
        upgrade(engine)


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
