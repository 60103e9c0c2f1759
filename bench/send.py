"""A live send of the sample issue to N generated subscribers, against a floor in the same run.

    python bench/send.py [N] [--runs R] [--processes 1,2] [--database-url URL]
    python bench/send.py 200000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/send.py 1000000 --runs 3
    python bench/send.py [N] --transport outbox

**The send**: ``Sender`` (the send ledger's claim and settle, personalisation, the request body,
the SDK's POST) with ``send_concurrency`` workers, in 1 process or in several
(``newsletter.sending.processes``, as ``newsletter send --processes N``), timed from
``start_live`` (the audience is written) to the end of the run.

**The floor**: what any sender of this list must do, with no ledger: read the subscribers'
rows, sign each unsubscribe token (the same itsdangerous signing, ``Tokens``), build the same
plain request bodies (same batch size, the same personalizations) and upload them through the
same SDK client to the same fake, with the same number of threads, in one process.

The validating fake SendGrid runs in its own process on loopback (tests/fake_sendgrid.py, each
distinct personalization shape validated once). Each measured thing runs in a fresh process of
its own (so peak RSS is its own): prints per run and as medians of the runs wall time,
recipients/s, CPU, peak RSS (for N processes: the parent plus the largest child, times N as an
upper bound), and the ratio send/floor. A PostgreSQL URL names the server: the bench creates a
database of its own there and drops it at the end. The machine may be shared: figures are noisy.

With ``--transport outbox`` the messages are written as .eml files instead (no fake, no floor).
"""

from __future__ import annotations

import argparse
import html
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
API_KEY = "SG.bench-key.for-the-fake"
SECRET = "bench-secret-bench-secret-bench-secret"
FAKE_FLAGS = ("--fast", "--no-record")  # each personalization shape validated once; counts only


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


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime,
        "rss_mb": me.ru_maxrss / 1024,
        "child_rss_mb": children.ru_maxrss / 1024,
    }


def _settings(database_url: str, fake_url: str, concurrency: int, outbox: Path | None) -> Any:
    from newsletter.config import Settings

    return Settings(
        database_url=database_url,
        secret_key=SECRET,
        send_concurrency=concurrency,
        transport="outbox" if outbox else "sendgrid",
        outbox_dir=outbox or Path("outbox"),
        sendgrid_api_key=API_KEY,
        sendgrid_host=fake_url or "http://127.0.0.1:9",
        sendgrid_timeout=60,
    )


def measure_send(settings: Any, processes: int, count: int, folder: str) -> dict[str, float]:
    """One live send of the issue (in a process of its own): its figures."""
    from newsletter import db
    from newsletter.issues.build import build_issue
    from newsletter.sending import processes as several
    from newsletter.sending.sender import Sender, SendOptions
    from newsletter.subscribers.tokens import Tokens
    from newsletter.transports.factory import make_transport

    os.chdir(folder)
    engine = db.make_engine(settings.database_url)
    compiled = build_issue(settings, engine, "2016-q3").compiled
    options = SendOptions.from_settings(settings)
    sender = Sender(engine, make_transport(settings), Tokens.from_settings(settings), options)
    before, start = _usage(), time.perf_counter()
    record = sender.start_live(compiled)
    if processes == 1:
        progress = sender.run(record)
    else:
        progress = several.run(settings, engine, sender, record, processes)
    wall, after = time.perf_counter() - start, _usage()
    engine.dispose()
    assert progress.accepted == count, progress
    return {
        "wall": wall,
        "cpu": after["cpu"] - before["cpu"],
        "rss_mb": after["rss_mb"],
        "child_rss_mb": after["child_rss_mb"] if processes > 1 else 0.0,
    }


