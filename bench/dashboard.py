"""The staff dashboard under load: each admin page's latency against a real ``newsletter serve``.

A project with 100,000 subscribers, 2,000 posts, 20 issues (2012-q1 to 2016-q4, one of them
sent to everyone through the outbox transport so its report has a year of figures), a year of
status events (each subscriber's confirmation, one in ten's departure: the home page's growth
chart) and a signed-in admin. Each page is fetched ``--requests`` times one after another after a warm-up;
prints p50 and p95 per page, per run and as medians over ``--runs``. The preview refresh
(POST of the unsaved editor form, compiled as `newsletter build` would) is timed the same way.

    python bench/dashboard.py [--subscribers 100000] [--posts 2000] [--requests 40] [--runs 3]
        [--database-url postgresql+psycopg://... [--list-size 1000000]]

With a PostgreSQL ``--database-url`` it then times the subscriber list's search, filters and
pages at ``--list-size`` subscribers (1,000,000 by default) with bench/subscribers_admin.py.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx2 as httpx
from subscribers_admin import drop_database, fresh_database  # bench/: this script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-bench-secret-bench-secret"
PAGES = [
    "/admin/",
    "/admin/issues",
    "/admin/issues/2016-q3",
    "/admin/issues/2016-q3/send",
    "/admin/issues/2016-q3/history",
    "/admin/issues/2016-q2/report",
    "/admin/activity",
    "/admin/account",
]
CATEGORIES = ["research", "updates", "events", "blog"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(folder: Path, url: str, subscribers: int, posts: int) -> str:
    """The project, its database and a session token of a signed-in admin."""
    from sqlmodel import Session

    from newsletter import db
    from newsletter.models import Role, Staff, post_table, subscriber_table, utcnow
    from newsletter.staff import sessions

    for name in ("content", "issues", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    sample = (folder / "issues" / "2016-q3.toml").read_text()
    for year in range(2012, 2017):
        for quarter in range(1, 5):
            path = folder / "issues" / f"{year}-q{quarter}.toml"
            if not path.exists():
                text = re.sub(r'quarter = "2016-Q3"', f'quarter = "{year}-Q{quarter}"', sample)
                path.write_text(re.sub(r"(?m)^send_at = .*\n", "", text))
    engine = db.make_engine(url)
    db.upgrade(engine)
    now = utcnow()
    rng = random.Random(7)
    start = datetime(2012, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            post_table.insert(),
            [
                {
                    "slug": f"post-{i}",
                    "title": f"Post number {i} about migration and protection",
                    "url": f"https://example.org/posts/{i}",
                    "published_at": (moment := start + timedelta(hours=rng.randrange(43800))),
                    "updated_at": moment,
                    "categories": [rng.choice(CATEGORIES)],
                    "tags": [],
                    "summary": "A short summary of what the post says, in a sentence or two.",
                    "html": "<p>" + "Some words of the body of the post. " * 40 + "</p>",
                    "source": "bench",
                    "source_id": str(i),
                    "content_hash": f"{i:064x}",
                    "synced_at": now,
                }
                for i in range(posts)
            ],
        )
        for first in range(0, subscribers, 20_000):
            connection.execute(
                subscriber_table.insert(),
                [
                    {
                        "key": f"{i:032x}",
                        "email": f"reader{i}@example.net",
                        "email_key": f"reader{i}@example.net",
                        "name": f"Reader {i}",
                        "status": "confirmed",
                        "created_at": now,
                        "confirmed_at": now,
                    }
                    for i in range(first, min(first + 20_000, subscribers))
                ],
            )
    _sent(engine, subscribers, now)
    _year_of_events(engine, subscribers, now)
    with Session(engine, expire_on_commit=False) as session:
        admin = Staff(
            email="admin@example.org",
            email_key="admin@example.org",
            name="Admin",
            role=Role.admin,
            created_at=now,
        )
        session.add(admin)
        session.commit()
    assert admin.id is not None
    token, _ = sessions.start(engine, admin.id, sessions.Lifetimes.of(86400, 86400))
    engine.dispose()
    return token


def _sent(engine: Any, subscribers: int, now: datetime) -> None:
    """2016-q2 sent to every subscriber a week ago, with a week of delivery events."""
    from newsletter.models import delivery_table, send_table

    rng = random.Random(11)
    statuses = (
        ["delivered"] * 90 + ["accepted"] * 6 + ["bounced", "deferred", "dropped", "uncertain"]
    )
    sent_at = now - timedelta(days=7)
    with engine.begin() as connection:
        send_id = connection.execute(
            send_table.insert().values(
                issue_slug="2016-q2", kind="live", live_slug="2016-q2", status="finished",
                content_hash="0" * 64, subject="Bench issue", html="<p>x</p>", text="x",
                audience=subscribers, started_at=sent_at, finished_at=sent_at + timedelta(minutes=9),
                transport="sendgrid", started_by="bench",
            )
        ).inserted_primary_key[0]  # fmt: skip
        for first in range(0, subscribers, 20_000):
            connection.execute(
                delivery_table.insert(),
                [
                    {
                        "send_id": send_id,
                        "subscriber_id": i + 1,
                        "status": rng.choice(statuses),
                        "attempts": 1,
                        "message_id": f"m{i // 1000}",
                        "updated_at": sent_at + timedelta(minutes=rng.randrange(7 * 24 * 60)),
                    }
                    for i in range(first, min(first + 20_000, subscribers))
                ],
            )


def _year_of_events(engine: Any, subscribers: int, now: datetime) -> None:
    """Each subscriber's confirmation at a random moment of the last year, and one in ten's
    departure (unsubscribed, bounced or complained) after it: the home page's growth chart."""
    from newsletter.models import status_event_table

    rng = random.Random(13)
    year = 365 * 24 * 60
    rows: list[dict[str, Any]] = []
    with engine.begin() as connection:
        for i in range(subscribers):
            confirmed = now - timedelta(minutes=rng.randrange(year))
            rows.append({"subscriber_id": i + 1, "at": confirmed, "from_status": "pending",
                         "to_status": "confirmed", "reason": "confirmed by link"})  # fmt: skip
            if i % 10 == 0:
                left = confirmed + (now - confirmed) * rng.random()
                to = rng.choice(["unsubscribed", "unsubscribed", "bounced", "complained"])
                rows.append({"subscriber_id": i + 1, "at": left, "from_status": "confirmed",
                             "to_status": to, "reason": "bench"})  # fmt: skip
            if len(rows) >= 20_000:
                connection.execute(status_event_table.insert(), rows)
                rows = []
        if rows:
            connection.execute(status_event_table.insert(), rows)


