"""``newsletter worker`` (the email worker in the foreground) and ``newsletter jobs`` (the email
job table: counts, what failed, retrying it). docs/email-jobs.md.

Heavy modules are imported inside the commands, so ``newsletter --help`` does not pay for them.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from newsletter.cli.console import Format, err, open_engine, out, reports_errors, shown
from newsletter.errors import NewsletterError

worker_app = typer.Typer()
jobs_app = typer.Typer(
    help="Email jobs (confirmations, staff links): counts, failures, retry.",
    invoke_without_command=True,
)


@worker_app.command("worker")
@reports_errors
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver every job due now, then exit.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.05, help="Seconds between two looks at the job table (email_job_interval)."
        ),
    ] = None,
) -> None:
    """Deliver queued emails (confirmations, staff links), with retries, until stopped."""
    import logging
    import signal

    from newsletter.config import get_settings
    from newsletter.email_jobs.worker import EmailWorker
    from newsletter.transports.factory import make_transport

    settings = get_settings()
    engine = open_engine(settings)
    loop = EmailWorker(settings, engine, make_transport(settings), interval=interval)
    if once:
        done = loop.delivery.drain()
        out.print(f"email jobs: {done.line()}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    err.print(
        f"email worker {shown(loop.delivery.worker)}: a look at the job table every "
        f"{loop.interval:g} s; Ctrl-C or SIGTERM stops it after the email in flight"
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: loop.stop(timeout=0))
    loop.run()


@jobs_app.callback()
@reports_errors
def jobs(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Email jobs per state, and the failed and uncertain ones with their last error."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from newsletter.config import get_settings
    from newsletter.email_jobs import queue
    from newsletter.models import EmailJobState

    engine = open_engine(get_settings())
    counts = queue.counts(engine)
    stuck = queue.listing(engine, EmailJobState.failed, EmailJobState.uncertain)
    if output is Format.json:
        rows = [
            {"id": j.id, "kind": j.kind, "state": j.state, "attempts": j.attempts,
             "created_at": j.created_at.isoformat(), "last_error": j.last_error}
            for j in stuck
        ]  # fmt: skip
        typer.echo(json.dumps({"counts": counts, "failed_or_uncertain": rows}, indent=2))
        return
    out.print("  ".join(f"{state}: {n}" for state, n in counts.items()))
    if not stuck:
        return
    table = Table("id", "kind", "state", "tries", "queued", "last error")
    for j in stuck:
        table.add_row(
            str(j.id), j.kind, j.state, str(j.attempts),
            f"{j.created_at:%Y-%m-%d %H:%M} UTC", shown(j.last_error),
        )  # fmt: skip
    out.print(table)
    out.print("newsletter jobs retry ID... (or --failed) queues them again")


@jobs_app.command("retry")
@reports_errors
def retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Ids of failed or uncertain jobs.", min=1)
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed job (not the uncertain ones).")
    ] = False,
) -> None:
    """Queue failed or uncertain jobs again. An uncertain email may then arrive twice."""
    from newsletter.email_jobs import queue

    if not ids and not failed:
        raise NewsletterError("name the jobs to retry (their ids), or --failed: every failed one")
    from newsletter.config import get_settings

    engine = open_engine(get_settings())
    count = queue.retry(engine, job_ids=ids or None, failed=failed)
    out.print(f"{count} email jobs queued again; the email worker sends them")
