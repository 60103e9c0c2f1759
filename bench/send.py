"""One live send of the sample issue to N generated subscribers through SendGridTransport.

    python bench/send.py [N] [--runs R] [--database-url URL] [--transport outbox]

With ``--transport outbox`` the messages are written as .eml files (each one fsynced and
renamed into place, exactly once per recipient) into a temporary folder instead, and no fake
SendGrid is started; "time in transport calls" is then building and writing the files.

The validating fake SendGrid runs in its own process on loopback (tests/fake_sendgrid.py), so
its JSON parsing and schema validation do not share our interpreter. Prints, per run and as
medians: wall time, recipients/s, peak RSS of this process, and how the time splits between
our code (ledger, personalisation, request building) and the transport call (the SDK's HTTP
round trip, including the fake's validation), and the CPU time our process used. With one
worker (--concurrency 1) wall time = our time + transport time; with more, they overlap.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from newsletter.transports.base import BatchResult, Message, Transport

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class TimedTransport:
    """The real transport, with a stopwatch around each call."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.max_batch = inner.max_batch
        self.seconds = 0.0

    def send(self, message: Message) -> BatchResult:
        start = time.perf_counter()
        try:
            return self.inner.send(message)
        finally:
            self.seconds += time.perf_counter() - start


def _subscribers(engine: sa.Engine, count: int) -> None:
    from newsletter.models import subscriber_table, utcnow

    now = utcnow()
    chunk = 20_000
    with engine.begin() as connection:
        for start in range(0, count, chunk):
            connection.execute(
                subscriber_table.insert(),
                [
                    {
                        "key": f"{i:032x}",
                        "email": f"reader{i}@example.net",
                        "name": f"Reader {i}",
                        "status": "confirmed",
                        "created_at": now,
                        "confirmed_at": now,
                    }
                    for i in range(start, min(start + chunk, count))
                ],
            )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(
    count: int,
    database_url: str | None,
    fake_url: str,
    api_key: str,
    concurrency: int,
    outbox: bool = False,
) -> dict[str, float]:
    from newsletter import db
    from newsletter.config import Settings
    from newsletter.issues.build import build_issue, sync_markdown
    from newsletter.sending.sender import Sender, SendOptions
    from newsletter.subscribers.tokens import Tokens
    from newsletter.transports.outbox import OutboxTransport
    from newsletter.transports.sendgrid import SendGridTransport

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, Path(tmp) / name)
        shutil.copy(ROOT / "newsletter.toml", Path(tmp) / "newsletter.toml")
        os.chdir(tmp)
        url = database_url or f"sqlite:///{tmp}/bench.db"
        settings = Settings(
            database_url=url,
            secret_key="bench-secret-bench-secret-bench-secret",
            send_concurrency=concurrency,
        )
        engine = db.make_engine(url)
        if database_url:
            with engine.begin() as connection:
                for table in ("delivery", "send", "status_event", "consent", "subscriber", "post"):
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        db.ensure_schema(engine)
        sync_markdown(settings, engine)
        _subscribers(engine, count)
        compiled = build_issue(settings, engine, "2016-q3").compiled
        inner: Transport = (
            OutboxTransport(Path(tmp) / "outbox")
            if outbox
            else SendGridTransport(api_key, host=fake_url, timeout=60)
        )
        transport = TimedTransport(inner)
        options = SendOptions.from_settings(settings)
        sender = Sender(engine, transport, Tokens.from_settings(settings), options)
        start, cpu = time.perf_counter(), _cpu()
        record = sender.start_live(compiled)
        progress = sender.run(record)
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
        engine.dispose()
        os.chdir(ROOT)
    assert progress.accepted == count, progress
    return {
        "wall": wall,
        "rate": count / wall,
        "http": transport.seconds,
        "cpu": cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="send_concurrency (workers)")
    parser.add_argument(
        "--database-url", default=None, help="e.g. a PostgreSQL URL (tables are dropped!)"
    )
    parser.add_argument("--transport", choices=("sendgrid", "outbox"), default="sendgrid")
    args = parser.parse_args()
    if args.transport == "outbox":
        runs = [
            one_run(args.count, args.database_url, "", "", args.concurrency, outbox=True)
            for _ in range(args.runs)
        ]
        report(args, runs, "writing the .eml files")
        return
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    api_key = "SG.bench-key.for-the-fake"
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fake_sendgrid",
            "--api-key",
            api_key,
            "--fast",
            "--no-record",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None and fake.stdin is not None
    fake_url = fake.stdout.readline().strip()
    results = []
    try:
        for _ in range(args.runs):
            results.append(
                one_run(args.count, args.database_url, fake_url, api_key, args.concurrency)
            )
    finally:
        fake.stdin.close()
        fake.wait(timeout=60)
    report(args, results, "HTTP + the fake's validation")


def report(args: argparse.Namespace, results: list[dict[str, float]], transport: str) -> None:
    for run, result in enumerate(results, 1):
        print(
            f"run {run}: {result['wall']:.2f} s, {result['rate']:,.0f} recipients/s, "
            f"our process's CPU {result['cpu']:.2f} s, in transport calls {result['http']:.2f} s, "
            f"peak RSS {result['rss_mb']:.0f} MB"
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"send of {args.count:,} recipients through {args.transport} ({backend}, batches of "
        f"1000, {args.concurrency} workers), median of {args.runs}: {median('wall'):.2f} s, "
        f"{median('rate'):,.0f} recipients/s; our process's CPU {median('cpu'):.2f} s; "
        f"time in transport calls ({transport}, summed over workers) "
        f"{median('http'):.2f} s; "
        f"peak RSS {max(r['rss_mb'] for r in results):.0f} MB"
    )


if __name__ == "__main__":
    main()