def run(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    # PostgreSQL: a fresh database on that server for each run, dropped afterwards
    url = fresh_database(args.database_url) if args.database_url else ""
    try:
        return _run(args, folder, url or f"sqlite:///{folder / 'subscribers.db'}")
    finally:
        if url:
            drop_database(args.database_url, url)


def _run(args: argparse.Namespace, folder: Path, url: str) -> dict[str, tuple[float, float]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
        "NEWSLETTER_SCHEDULER_IN_SERVER": "false",
    }
    try:
        token = seed(folder, url, args.subscribers, args.posts)
        server = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return measure(f"http://127.0.0.1:{port}", token, args.requests, url)
        finally:
            server.terminate()
            server.wait(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(base: str, token: str, requests: int, url: str) -> dict[str, tuple[float, float]]:
    cookies = {"nl_staff": token}
    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        figures: dict[str, tuple[float, float]] = {}
        for page in PAGES:
            answer = client.get(page)
            if answer.status_code != 200:
                raise SystemExit(f"{page}: {answer.status_code}")
            figures[page] = timed(lambda page=page: client.get(page), requests)

        def after_an_event() -> httpx.Response:
            _event(url)
            return client.get("/admin/issues/2016-q2/report")

        figures["report, after each new event"] = timed(after_an_event, requests)

        def after_a_status_change() -> httpx.Response:
            _status_change(url)
            return client.get("/admin/")

        figures["home, after each status change"] = timed(after_a_status_change, requests)
        form = preview_form(client)
        if form is not None:
            figures["preview refresh (POST)"] = timed(
                lambda: client.post("/admin/issues/2016-q3/preview", data=form), requests
            )
    return figures


def _event(url: str) -> None:
    """One delivery of the sent issue changes status, as an Event Webhook request does."""
    from newsletter import db
    from newsletter.models import delivery_table, utcnow

    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, db.make_engine(url))
    d = delivery_table.c
    with engine.begin() as connection:
        connection.execute(
            delivery_table.update()
            .where(d.id == random.randrange(1, 1000))
            .values(status="delivered", updated_at=utcnow())
        )


def _status_change(url: str) -> None:
    """One subscriber unsubscribes now: a new status event (the growth chart's new version)."""
    from newsletter import db
    from newsletter.models import status_event_table, utcnow

    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, db.make_engine(url))
    with engine.begin() as connection:
        connection.execute(
            status_event_table.insert().values(
                subscriber_id=random.randrange(1, 1000), at=utcnow(), from_status="confirmed",
                to_status="unsubscribed", reason="bench",
            )
        )  # fmt: skip


_ENGINES: dict[str, Any] = {}


class _Form(HTMLParser):
    """The fields the editor's form (``#editor``) submits: inputs, textareas, selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.inside = False
        self.textarea = ""
        self.select = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "editor":
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "radio"):
            self.fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self.textarea = a["name"]
            self.fields.setdefault(self.textarea, "")
        elif tag == "select":
            self.select = a.get("name", "")
        elif (
            tag == "option" and self.select and ("selected" in a or self.select not in self.fields)
        ):
            self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self.textarea = ""
        elif tag == "select":
            self.select = ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def preview_form(client: httpx.Client) -> dict[str, str] | None:
    """The editor's form as the page gives it, or None when the page has none."""
    parser = _Form()
    parser.feed(client.get("/admin/issues/2016-q3").text)
    return parser.fields or None


def timed(call: object, count: int) -> tuple[float, float]:
    assert callable(call)
    for _ in range(3):
        call()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code < 400, answer.status_code
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--list-size", type=int, default=1_000_000,
        help="with a PostgreSQL --database-url: the subscriber list's search and pages at this "
        "size too (bench/subscribers_admin.py); 0 to skip",
    )  # fmt: skip
    args = parser.parse_args()
    runs = []
    for number in range(1, args.runs + 1):
        figures = run(args)
        runs.append(figures)
        print(f"run {number}: " + "; ".join(f"{k} p95 {v[1]:.1f} ms" for k, v in figures.items()))
    print(
        f"\nmedians of {args.runs} runs, {args.subscribers:,} subscribers, {args.posts:,} posts, "
        "20 issues, SQLite"
        if not args.database_url
        else "\nmedians"
    )
    for page in runs[0]:
        p50 = statistics.median(r[page][0] for r in runs)
        p95 = statistics.median(r[page][1] for r in runs)
        print(f"  {page:40} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    if args.database_url.startswith("postgresql") and args.list_size:
        import subscribers_admin

        print(f"\nthe subscriber list at {args.list_size:,} subscribers")
        subscribers_admin.bench(args.database_url, args.list_size, args.requests, args.runs)


if __name__ == "__main__":
    main()
