"""What every command shares: the two consoles, one-line errors, the output format, the engine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape

from newsletter import db
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issues.build import Build

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
P = ParamSpec("P")
R = TypeVar("R")
_engines: list[sa.Engine] = []  # opened by the running command (open_engine)


class Format(StrEnum):
    table = "table"
    json = "json"


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the tool's own errors into one line on stderr and exit code 1, no traceback.

    The engines the command opened are disposed (their connections closed) when it ends.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        opened = len(_engines)
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        finally:
            while len(_engines) > opened:
                _engines.pop().dispose()

    return wrapper


def open_engine(settings: Settings) -> sa.Engine:
    """The configured database, migrated to the newest schema on first use; disposed when the
    command ends (``reports_errors``)."""
    engine = db.make_engine(settings.database_url)
    _engines.append(engine)
    db.ensure_schema(engine)
    return engine


def report_findings(build: Build) -> None:
    """The pre-send checks' findings, one line each on stderr."""
    for finding in build.findings:
        colour = "red" if finding.level == "error" else "yellow"
        err.print(
            f"[{colour}]{finding.level}:[/] {escape(finding.message)} [dim]({finding.code})[/]"
        )
