"""``newsletter content ...``: sync the sources into the content store, and list its posts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.console import Format, Group, err, open_engine, out, reports_errors, shown

if TYPE_CHECKING:
    from rich.table import Table

    from newsletter.config import Settings
    from newsletter.content.posts import StoredPost
    from newsletter.content.sources import Outcome

content_app = typer.Typer(
    help="The content store: sync posts and list them.", no_args_is_help=True, cls=Group
)


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
    from newsletter.config import get_settings
    from newsletter.content.sources import SyncRequest, sync_sources

    settings = get_settings()
    request = SyncRequest(
        since=_day_start(since.date() if since else None, settings), prune=prune, full=full
    )
    outcomes = sync_sources(settings, open_engine(settings), request, only=source)
    for outcome in outcomes:
        _report_sync(outcome, prune)
    failed = [o.name for o in outcomes if o.error or (o.result and o.result.problems)]
    if failed and len(outcomes) > 1:
        err.print(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} sources synced; "
            f"failed, stored posts unchanged: {shown(', '.join(failed))}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


def _report_sync(outcome: Outcome, prune: bool) -> None:
    if outcome.result is None:
        err.print(f"[bold red]error:[/] {shown(outcome.error)}", soft_wrap=True)
        return
    result = outcome.result
    for problem in result.problems:  # a bad file is skipped; the good ones are stored
        for line in problem.lines():
            err.print(f"[bold red]error:[/] {shown(line)}", soft_wrap=True)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {shown(outcome.name)}: {shown(warning)}", soft_wrap=True)
    if result.not_modified:
        out.print(f"{shown(result.source)}: not modified since the last sync")
        return
    out.print(
        f"{shown(result.source)}: {len(result.created)} new, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged" + (f", {len(result.pruned)} pruned" if prune else "")
    )
    if result.problems:
        skipped = sorted({problem.path.name for problem in result.problems})
        err.print(
            f"{shown(result.source)}: {len(skipped)} files skipped (fix them and sync again): "
            f"{shown(', '.join(skipped))}",
            soft_wrap=True,
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
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Up to and including this day."),
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only this category.")] = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Show the posts in the store, newest first."""
    from newsletter.config import get_settings
    from newsletter.content.reading import PostReader, matching

    settings = get_settings()
    with PostReader.of_engine(open_engine(settings)) as reader:
        posts = matching(
            reader.published(
                since=_day_start(since.date() if since else None, settings),
                until=_day_start(until.date() + timedelta(days=1) if until else None, settings),
            ),
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
    out.print(_table(posts, settings))


SLUG_ROOM = 10 + 12 + 12 + 4 * 2 + 5  # the other columns at their narrowest, padding, rules


def _table(posts: list[StoredPost], settings: Settings) -> Table:
    """Newest first; a slug is never cut or wrapped (staff copy it into ``pin``/``exclude``):
    in a terminal too narrow for the longest one the table is wider than the terminal."""
    from rich.table import Table

    longest = max((len(shown(p.slug)) for p in posts), default=4)
    table = Table(title=f"{len(posts)} posts")
    table.add_column("published", no_wrap=True)
    table.add_column("slug", no_wrap=True, overflow="ignore", min_width=longest)
    table.add_column("categories", overflow="fold")
    table.add_column("title", overflow="fold")
    if longest + SLUG_ROOM > out.width:
        table.width = longest + SLUG_ROOM
    for p in posts:
        local = p.published_at.astimezone(settings.zone)
        table.add_row(
            f"{local:%Y-%m-%d}", shown(p.slug), shown(", ".join(p.categories)), shown(p.title)
        )
    return table