def measure_floor(settings: Any, count: int, folder: str) -> dict[str, float]:
    """Read the rows, sign the tokens, build and upload plain request bodies: no ledger."""
    from sendgrid import SendGridAPIClient

    from newsletter import db
    from newsletter.issues import placeholders
    from newsletter.issues.build import build_issue
    from newsletter.models import subscriber_table
    from newsletter.sending.sender import content_of
    from newsletter.subscribers.tokens import Tokens

    os.chdir(folder)
    engine = db.make_engine(settings.database_url)
    content = content_of(build_issue(settings, engine, "2016-q3").compiled)
    tokens = Tokens.from_settings(settings)
    wanted = sorted(placeholders.used_by_send(content.html, content.text))
    batch = settings.sendgrid_batch_size
    base = settings.base_url
    view = f"{base}/archive/{content.issue_slug}"
    common: dict[str, Any] = {
        "from": {"email": settings.from_email, "name": settings.from_name},
        "subject": content.subject,
        "content": [
            {"type": "text/plain", "value": content.text},
            {"type": "text/html", "value": content.html},
        ],
    }
    if settings.reply_to:
        common["reply_to"] = {"email": settings.reply_to}
    lock = threading.Lock()
    last = [0]
    sent = [0]
    local = threading.local()
    columns = (subscriber_table.c.id, subscriber_table.c.key, subscriber_table.c.email)
    pick = sa.select(*columns, subscriber_table.c.name).where(
        subscriber_table.c.status == "confirmed"
    )

    def rows() -> list[Any]:
        with lock:  # keyset pages: each worker takes the next one
            with engine.connect() as connection:
                found = connection.execute(
                    pick.where(subscriber_table.c.id > last[0])
                    .order_by(subscriber_table.c.id)
                    .limit(batch)
                ).all()
            if found:
                last[0] = found[-1][0]
            return list(found)

    def personalization(row: Any) -> dict[str, Any]:
        subscriber_id, key, email, name = row
        unsubscribe = f"{base}/unsubscribe/{tokens.unsubscribe_token(key)}"
        values = {"email": email, "name": name, "unsubscribe_url": unsubscribe, "view_url": view}
        substitutions = {}
        for placeholder in wanted:
            substitutions[f"%%{placeholder}%%"] = values[placeholder]
            substitutions[f"%%{placeholder}_html%%"] = html.escape(values[placeholder])
        return {
            "to": [{"email": email, "name": name}],
            "headers": {
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "substitutions": substitutions,
            "custom_args": {"send_id": "1", "subscriber_id": str(subscriber_id)},
        }

    def worker() -> None:
        if not hasattr(local, "client"):
            local.client = SendGridAPIClient(api_key=API_KEY, host=settings.sendgrid_host)
            local.client.client.timeout = 60
        while found := rows():
            body = {"personalizations": [personalization(r) for r in found], **common}
            local.client.client.mail.send.post(request_body=body)
            with lock:
                sent[0] += len(found)

    threads = max(1, settings.send_concurrency)
    before, start = _usage(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()
    wall, after = time.perf_counter() - start, _usage()
    engine.dispose()
    assert sent[0] == count, sent
    return {"wall": wall, "cpu": after["cpu"] - before["cpu"], "rss_mb": after["rss_mb"]}


def _isolated(function: Any, *args: Any) -> dict[str, float]:
    """``function(*args)`` in a fresh process (spawn): its own peak RSS, no state carried.
    Not a Pool: a pool's processes are daemons, which may not start the sending processes."""
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_returning, args=(writer, function, *args))
    process.start()
    writer.close()
    result: dict[str, float] = reader.recv()
    process.join()
    return result


def _returning(pipe: Any, function: Any, *args: Any) -> None:
    pipe.send(function(*args))


def _reset(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM delivery")
        connection.exec_driver_sql("DELETE FROM send")


def _database(url: str | None, folder: str) -> tuple[str, str | None]:
    """(the bench's database URL, the PostgreSQL database to drop at the end)."""
    if not url:
        return f"sqlite:///{folder}/bench.db", None
    name = f"bench_send_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), name


def _drop(url: str, name: str) -> None:
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="send_concurrency (workers)")
    parser.add_argument("--processes", default="1,2", help="comma-separated, e.g. 1,2")
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL server (a database is made there)"
    )
    parser.add_argument("--transport", choices=("sendgrid", "outbox"), default="sendgrid")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    fake = None
    fake_url = ""
    if args.transport == "sendgrid":
        fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_sendgrid", "--api-key", API_KEY, *FAKE_FLAGS],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert fake.stdout is not None and fake.stdin is not None
        fake_url = fake.stdout.readline().strip()
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, Path(folder) / name)
        shutil.copy(ROOT / "newsletter.toml", Path(folder) / "newsletter.toml")
        url, made = _database(args.database_url, folder)
        outbox = Path(folder) / "outbox" if args.transport == "outbox" else None
        settings = _settings(url, fake_url, args.concurrency, outbox)
        try:
            engine = _prepare(settings, args.count, folder)
            for run in range(1, args.runs + 1):
                if fake is not None:
                    floor = _isolated(measure_floor, settings, args.count, folder)
                    results.setdefault("floor", []).append(floor)
                    _line(run, "floor", floor, args.count)
                for processes in counts:
                    _reset(engine)
                    if outbox is not None:
                        shutil.rmtree(outbox, ignore_errors=True)
                    figures = _isolated(measure_send, settings, processes, args.count, folder)
                    results.setdefault(f"send, {processes} processes", []).append(figures)
                    _line(run, f"send, {processes} processes", figures, args.count)
            engine.dispose()
        finally:
            if made and args.database_url:
                _drop(args.database_url, made)
            if fake is not None and fake.stdin is not None:
                fake.stdin.close()
                fake.wait(timeout=60)
    _summary(args, results)


