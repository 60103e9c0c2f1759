"""The ``newsletter`` command. Each command is a few lines calling the modules that do the work."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from newsletter import db
from newsletter.builder import Build, build_issue, write_build
from newsletter.checks import has_errors
from newsletter.config import Settings, get_settings
from newsletter.content.sources import Outcome, SyncRequest, sync_sources
from newsletter.content.store import query_posts
from newsletter.errors import NewsletterError

app = typer.Typer(
    help="Compile quarterly email newsletters and send them to a double opt-in list.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
content_app = typer.Typer(help="The content store: sync posts and list them.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
P = ParamSpec("P")
R = TypeVar("R")


class Format(StrEnum):
    table = "table"
    json = "json"


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the tool's own errors into one line on stderr and exit code 1, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None

    return wrapper


def _engine(settings: Settings) -> sa.Engine:
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    return engine


@db_app.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Create the database or migrate it to the newest schema."""
    settings = get_settings()
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    out.print(f"database at revision {db.current_revision(engine)}")


@content_app.command("sync")
@reports_errors
def content_sync(
    source: Annotated[str | None, typer.Option(help="Sync only the source of this name.")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Only posts from this day.")
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Delete stored posts the source no longer has.")
    ] = False,
    full: Annotated[
        bool, typer.Option(help="Read everything again, ignoring ETag and incremental state.")
    ] = False,
) -> None:
    """Read every source (or one) into the store; edited posts are updated, never duplicated."""
    settings = get_settings()
    request = SyncRequest(
        since=_day_start(since.date() if since else None, settings), prune=prune, full=full
    )
    outcomes = sync_sources(settings, _engine(settings), request, only=source)
    for outcome in outcomes:
        _report_sync(outcome, prune)
    failed = [o.name for o in outcomes if o.error]
    if failed and len(outcomes) > 1:
        err.print(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} sources synced; "
            f"failed, stored posts unchanged: {', '.join(failed)}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


def _report_sync(outcome: Outcome, prune: bool) -> None:
    if outcome.result is None:
        err.print(f"[bold red]error:[/] {escape(outcome.error)}", soft_wrap=True)
        return
    result = outcome.result
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(outcome.name)}: {escape(warning)}", soft_wrap=True)
    if result.not_modified:
        out.print(f"{escape(result.source)}: not modified since the last sync")
        return
    out.print(
        f"{escape(result.source)}: {len(result.created)} new, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged" + (f", {len(result.pruned)} pruned" if prune else "")
    )


def _day_start(day: date | None, settings: Settings) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time(0, 0), tzinfo=settings.zone).astimezone(UTC)


@content_app.command("list")
@reports_errors
def content_list(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="From this day.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Before this day.")
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only this category.")] = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Show the posts in the store, newest first."""
    settings = get_settings()
    with Session(_engine(settings)) as session:
        posts = query_posts(
            session,
            since=_day_start(since.date() if since else None, settings),
            until=_day_start(until.date() if until else None, settings),
            categories=category or (),
        )
    if output is Format.json:
        rows = [
            {
                "slug": p.slug,
                "title": p.title,
                "url": p.url,
                "published_at": p.published_at.isoformat(),
                "categories": p.categories,
                "tags": p.tags,
                "source": p.source,
            }
            for p in posts
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("published", "slug", "categories", "title", title=f"{len(posts)} posts")
    for p in posts:
        local = p.published_at.astimezone(settings.zone)
        table.add_row(f"{local:%Y-%m-%d}", p.slug, ", ".join(p.categories), p.title)
    out.print(table)


def _report(build: Build) -> None:
    for finding in build.findings:
        colour = "red" if finding.level == "error" else "yellow"
        err.print(
            f"[{colour}]{finding.level}:[/] {escape(finding.message)} [dim]({finding.code})[/]"
        )


@app.command()
@reports_errors
def build(
    issue: Annotated[str, typer.Argument(help="Issue slug (2016-q3) or path to its .toml file.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default build_dir/<slug>).")
    ] = None,
) -> None:
    """Compile an issue to index.html, index.txt and index.mjml, and run the checks."""
    settings = get_settings()
    result = build_issue(settings, _engine(settings), issue)
    target = out_dir or settings.build_dir / result.issue.slug
    files = write_build(result, target)
    compiled = result.compiled
    out.print(f"built [bold]{result.issue.slug}[/]: {compiled.post_count} posts")
    for kind, path in files.items():
        out.print(f"  {kind:5} {path}  ({path.stat().st_size / 1024:.1f} KB)")
    _report(result)
    if has_errors(result.findings):
        raise typer.Exit(1)


@app.command()
@reports_errors
def check(
    issue: Annotated[str, typer.Argument(help="Issue slug or path to its .toml file.")],
) -> None:
    """Run the pre-send checks; exit 1 when any is an error."""
    settings = get_settings()
    result = build_issue(settings, _engine(settings), issue)
    _report(result)
    errors = sum(f.level == "error" for f in result.findings)
    warnings = len(result.findings) - errors
    out.print(f"{result.issue.slug}: {errors} errors, {warnings} warnings")
    if errors:
        raise typer.Exit(1)


@app.command()
@reports_errors
def preview(
    issue: Annotated[str, typer.Argument(help="Issue slug or path to its .toml file.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    png: Annotated[
        Path | None, typer.Option(help="Write 600 and 375 px screenshots here and exit.")
    ] = None,
) -> None:
    """Serve the issue on localhost, rebuilding on every change; or write PNG screenshots."""
    from newsletter import preview as previewing

    settings = get_settings()
    engine = _engine(settings)
    if png is not None:
        result = build_issue(settings, engine, issue)
        for path in previewing.screenshots(
            result.compiled.html, png, result.issue.slug, chromium=settings.chromium_path
        ):
            out.print(f"wrote {path}")
        return
    previewing.serve(settings, engine, issue, host=host, port=port, echo=out.print)


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app: signup, confirm, unsubscribe, archive (needs NEWSLETTER_SECRET_KEY)."""
    from newsletter.web.server import serve as serving
    from newsletter.web.webhooks import startup_warning

    settings = get_settings()
    if warning := startup_warning(settings):
        err.print(f"warning: {warning}")
    serving(settings, host=host, port=port)


def main() -> None:
    app()


import newsletter.cli_sending  # noqa: E402, F401  (registers send, schedule, send-due, report)

# Sub-apps in modules of their own; they use the helpers above, so they are imported last.
from newsletter.cli_subscribers import subscribers_app  # noqa: E402

app.add_typer(subscribers_app, name="subscribers")
