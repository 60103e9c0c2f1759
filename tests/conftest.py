"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when configured),
and a throwaway project folder with the sample content, issues and templates."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from newsletter import db
from newsletter.cli import app
from newsletter.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every NEWSLETTER_* variable (but the test database URL) for this test."""
    for key in list(os.environ):
        if key.startswith("NEWSLETTER_") and key != "NEWSLETTER_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and no NEWSLETTER_* variables: settings from scratch."""
    monkeypatch.chdir(tmp_path)
    clear_settings_env(monkeypatch)
    return tmp_path


def _trigram_in_public(admin: sa.Engine) -> None:
    """pg_trgm once in ``public``, as a deployment has it: created by migration 0013 inside a
    test's own schema, it would go with that schema (and every other test's index on it)."""
    try:
        with admin.begin() as connection:
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except sa.exc.DBAPIError:  # another test process created it at the same moment
        pass


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a schema of its own in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'subscribers.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    _trigram_in_public(admin)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """A copy of the sample project as the working directory, with its own database."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("content", "issues", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    monkeypatch.chdir(folder)
    clear_settings_env(monkeypatch)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", database_url)
    # no background due-send pass in apps the tests make; tests of it turn it on
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_IN_SERVER", "false")
    # nor an email worker: tests deliver the queued emails with drain(); tests of it turn it on
    monkeypatch.setenv("NEWSLETTER_EMAIL_WORKER_IN_SERVER", "false")
    return folder


@pytest.fixture
def settings(project: Path) -> Settings:
    return Settings()


@pytest.fixture
def synced(project: Path, settings: Settings) -> Iterator[sa.Engine]:
    """The project's database with the sample content synced into it."""
    from newsletter.issues.build import sync_markdown

    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    sync_markdown(settings, engine)
    yield engine
    engine.dispose()


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()