def _prepare(settings: Any, count: int, folder: str) -> sa.Engine:
    from newsletter import db
    from newsletter.issues.build import sync_markdown

    here = Path.cwd()
    os.chdir(folder)
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    sync_markdown(settings, engine)
    _subscribers(engine, count)
    _settled(engine)
    os.chdir(here)
    return engine


def _settled(engine: sa.Engine) -> None:
    """On PostgreSQL, the list as a long-lived one is (autovacuum has been by), not as a bulk
    load just left it: ``VACUUM ANALYZE``. Else the first reader of the new rows, the floor,
    pays for setting their hint bits without statistics for the planner (397 s of wall time
    for 69 s of CPU at 1,000,000). SQLite has no such debt, and a database the app made has no
    ``ANALYZE`` statistics: left as it is."""
    if engine.dialect.name == "postgresql":  # VACUUM runs outside a transaction
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def _rss(figures: dict[str, float], processes: int) -> str:
    if processes <= 1 or not figures.get("child_rss_mb"):
        return f"peak RSS {figures['rss_mb']:.0f} MB"
    total = figures["rss_mb"] + processes * figures["child_rss_mb"]
    return (
        f"peak RSS {figures['rss_mb']:.0f} MB + {processes} x <= "
        f"{figures['child_rss_mb']:.0f} MB (<= {total:.0f} MB)"
    )


def _line(run: int, what: str, figures: dict[str, float], count: int) -> None:
    processes = int(what.split(", ")[1].split()[0]) if what.startswith("send") else 1
    print(
        f"run {run}, {what}: {figures['wall']:.2f} s, {count / figures['wall']:,.0f} "
        f"recipients/s, CPU {figures['cpu']:.2f} s, {_rss(figures, processes)}",
        flush=True,
    )


def _summary(args: argparse.Namespace, results: dict[str, list[dict[str, float]]]) -> None:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{args.count:,} recipients, {backend}, {args.transport}, batches of 1000, "
        f"{args.concurrency} workers per process; medians of {args.runs} runs "
        "(machine shared with other work: noisy)"
    )
    floor = statistics.median(r["wall"] for r in results["floor"]) if "floor" in results else 0
    floor_cpu = statistics.median(r["cpu"] for r in results["floor"]) if floor else 0
    for what, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        processes = int(what.split(", ")[1].split()[0]) if what.startswith("send") else 1
        worst = max(runs, key=lambda r: r["rss_mb"] + processes * r.get("child_rss_mb", 0))
        ratio = (
            f", {wall / floor:.2f}x the floor (CPU {cpu / floor_cpu:.2f}x the floor's)"
            if floor and what != "floor"
            else ""
        )
        print(
            f"  {what}: {wall:.2f} s, {args.count / wall:,.0f} recipients/s, CPU {cpu:.2f} s, "
            f"{_rss(worst, processes)}{ratio}"
        )


if __name__ == "__main__":
    main()
