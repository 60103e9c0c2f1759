"""What every command shares: the two consoles, one-line errors, the output format, the engine,
and ``shown``: the one way a value from outside reaches the terminal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape

from newsletter import db
from newsletter.config import Settings
from newsletter.errors import LocatedError, NewsletterError
from newsletter.issues.build import Build

# emoji=False: ":warning:" in a subscriber's name is text, not an emoji code
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)
P = ParamSpec("P")
R = TypeVar("R")
_engines: list[sa.Engine] = []  # opened by the running command (open_engine)


# C0 and C1 control characters (ESC starts terminal escape sequences; CR and BS overwrite what
# was printed; a line break fakes a line of output), and the bidirectional overrides
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> str:
    """``value`` as literal text inside Rich markup: every ``[`` that could open a tag escaped,
    every control character shown as an escape (``\\x1b``) instead of reaching the terminal.

    Every value that comes from outside (names, addresses, titles, slugs, reasons, paths,
    error messages) is printed through this, in an f-string or as a table cell.
    """
    text = _CONTROL.sub(_visible, str(value))
    return escape(text)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Format(StrEnum):
    table = "table"
    json = "json"


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the tool's own errors, and failures of the database itself (read-only, locked,
    unreachable; ``db.database_error``), into one line on stderr and exit code 1, no traceback.

    The engines the command opened are disposed (their connections closed) when it ends.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        opened = len(_engines)
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            for line in exc.lines() if isinstance(exc, LocatedError) else [str(exc)]:
                err.print(f"[bold red]error:[/] {shown(line)}")  # every problem of a file
            raise typer.Exit(1) from None
        except (sa.exc.OperationalError, sa.exc.InternalError) as exc:
            # the database itself failed (read-only, locked, disk full, gone): one line too
            url = _engines[-1].url if len(_engines) > opened else None
            err.print(f"[bold red]error:[/] {shown(db.database_error(exc, url))}")
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
            f"[{colour}]{finding.level}:[/] {shown(finding.message)} [dim]({finding.code})[/]"
        )
