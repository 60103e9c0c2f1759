"""``newsletter subscribers ...``: the staff commands for the list."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.console import Group, err, open_engine, out, reports_errors, shown
from newsletter.errors import InvalidAddress, SubscriberError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from newsletter.config import Settings
    from newsletter.models import Subscriber, SubscriberStatus

if TYPE_CHECKING:
    import sqlalchemy as sa

subscribers_app = typer.Typer(
    help="The mailing list: add, list, count, import, reconfirm, export, erase, show.",
    no_args_is_help=True,
    cls=Group,
)


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class StatusChoice(StrEnum):
    """``models.SubscriberStatus``'s values, so ``--help`` need not import the schema (a test
    keeps them equal); ``_status`` turns the choice into the status."""

    pending = "pending"
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"


StatusOption = Annotated[StatusChoice | None, typer.Option(help="Only this status.")]


def _status(choice: StatusChoice | None) -> SubscriberStatus | None:
    from newsletter.models import SubscriberStatus

    return None if choice is None else SubscriberStatus(choice)


def _when(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else ""


def _email(settings: Settings, raw: str) -> str:
    from newsletter.subscribers import store as subscribers

    return subscribers.normalise_email(
        raw, check_deliverability=settings.email_check_deliverability
    )


def _as_stored(settings: Settings, raw: str) -> str:
    """An address to look up: validated, or as given if it no longer validates (stored before
    today's rules, say with non-ASCII before the @); one over 254 characters is refused."""
    from newsletter.subscribers.address import MAX_LENGTH

    try:
        return _email(settings, raw)
    except InvalidAddress:
        if len(raw.strip()) > MAX_LENGTH:
            raise
        return raw.strip()


@subscribers_app.command("add")
@reports_errors
def add(
    email: Annotated[str, typer.Argument(help="The address to add.")],
    name: Annotated[str, typer.Option(help="The person's name.")] = "",
    confirmed: Annotated[
        bool, typer.Option(help="They already agreed (no confirmation email).")
    ] = False,
    override_erasure: Annotated[
        bool,
        typer.Option(
            "--override-erasure",
            help="The address was erased, and the person has agreed again: remove its "
            "suppression entry and record new consent.",
        ),
    ] = False,
) -> None:
    """Add one address: pending with a confirmation email, or --confirmed."""
    from newsletter.config import get_settings
    from newsletter.db import session_scope
    from newsletter.email_jobs import queue
    from newsletter.subscribers import store as subscribers
    from newsletter.subscribers.confirmation import add_pending

    settings = get_settings()
    address = _email(settings, email)  # before the database: a bad address is one line
    engine = open_engine(settings)
    consent = subscribers.ConsentInfo(source="added by staff: newsletter subscribers add")
    if not confirmed:
        added, _ = add_pending(
            engine, address, name, consent, queue.ask, override_erasure=override_erasure
        )
        out.print(f"added {shown(added.email)} (pending)")
        assert added.id is not None
        _deliver_now(settings, engine, queue.waiting_for(engine, added.id))
        return
    with session_scope(engine) as session:
        added = subscribers.add(
            session,
            address,
            name,
            confirmed=True,
            consent=consent,
            override_erasure=override_erasure,
        )
    out.print(f"added {shown(added.email)} (confirmed)")


def _deliver_now(settings: Settings, engine: sa.Engine, job_id: int | None) -> None:
    """The job this command queued, delivered by this process through the email worker's own
    path (a worker elsewhere may take it first: then it says so)."""
    from newsletter.email_jobs.worker import Delivery
    from newsletter.models import EmailJobState
    from newsletter.transports.factory import make_transport

    done = Delivery(settings, engine, make_transport(settings)).drain(job_id=job_id)
    if done.sent:
        out.print("confirmation email sent")
    elif done.retried or not (done.failed or done.uncertain):
        out.print(
            "the confirmation email is queued: the email worker (newsletter serve, or "
            "newsletter worker) sends it; newsletter jobs shows how it went"
        )
    else:
        state = EmailJobState.failed if done.failed else EmailJobState.uncertain
        raise SubscriberError(
            f"the confirmation email was not sent ({state}); see newsletter jobs, and "
            "newsletter jobs retry to try again"
        )


def _dicts(rows: list[Subscriber]) -> list[dict[str, str]]:
    return [
        {
            "email": s.email,
            "name": s.name,
            "status": str(s.status),
            "created_at": _when(s.created_at),
            "confirmed_at": _when(s.confirmed_at),
            "unsubscribed_at": _when(s.unsubscribed_at),
        }
        for s in rows
    ]


@subscribers_app.command("list")
@reports_errors
def list_(
    status: StatusOption = None,
    output: Annotated[
        ListFormat, typer.Option("--format", help="table, csv or json.")
    ] = ListFormat.table,
) -> None:
    """Show subscribers, oldest first."""
    from rich.table import Table
    from sqlmodel import Session

    from newsletter.config import get_settings
    from newsletter.subscribers import store as subscribers
    from newsletter.subscribers.csv_files import write_csv

    settings = get_settings()
    with Session(open_engine(settings)) as session:
        rows = subscribers.listing(session, _status(status))
    if output is ListFormat.json:
        typer.echo(json.dumps(_dicts(rows), indent=2, ensure_ascii=False))
    elif output is ListFormat.csv:
        write_csv(rows, sys.stdout)
    else:
        table = Table("email", "name", "status", "since", title=f"{len(rows)} subscribers")
        for s in rows:
            table.add_row(shown(s.email), shown(s.name), str(s.status), f"{s.created_at:%Y-%m-%d}")
        out.print(table)


@subscribers_app.command("count")
@reports_errors
def count() -> None:
    """Subscribers per status, and the total."""
    from sqlmodel import Session

    from newsletter.config import get_settings
    from newsletter.subscribers import store as subscribers

    settings = get_settings()
    with Session(open_engine(settings)) as session:
        found = subscribers.counts(session)
    for status, n in found.items():
        out.print(f"{status:13} {n}")
    out.print(f"{'total':13} {sum(found.values())}")


@subscribers_app.command("import")
@reports_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.")],
    confirmed: Annotated[
        bool, typer.Option(help="Import as confirmed (they opted in elsewhere; needs --source).")
    ] = False,
    source: Annotated[
        str, typer.Option(help="Where and how these people agreed, for the consent record.")
    ] = "",
) -> None:
    """Import addresses from a CSV (ours or a Mailchimp-style export)."""
    if confirmed and not source.strip():
        raise SubscriberError("--confirmed needs --source saying where these people opted in")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from newsletter.config import get_settings
    from newsletter.db import session_scope
    from newsletter.subscribers.csv_files import DELIMITER_NAMES, import_csv

    settings = get_settings()
    engine = open_engine(settings)
    total = _count_lines(file)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err.rich, disable=total < 5000) as bar:
        task = bar.add_task("import", total=total)
        with session_scope(engine) as session:
            report = import_csv(
                session,
                file,
                confirmed=confirmed,
                source=f"{file.name}: {source}" if source else file.name,
                progress=lambda rows: bar.update(task, completed=rows),
            )
    state = "confirmed" if confirmed else "pending"
    out.print(f"read {shown(file.name)} as cells separated by {DELIMITER_NAMES[report.delimiter]}")
    out.print(
        f"{report.imported} imported ({state}), {report.duplicates} skipped as duplicates, "
        f"{len(report.invalid)} invalid, {report.suppressed} suppressed (erased), "
        f"{report.opted_out} unsubscribed in the file"
    )
    for line, problem in sorted(report.invalid + report.repeated):
        out.print(f"  line {line}: {shown(problem)}")


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as stream:
            return max(0, sum(1 for _ in stream) - 1)
    except OSError as exc:
        raise SubscriberError(f"cannot read {path}: {exc.strerror}") from exc


