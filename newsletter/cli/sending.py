"""``newsletter send``, ``schedule``, ``send-due`` and ``report``: deliver issues, see results."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session

from newsletter.cli.console import (
    Format,
    err,
    open_engine,
    out,
    report_findings,
    reports_errors,
    shown,
)
from newsletter.config import get_settings
from newsletter.errors import SendError
from newsletter.models import Send, SendKind
from newsletter.sending import report as reporting
from newsletter.sending import scheduler
from newsletter.sending.sender import Progress as SendProgress
from newsletter.sending.sender import (
    Sender,
    SendOptions,
    check_live_links,
    checked_build,
    live_audience,
)
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.factory import make_transport

sending_app = typer.Typer()


@sending_app.command()
@reports_errors
def send(
    issue: Annotated[str, typer.Argument(help="Issue slug or path to its .toml file.")],
    addresses: Annotated[
        list[str] | None, typer.Argument(help="With --test: the addresses to send a proof to.")
    ] = None,
    test: Annotated[
        bool, typer.Option("--test", help="Send a [TEST] proof to ADDR... instead of the list.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    resend_uncertain: Annotated[
        bool, typer.Option(help="Also send to recipients a crash left uncertain.")
    ] = False,
    allow_changed: Annotated[
        bool, typer.Option(help="Resume a partial send although the issue has changed.")
    ] = False,
) -> None:
    """Send an issue to every confirmed subscriber, exactly once (or a --test proof)."""
    settings = get_settings()
    engine = open_engine(settings)
    if bool(addresses) != test:
        raise SendError("give --test with the addresses to send a proof to: --test ADDR [ADDR...]")
    if not test:
        check_live_links(settings)
    build = checked_build(settings, engine, issue)
    report_findings(build)
    transport = make_transport(settings)

    def sender_with_bar(total: int) -> tuple[Sender, _Bar]:
        bar = _Bar(total)
        options = SendOptions.from_settings(
            settings,
            resend_uncertain=resend_uncertain,
            allow_changed=allow_changed,
            on_batch=bar.update,
        )
        return Sender(engine, transport, Tokens.from_settings(settings), options), bar

    if test:
        proofs = addresses or []
        sender, bar = sender_with_bar(len(proofs))
        record = sender.start_test(build.compiled, proofs)
        _finish(record, bar.run(sender, record))
        return
    existing, audience = live_audience(engine, build.issue.slug)
    what = "resume the send of" if existing else "send"
    out.print(
        f"About to {what} [bold]{shown(build.issue.slug)}[/] ({shown(build.compiled.subject)}) "
        f"to {audience} recipients through the {settings.transport} transport."
    )
    if not yes and not typer.confirm("Go ahead?", default=False):
        raise typer.Exit(1)
    sender, bar = sender_with_bar(audience)
    record = sender.start_live(build.compiled)
    _finish(record, bar.run(sender, record))


class _Bar:
    """A send's progress bar: ``update`` is the Sender's ``on_batch``, shown while ``run`` runs."""

    def __init__(self, total: int) -> None:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "{task.fields[rate]:.0f}/s, batch {task.fields[batches]}, "
                "{task.fields[retries]} retries"
            ),
            TimeElapsedColumn(),
        )
        self.bar = Progress(*columns, console=out, transient=False)
        self.task = self.bar.add_task(
            "sending", total=max(total, 1), start=False, rate=0.0, batches=0, retries=0
        )

    def update(self, progress: SendProgress) -> None:
        done = progress.accepted + progress.failed + progress.uncertain + progress.skipped
        self.bar.update(
            self.task,
            completed=done,
            rate=progress.rate,
            batches=progress.batches,
            retries=progress.retries,
        )

    def run(self, sender: Sender, record: Send) -> SendProgress:
        with self.bar:
            self.bar.start_task(self.task)  # elapsed time counts from here, not from __init__
            return sender.run(record)


def _finish(record: Send, progress: SendProgress) -> None:
    kind = "test send" if record.kind == SendKind.test else "send"
    out.print(
        f"{kind} {record.id}: {progress.accepted} accepted, {progress.failed} failed, "
        f"{progress.uncertain} uncertain in {progress.batches} batches ({progress.retries} retries)"
    )
    if progress.failed or progress.uncertain:
        err.print(f"see: newsletter report {shown(record.issue_slug)}")
        raise typer.Exit(1)


@sending_app.command()
@reports_errors
def schedule(
    issue: Annotated[str, typer.Argument(help="Issue slug.")],
    at: Annotated[
        datetime,
        typer.Option(
            "--at",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"],
            help="When: 2016-10-04T09:00+07:00, or local time in the timezone setting.",
        ),
    ],
) -> None:
    """Set when send-due sends an issue (overrides send_at in the issue file)."""
    settings = get_settings()
    engine = open_engine(settings)
    checked_build(settings, engine, issue)
    when = at if at.tzinfo else at.replace(tzinfo=settings.zone)
    scheduler.schedule(engine, issue, when)
    out.print(f"{shown(issue)} is due {when.astimezone(settings.zone):%Y-%m-%d %H:%M %Z}")


@sending_app.command("send-due")
@reports_errors
def send_due(
    force: Annotated[
        bool, typer.Option(help="Also send issues whose time is more than stale_after ago.")
    ] = False,
) -> None:
    """One pass: send every issue whose time has come (for cron / a systemd timer)."""
    settings = get_settings()
    engine = open_engine(settings)
    outcomes = scheduler.send_due(settings, engine, make_transport(settings), force=force)
    for outcome in outcomes:
        line = f"{outcome.slug}: {outcome.action}" + (
            f" ({outcome.detail})" if outcome.detail else ""
        )
        (err if outcome.failed else out).print(shown(line))
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)


@sending_app.command()
@reports_errors
def report(
    issue: Annotated[str, typer.Argument(help="Issue slug.")],
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Per send of an issue: delivered, bounced, dropped, complaints, unsubscribes, with reasons."""
    settings = get_settings()
    with Session(open_engine(settings)) as session:
        rows = reporting.report(session, issue, engagement=settings.track_engagement)
    if output is Format.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(f"{shown(issue)} has not been sent")
        return
    # one column per send, one line per count: readable in an 80-column terminal or cron mail
    table = Table("", *(f"send {row['send_id']} ({row['kind']})" for row in rows))
    for key in ("status", "started_at", *TABLE_COUNTS):
        table.add_row(key.replace("_", " "), *(shown(row[key]) for row in rows))
    out.print(table)
    for row in rows:
        _report_lines(row)


TABLE_COUNTS = (
    "audience", "accepted", "delivered", "bounced", "dropped", "failed", "uncertain", "skipped",
    "pending",
)  # fmt: skip


def _report_lines(row: dict[str, Any]) -> None:
    send = f"send {row['send_id']}"
    out.print(
        f"{send} (started {row['started_at']}): {row['complaints']} complaints, "
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
