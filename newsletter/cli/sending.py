"""``newsletter send``, ``schedule`` and ``send-due``: deliver issues (``report``: reports.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.console import (
    err,
    open_engine,
    out,
    report_findings,
    reports_errors,
    shown,
)
from newsletter.errors import SendError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from newsletter.config import Settings
    from newsletter.models import Send
    from newsletter.sending import summary
    from newsletter.sending.sender import Progress as SendProgress
    from newsletter.sending.sender import Sender

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
    processes: Annotated[
        int | None,
        typer.Option(
            min=1, max=32, help="Send in N processes (default: the send_processes setting)."
        ),
    ] = None,
) -> None:
    """Send an issue to every confirmed subscriber, exactly once (or a --test proof)."""
    from newsletter.config import get_settings
    from newsletter.sending import approval, summary
    from newsletter.sending.sender import Sender, SendOptions, check_live_links, checked_build
    from newsletter.subscribers.tokens import Tokens
    from newsletter.transports.factory import make_transport

    settings = get_settings()
    engine = open_engine(settings)
    how_many = processes or settings.send_processes
    if bool(addresses) != test:
        raise SendError("give --test with the addresses to send a proof to: --test ADDR [ADDR...]")
    if not test and _already_finished(settings, engine, issue, resend_uncertain):
        return
    if not test:
        check_live_links(settings)
    build = checked_build(settings, engine, issue)
    report_findings(build)
    if not test:
        approval.require(settings, engine, build.issue.slug, compiled=build.compiled.content_hash)
    transport = make_transport(settings)

    def sender_with_bar(total: int) -> tuple[Sender, _Bar | None]:
        bar = _Bar(total) if total else None  # nothing to send: no empty bar
        options = SendOptions.from_settings(
            settings,
            resend_uncertain=resend_uncertain,
            allow_changed=allow_changed,
            on_batch=bar.update if bar else None,
            started_by="cli",
        )
        return Sender(engine, transport, Tokens.from_settings(settings), options), bar

    if test:
        proofs = addresses or []
        sender, bar = sender_with_bar(len(proofs))
        _run(settings, engine, sender, sender.start_test(build.compiled, proofs), bar)
        return
    slug, subject = shown(build.issue.slug), shown(build.compiled.subject)
    existing, totals = summary.live_state(engine, build.issue.slug)
    to_send = totals.to_send(resend_uncertain=resend_uncertain)
    how = shown(summary.transport_words(settings))
    if existing is None:
        people = summary.count(to_send, "recipient")
        out.print(f"About to send [bold]{slug}[/] ({subject}) to {people} via {how}")
    elif to_send:
        out.print(
            f"About to resume send {existing.id} of [bold]{slug}[/] ({subject}): {to_send} of "
            f"{totals.words()}; via {how}"
        )
    else:  # only rows in flight: another process is sending them, or one died (uncertain)
        out.print(f"send {existing.id} of [bold]{slug}[/]: nothing left to send; {totals.words()}")
    if to_send and not yes and not typer.confirm("Go ahead?", default=False):
        raise typer.Exit(1)
    sender, bar = sender_with_bar(to_send)
    _run(settings, engine, sender, sender.start_live(build.compiled), bar, how_many)


def _already_finished(
    settings: Settings, engine: sa.Engine, issue: str, resend_uncertain: bool
) -> bool:
    """True, said in a line or two, when the issue's live send has nothing left to do."""
    from newsletter.issues.file import resolve_path
    from newsletter.models import SendStatus, utcnow
    from newsletter.sending import ledger, summary

    slug = resolve_path(issue, settings.issues_dir).stem
    existing, totals = summary.live_state(engine, slug)
    if existing is None or existing.id is None or totals.open:
        return False
    if resend_uncertain and totals.uncertain:
        return False
    if existing.status != SendStatus.finished:  # its last process died before closing it
        ledger.close(engine, existing.id, SendStatus.finished)
    finished = summary.local_time(existing.finished_at or utcnow(), settings.zone)
    out.print(
        f"{shown(slug)} was already sent: send {existing.id} ({shown(existing.transport)}), "
        f"finished {finished}: {totals.words()}. Nothing to do."
    )
    _notes(settings, existing, totals)
    return True