@subscribers_app.command("reconfirm")
@reports_errors
def reconfirm_(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Send at most this many emails in this run.")
    ] = None,
    per_second: Annotated[
        float, typer.Option(min=0.1, max=100, help="Emails per second, at most.")
    ] = 5.0,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before sending.")] = False,
) -> None:
    """Email the confirmation link to imported pending addresses never asked (re-permission)."""
    from newsletter.config import get_settings
    from newsletter.email_jobs import queue
    from newsletter.subscribers.confirmation import never_asked, reconfirm

    settings = get_settings()
    engine = open_engine(settings)
    waiting = never_asked(engine)
    count = min(waiting, limit) if limit else waiting
    if not count:
        out.print("nobody to ask: every pending subscriber has been sent a confirmation email")
        return
    out.print(
        f"{count} of {waiting} pending subscribers never sent a confirmation email will be sent "
        f"one, at most {per_second:g} a second (about {count / per_second:.0f} s)"
    )
    if not yes and not typer.confirm("Queue them?", default=False, err=True):
        raise typer.Exit(1)
    queued = reconfirm(engine, queue.ask, limit=limit, per_second=per_second)
    out.print(
        f"{queued} confirmation emails queued, at most {per_second:g} a second: the email worker "
        "(newsletter serve, or newsletter worker) sends them; newsletter jobs shows how far"
    )


@subscribers_app.command("export")
@reports_errors
def export(status: StatusOption = None) -> None:
    """Write subscribers as CSV to standard output."""
    from sqlmodel import Session

    from newsletter.config import get_settings
    from newsletter.subscribers import store as subscribers
    from newsletter.subscribers.csv_files import write_csv

    settings = get_settings()
    with Session(open_engine(settings)) as session:
        write_csv(subscribers.listing(session, _status(status)), sys.stdout)


@subscribers_app.command("erase")
@reports_errors
def erase(email: Annotated[str, typer.Argument(help="The address to erase.")]) -> None:
    """Delete a person's data; keep a hash so the address is never imported again."""
    from newsletter.config import get_settings
    from newsletter.db import session_scope
    from newsletter.subscribers import store as subscribers

    settings = get_settings()
    address = _as_stored(settings, email)
    with session_scope(open_engine(settings)) as session:
        found = subscribers.erase(session, address)
    what = "erased" if found else "was not on the list;"
    out.print(
        f"{shown(address)} {what} suppressed: it will not be imported, nor added again without "
        "--override-erasure"
    )


@subscribers_app.command("show")
@reports_errors
def show(email: Annotated[str, typer.Argument(help="The address to show.")]) -> None:
    """Status, consent records and status history of one subscriber."""
    from sqlmodel import Session

    from newsletter.config import get_settings
    from newsletter.subscribers import store as subscribers

    settings = get_settings()
    with Session(open_engine(settings)) as session:
        found = subscribers.require(session, _as_stored(settings, email))
        consents, events = subscribers.history(session, found)
    out.print(f"{shown(found.email)}  {shown(found.name)}")
    out.print(f"status: {found.status}   since {_when(found.created_at)}")
    out.print(f"confirmed: {_when(found.confirmed_at) or '-'}")
    out.print(f"unsubscribed: {_when(found.unsubscribed_at) or '-'}")
    out.print("consent:")
    for c in consents:
        detail = f"  {_when(c.at)}  {c.source}  ip={c.ip or '-'}  text v{c.text_version or '-'}"
        out.print(shown(detail + (f"  agent={c.user_agent}" if c.user_agent else "")))
    out.print("history:")
    for e in events:
        out.print(shown(f"  {_when(e.at)}  {e.from_status or '-'} -> {e.to_status}  ({e.reason})"))
