"""What every command shares: the two consoles, one-line errors, the output format, the engine,
and ``shown``: the one way a value from outside reaches the terminal.

Importing this module is cheap (no Rich, SQLAlchemy or settings): ``newsletter --help`` and every
command import it. Rich is imported when a command first prints, the database modules when it
opens the engine (docs/architecture.md, "Startup").
"""

from __future__ import annotations

import functools
import gc
import re
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import typer
from typer.core import TyperGroup

from newsletter.errors import LocatedError, NewsletterError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from newsletter.config import Settings
    from newsletter.content.reading import PostReader
    from newsletter.issues.build import Build

P = ParamSpec("P")
R = TypeVar("R")
_engines: list[sa.Engine] = []  # opened by the running command (open_engine)
_readers: list[Callable[[], None]] = []  # how to close what open_posts opened


class LazyConsole:
    """A Rich console made on first use, so a command that prints nothing never imports Rich.

    ``print`` and ``width`` are the console's; ``rich`` is the console itself (for a progress
    bar). It writes to ``sys.stdout`` or ``sys.stderr`` as they are when it prints.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # emoji=False: ":warning:" in a subscriber's name is text, not an emoji code
            self._console = Console(stderr=self._stderr, soft_wrap=True, emoji=False)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.rich.print(*objects, **options)

    def line(self, text: str) -> None:
        """One line of plain text, written without Rich (no markup, no colour): for what needs
        neither, so a command that prints only such lines never imports Rich (about a tenth of
        a cold ``newsletter build``). Values from outside go through ``visible``."""
        stream = sys.stderr if self._stderr else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    @property
    def width(self) -> int:
        return self.rich.width


out = LazyConsole()
err = LazyConsole(stderr=True)


class Group(TyperGroup):
    """A group whose help lists each command's summary whole, wrapped (Click cuts it to one
    line with "..."). The help is Click's plain text: Typer's Rich help imports Rich and
    markdown-it, which ``--help`` should not wait for (``rich_markup_mode=None``)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# C0 and C1 control characters (ESC starts terminal escape sequences; CR and BS overwrite what
# was printed; a line break fakes a line of output), and the bidirectional overrides
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> str:
    """``value`` as literal text inside Rich markup: every ``[`` that could open a tag escaped,
    every control character shown as an escape (``\\x1b``) instead of reaching the terminal.

    Every value that comes from outside (names, addresses, titles, slugs, reasons, paths,
    error messages) is printed through this, in an f-string or as a table cell, or through
    ``visible`` in a plain line (``LazyConsole.line``).
    """
    from rich.markup import escape

    return escape(visible(value))


def visible(value: object) -> str:
    """``value`` as plain text with every control character shown as an escape."""
    return _CONTROL.sub(_visible, str(value))


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
        opened, read = len(_engines), len(_readers)
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            for line in exc.lines() if isinstance(exc, LocatedError) else [str(exc)]:
                err.print(f"[bold red]error:[/] {shown(line)}")  # every problem of a file
            raise typer.Exit(1) from None
        except Exception as exc:
            failure = _database_failure(exc)
            if failure is None:
                raise
            # the database itself failed (read-only, locked, disk full, gone): one line too
            from newsletter import db

            url = _engines[-1].url if len(_engines) > opened else None
            err.print(f"[bold red]error:[/] {shown(db.database_error(failure, url))}")
            raise typer.Exit(1) from None
        finally:
            while len(_engines) > opened:
                _engines.pop().dispose()
            while len(_readers) > read:
                _readers.pop()()

    return wrapper


def _database_failure(exc: Exception) -> sa.exc.DBAPIError | None:
    """``exc`` if it is SQLAlchemy's OperationalError or InternalError. A command that never
    imported SQLAlchemy cannot have raised one, so it is not imported to find out."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.OperationalError | errors.InternalError):
        return cast("sa.exc.DBAPIError", exc)
    return None


def open_engine(settings: Settings) -> sa.Engine:
    """The configured database, migrated to the newest schema on first use; disposed when the
    command ends (``reports_errors``)."""
    from newsletter import db

    engine = db.make_engine(settings.database_url)
    _engines.append(engine)
    db.ensure_schema(engine)
    return engine


def one_shot() -> None:
    """For a command that does one bounded job and exits (``build``, ``check``): no cyclic
    garbage collection from here on. Reference counting still frees nearly everything at once;
    the rest (lxml's and cssutils' trees of one issue) goes when the process ends. Collections
    were about 7% of the imports such a command makes (medians of 15 fresh processes). Never
    for a command that runs on (``serve``, ``worker``, ``send``, ``preview``)."""
    gc.disable()


def open_posts(settings: Settings) -> sa.Engine | PostReader:
    """What ``build``, ``check`` and ``preview`` read posts from: on a SQLite file whose schema
    is current, a reader with the standard library's sqlite3 (``content.reading.open_sqlite``:
    no SQLAlchemy, which was half of a cold build); else the engine, which creates or migrates
    the database first. Closed when the command ends (``reports_errors``)."""
    from newsletter.content.reading import open_sqlite
    from newsletter.migrations.head import HEAD

    reader = open_sqlite(settings.database_url, HEAD)
    if reader is None:
        return open_engine(settings)
    _readers.append(reader.close)
    return reader


def report_findings(build: Build) -> None:
    """The pre-send checks' findings, one line each on stderr."""
    for finding in build.findings:
        colour = "red" if finding.level == "error" else "yellow"
        err.print(
            f"[{colour}]{finding.level}:[/] {shown(finding.message)} [dim]({finding.code})[/]"
        )
