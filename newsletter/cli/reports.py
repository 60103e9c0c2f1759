"""``newsletter report``: per send of an issue, what happened to its emails."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from newsletter.cli.console import Format, open_engine, out, reports_errors, shown

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

reports_app = typer.Typer()


@reports_app.command()
@reports_errors
def report(
    issue: Annotated[str, typer.Argument(help="Issue slug.")],
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Per send of an issue: delivered, bounced, dropped, complaints, unsubscribes, with reasons."""
    from rich.table import Table
    from sqlmodel import Session

    from newsletter.config import get_settings
    from newsletter.issues.file import resolve_path
    from newsletter.sending import report as reporting
    from newsletter.sending import summary

    settings = get_settings()
    slug = issue.removesuffix(".toml").rpartition("/")[2]
    with Session(open_engine(settings)) as session:
        rows = reporting.report(session, slug, engagement=settings.track_engagement)
    if not rows:
        resolve_path(issue, settings.issues_dir)  # no file and no send: no such issue (exit 1)
    if output is Format.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(f"{shown(slug)} has not been sent")
        return
    # one column per send, one line per count: readable in an 80-column terminal or cron mail
    zone = settings.zone
    table = Table("", *(f"send {row['send_id']} ({row['kind']})" for row in rows))
    table.add_row("transport", *(shown(row["transport"]) for row in rows))
    table.add_row("status", *(shown(row["status"]) for row in rows))
    for key in ("started_at", "finished_at"):
        times = (_local(row[key], zone, utc=False) for row in rows)
        table.add_row(key.replace("_", " "), *times)
    for key in TABLE_COUNTS:
        table.add_row(key.replace("_", " "), *(shown(row[key]) for row in rows))
    out.print(table)
    for row in rows:
        _report_lines(row, zone)
    for row in rows:
        if note := summary.not_delivered(row["transport"], row["accepted"], settings.outbox_dir):
            out.print(f"send {row['send_id']}: [bold yellow]{shown(note)}[/]")


def _local(iso: str | None, zone: ZoneInfo, *, utc: bool = True) -> str:
    """An ISO time of the report in the organisation's time zone (UTC beside with ``utc``)."""
    from newsletter.sending import summary

    if iso is None:
        return "-"
    text = summary.local_time(datetime.fromisoformat(iso), zone)
    return text if utc else text.partition(" (")[0]


TABLE_COUNTS = (
    "audience", "accepted", "delivered", "bounced", "dropped", "failed", "uncertain", "skipped",
    "pending",
)  # fmt: skip


def _report_lines(row: dict[str, Any], zone: ZoneInfo) -> None:
    send = f"send {row['send_id']}"
    out.print(
        f"{send} (started {_local(row['started_at'], zone)}): {row['complaints']} complaints, "
        f"{row['unsubscribes']} unsubscribes; {row['deferred']} deferred, "
        f"{row['soft_bounced']} soft bounces; uncertain: {row['uncertain_settled']} settled by "
        f"SendGrid's events, {row['uncertain_remaining']} remaining"
    )
    if "opens" in row:
        out.print(
            f"{send}: {row['opens']} opens (+{row['machine_opens']} machine opens), "
            f"{row['clicks']} clicks"
        )
    for status, reasons in row["reasons"].items():
        for reason, count in reasons.items():
            out.print(f"{send}: {count} {shown(status)}: {shown(reason or '(no reason recorded)')}")
