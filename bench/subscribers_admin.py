"""The dashboard's subscriber list with 1,000,000 subscribers on PostgreSQL (#13: p95 < 150 ms).

Makes a fresh database next to the one ``--database-url`` names (dropped afterwards), seeds it
with COPY (a realistic mix of statuses, names, signup times over five years, one consent record
each), signs in an admin and, ``--runs`` times, times whole requests of the app in process (the gate, the queries,
the page): the first page, a deep page (the Older link 900,000 rows in), an address search, a
name search (common and rare), a status filter, and the counts per status alone. Prints p50/p95.

    python bench/subscribers_admin.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
        [--subscribers 1000000] [--requests 40] [--runs 3]

bench/dashboard.py runs it too when given a PostgreSQL ``--database-url`` (``--list-size``).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-bench-secret-bench-secret"
FIRST = ["ann", "bo", "chen", "dara", "emil", "fatima", "georg", "hana", "ivan", "jun", "kofi",
         "lena", "mario", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tariq"]  # fmt: skip
LAST = ["lee", "ek", "okafor", "silva", "novak", "haddad", "kim", "mueller", "rossi", "tan",
        "garcia", "ivanova", "smith", "nguyen", "kowalski", "dubois", "yilmaz", "sato"]  # fmt: skip
DOMAINS = ["example.org", "example.net", "mail.example.com", "ngo.example"]
STATUSES = (
    ["confirmed"] * 80 + ["pending"] * 10 + ["unsubscribed"] * 7 + ["bounced"] * 2 + ["complained"]
)
SOURCES = ["signup form", "import: members.csv", "added by staff: dashboard"]


def fresh_database(url: str) -> str:
    """A new empty database on the same server; its URL."""
    name = f"bench_subscribers_{os.getpid()}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(sa.make_url(url).set(database=name).render_as_string(hide_password=False))


def drop_database(url: str, fresh: str) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            sa.text(f'DROP DATABASE IF EXISTS "{sa.make_url(fresh).database}" WITH (FORCE)')
        )
    admin.dispose()


def seed(engine: sa.Engine, count: int) -> None:
    """``count`` subscribers by COPY, one consent record each by INSERT ... SELECT."""
    rng = random.Random(13)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    span = int((datetime(2026, 1, 1, tzinfo=UTC) - start).total_seconds())
    columns = "key, email, email_key, name, status, created_at, confirmed_at"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for first in range(0, count, 100_000):
            buffer = io.StringIO()
            for i in range(first, min(first + 100_000, count)):
                given, family = rng.choice(FIRST), rng.choice(LAST)
                email = f"{given}.{family}{i}@{rng.choice(DOMAINS)}"
                status = rng.choice(STATUSES)
                at = (start + timedelta(seconds=rng.randrange(span))).isoformat()
                confirmed = at if status != "pending" else "\\N"
                name = f"{given.title()} {family.title()}"
                buffer.write(f"{i:032x}\t{email}\t{email}\t{name}\t{status}\t{at}\t{confirmed}\n")
            with cursor.copy(f"COPY subscriber ({columns}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        cursor.execute(
            "INSERT INTO consent (subscriber_id, at, source, ip, user_agent, text_version) "
            "SELECT id, created_at, (ARRAY['signup form', 'import: members.csv', "
            "'added by staff: dashboard'])[1 + id % 3], '', '', '' FROM subscriber"
        )
        # the rare ones a search must find without reading the list: 100 from one old import,
        # 50 people named Zsofia Zzqa
        cursor.execute(
            "UPDATE consent SET source = 'import: 2019-conference.csv' "
            "WHERE subscriber_id % 10000 = 7"
        )
        cursor.execute("UPDATE subscriber SET name = 'Zsofia Zzqa' WHERE id % 20000 = 3")
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))  # what autovacuum does after a bulk load


def timed(call: Callable[[], Any], count: int) -> tuple[float, float]:
    for _ in range(3):
        call()
    times = []
    for _ in range(count):
        began = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - began) * 1000)
        assert getattr(answer, "status_code", 200) < 400, answer
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL (its server)")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bench(args.database_url, args.subscribers, args.requests, args.runs)


def bench(server_url: str, subscribers: int, requests: int, runs: int) -> None:
    """Seed once, time every page ``runs`` times; print each run and the medians."""
    url = fresh_database(server_url)
    folder = Path(tempfile.mkdtemp(prefix="bench-subscribers-"))
    here = Path.cwd()
    try:
        run(url, folder, subscribers, requests, runs)
    finally:
        os.chdir(here)
        shutil.rmtree(folder, ignore_errors=True)
        drop_database(server_url, url)


def run(url: str, folder: Path, subscribers: int, requests: int, runs: int) -> None:
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from newsletter import db
    from newsletter.config import Settings
    from newsletter.models import Role, Staff, utcnow
    from newsletter.staff import sessions
    from newsletter.subscribers import directory
    from newsletter.transports.outbox import OutboxTransport
    from newsletter.web import create_app
    from newsletter.web.admin.auth import cookie_name

    for name in ("content", "issues", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    os.chdir(folder)
    os.environ.update({"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_DATABASE_URL": url,
                       "NEWSLETTER_SCHEDULER_IN_SERVER": "false"})  # fmt: skip
    engine = db.make_engine(url)
    db.upgrade(engine)
    began = time.perf_counter()
    seed(engine, subscribers)
    print(f"seeded {subscribers:,} subscribers in {time.perf_counter() - began:.0f} s")
    with Session(engine, expire_on_commit=False) as session:
        admin = Staff(email="admin@example.org", email_key="admin@example.org", name="Admin",
                      role=Role.admin, created_at=utcnow())  # fmt: skip
        session.add(admin)
        session.commit()
    assert admin.id is not None
    token, _ = sessions.start(engine, admin.id, sessions.Lifetimes.of(86400, 86400))
    settings = Settings()
    app = create_app(settings, engine, OutboxTransport(settings.outbox_dir))
    client = TestClient(app, base_url=settings.base_url)
    client.cookies.set(cookie_name(settings), token)
    with engine.connect() as connection:
        deep = connection.execute(
            sa.text(
                "SELECT created_at, id FROM subscriber ORDER BY created_at DESC, id DESC "
                "OFFSET :n LIMIT 1"
            ),
            {"n": int(subscribers * 0.9)},
        ).one()  # once, to find a cursor deep in the list (the pages never use OFFSET)
    cursor = str(directory.Cursor(deep.created_at, deep.id))
    some = "ann.lee"
    pages = {
        "first page": "/admin/subscribers",
        f"deep page ({int(subscribers * 0.9):,} in)": f"/admin/subscribers?older={cursor}",
        "address search (ann.lee12@)": "/admin/subscribers?q=ann.lee12%40",
        f"search '{some}' (address prefix or name)": f"/admin/subscribers?q={some}",
        "name search 'okafor'": "/admin/subscribers?q=okafor",
        "short search 'zz' (address prefix only)": "/admin/subscribers?q=zz",
        "rare name search 'zzqa' (50 people)": "/admin/subscribers?q=zzqa",
        "search nobody matches 'qqqx'": "/admin/subscribers?q=qqqx",
        "status complained": "/admin/subscribers?status=complained",
        "status complained, deep": f"/admin/subscribers?status=complained&older={cursor}",
        "source 'staff' (a third of them)": "/admin/subscribers?source=staff",
        "source 'conference' (100 people)": "/admin/subscribers?source=conference",
        "source 'conference', status complained": (
            "/admin/subscribers?source=conference&status=complained"
        ),
        "source nobody came from 'qqqx'": "/admin/subscribers?source=qqqx",
    }

    def counted() -> None:
        with engine.connect() as connection:
            directory.counts(connection)

    timings: list[dict[str, tuple[float, float]]] = []
    for number in range(1, runs + 1):
        figures = {
            label: timed(partial(client.get, path), requests) for label, path in pages.items()
        }
        figures["counts per status (the query alone)"] = timed(counted, requests)
        timings.append(figures)
        print(f"run {number}: " + "; ".join(f"{k} p95 {v[1]:.1f} ms" for k, v in figures.items()))
    print(f"\nmedians of {runs} runs, {subscribers:,} subscribers, PostgreSQL, {requests} "
          "requests each, in process")  # fmt: skip
    for label in timings[0]:
        p50 = statistics.median(t[label][0] for t in timings)
        p95 = statistics.median(t[label][1] for t in timings)
        print(f"  {label:44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
