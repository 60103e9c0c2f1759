"""The command starts fast because each command imports only what it uses (docs/architecture.md,
"Startup"): checked by the modules a real process imports, never by timing it (bench/startup.py
measures the time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.cli.staff import RoleChoice
from newsletter.cli.subscribers import StatusChoice
from newsletter.models import Role, SubscriberStatus

# what no --help may wait for: the database, settings, the compiler, the web app, the providers
# (pydantic may come: Typer turns a group's option values into Python values with it, and only
# the top-level --help exits before that)
NOT_FOR_HELP = {
    "alembic", "cssutils", "email_validator", "fastapi", "feedparser", "frontmatter", "httpx",
    "jinja2", "lxml", "markdown_it", "mjml", "nh3", "playwright", "premailer",
    "pydantic_settings", "requests", "rich", "sendgrid", "sqlalchemy", "sqlmodel", "starlette",
    "uvicorn", "watchfiles", "yaml",
}  # fmt: skip
# what a build never uses: migrations (the database is current), the web app, the providers,
# the remote sources, front matter files
NOT_FOR_BUILD = {
    "alembic", "email_validator", "fastapi", "feedparser", "frontmatter", "httpx", "itsdangerous",
    "playwright", "sendgrid", "starlette", "uvicorn", "watchfiles", "yaml",
}  # fmt: skip


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages a whole ``newsletter ...`` process imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "newsletter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**(env if env is not None else os.environ), "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize(
    "args",
    [("--help",), ("subscribers", "--help"), ("send", "--help"), ("staff", "add", "--help")],
)
def test_help_imports_no_heavy_library(clean_env: Path, args: tuple[str, ...]) -> None:
    found = imported(*args)
    assert "typer" in found  # the check sees imports at all
    assert found & NOT_FOR_HELP == set()
    if args == ("--help",):
        assert "pydantic" not in found


def test_a_command_on_a_current_database_does_not_import_alembic(synced: sa.Engine) -> None:
    found = imported("subscribers", "count")
    assert "sqlalchemy" in found and "alembic" not in found


def test_a_new_database_is_migrated_by_the_first_command(project: Path) -> None:
    found = imported("subscribers", "count")
    assert "alembic" in found  # the schema needed migrating: Alembic, and only then


def test_build_imports_only_what_it_uses(synced: sa.Engine) -> None:
    found = imported("build", "2016-q3")
    assert {"jinja2", "mjml", "premailer"} <= found
    assert found & NOT_FOR_BUILD == set()
    if synced.dialect.name == "sqlite":  # read with the standard library (content.reading)
        assert found & {"sqlalchemy", "sqlmodel", "requests"} == set()
    else:
        assert "sqlalchemy" in found


def test_the_choices_of_the_help_are_the_schemas() -> None:
    """The CLI names the statuses and roles without importing the schema; the same values."""
    assert [c.value for c in StatusChoice] == [s.value for s in SubscriberStatus]
    assert [c.value for c in RoleChoice] == [r.value for r in Role]