def _run(
    settings: Settings,
    engine: sa.Engine,
    sender: Sender,
    record: Send,
    bar: _Bar | None,
    processes: int = 1,
) -> None:
    """Run the send (in ``processes`` processes), then say what the whole send amounts to (and
    what this run did)."""
    from newsletter.sending import summary

    assert record.id is not None

    def deliver() -> SendProgress:
        if processes == 1:
            return sender.run(record)
        from newsletter.sending import processes as several

        return several.run(settings, engine, sender, record, processes)

    try:
        progress = bar.run(deliver) if bar else deliver()
    except SendError:
        _totals_line(engine, record)  # the error line follows: resume with the same command
        raise
    totals = _totals_line(engine, record)
    if progress.stopped:
        raise SendError(
            f"send {record.id} of {record.issue_slug} was stopped on request (the dashboard's "
            f"Stop) after the batch in flight: newsletter send {record.issue_slug} resumes it"
        )
    out.print(
        f"this run: {progress.accepted} accepted, {progress.failed} failed, "
        f"{progress.uncertain} uncertain, {progress.skipped} skipped in "
        f"{summary.count(progress.batches, 'batch')} ({progress.retries} retries)"
    )
    if totals.in_flight:
        out.print(f"{totals.in_flight} recipients are in flight in another process")
    _notes(settings, record, totals)
    if totals.failed or totals.uncertain:
        err.print(f"see: newsletter report {shown(record.issue_slug)}")
        raise typer.Exit(1)


def _totals_line(engine: sa.Engine, record: Send) -> summary.Totals:
    from sqlmodel import Session

    from newsletter.models import Send, SendKind
    from newsletter.sending import summary

    assert record.id is not None
    with Session(engine) as session:  # its audience and transport as they are now
        record = session.get(Send, record.id) or record
    totals = summary.totals(engine, record.id or 0, record.audience)
    kind = "test send" if record.kind == SendKind.test else "send"
    out.print(
        f"{kind} {record.id} of {shown(record.issue_slug)} ({shown(record.transport)}): "
        f"{totals.words()}"
    )
    return totals


def _notes(settings: Settings, record: Send, totals: summary.Totals) -> None:
    """What the operator must not miss: messages that reached nobody, recipients uncertain."""
    from newsletter.models import SendKind
    from newsletter.sending import summary

    if note := summary.not_delivered(record.transport, totals.accepted, settings.outbox_dir):
        out.print(f"[bold yellow]{shown(note)}[/]")
    if totals.uncertain and record.kind == SendKind.live:
        out.print(
            f"{totals.uncertain} uncertain recipients may or may not have it: newsletter send "
            f"{shown(record.issue_slug)} --resend-uncertain sends to them (some may get it twice)"
        )


class _Bar:
    """A send's progress bar: ``update`` is the Sender's ``on_batch``, shown while ``run`` runs."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

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
        self.bar = Progress(*columns, console=out.rich, transient=False)
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

    def run(self, deliver: Callable[[], SendProgress]) -> SendProgress:
        with self.bar:
            self.bar.start_task(self.task)  # elapsed time counts from here, not from __init__
            return deliver()


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
    from newsletter.config import get_settings
    from newsletter.issues.file import resolve_path, scheduled_send_at
    from newsletter.models import utcnow
    from newsletter.sending import approval, scheduler, summary
    from newsletter.sending.sender import checked_build

    settings = get_settings()
    engine = open_engine(settings)
    path = resolve_path(issue, settings.issues_dir)
    slug = path.stem
    when = at if at.tzinfo else at.replace(tzinfo=settings.zone)
    now = utcnow()
    scheduler.schedulable(engine, slug, when, zone=settings.zone, now=now)  # not past, not sent
    build = checked_build(settings, engine, issue)
    approval.require(
        settings, engine, slug, compiled=build.compiled.content_hash, doing="scheduled"
    )
    scheduler.schedule(engine, slug, when, zone=settings.zone, now=now)
    line = f"{shown(slug)} is due {summary.local_time(when, settings.zone)}, in "
    line += summary.duration(when - now)
    in_file = scheduled_send_at(path, settings.zone)
    if in_file is not None and in_file != when:
        line += f" (instead of send_at {summary.local_time(in_file, settings.zone)} in its file)"
    out.print(line)


@sending_app.command("send-due")
@reports_errors
def send_due(
    force: Annotated[
        bool, typer.Option(help="Also send issues whose time is more than stale_after ago.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also show what is not due, already sent or skipped, and why."
        ),
    ] = False,
) -> None:
    """One pass: send every issue whose time has come (for cron / a systemd timer).

    Prints nothing when there is nothing to do (cron mails any output).
    """
    from newsletter.config import get_settings
    from newsletter.models import utcnow
    from newsletter.sending import scheduler, summary
    from newsletter.transports.factory import make_transport

    settings = get_settings()
    engine = open_engine(settings)
    outcomes = scheduler.send_due(
        settings, engine, make_transport(settings), force=force, processes=settings.send_processes
    )
    if verbose:
        out.print(f"send-due at {summary.local_time(utcnow(), settings.zone)}:")
        if not outcomes:
            out.print(f"no issues in {shown(settings.issues_dir)} and none scheduled")
    for outcome in outcomes:
        if outcome.quiet and not verbose:
            continue
        line = f"{outcome.slug}: {outcome.action}" + (
            f" ({outcome.detail})" if outcome.detail else ""
        )
        (err if outcome.failed else out).print(shown(line))
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)
