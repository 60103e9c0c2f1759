"""Event Webhook throughput: signed batches of 1,000 events POSTed to `newsletter serve`.

    python bench/webhook.py [--subscribers N] [--runs R] [--database-url URL]

The web app runs as `newsletter serve` in its own process (uvicorn on loopback), with a sample
project and its own database. Each run starts a live send to N subscribers (default 5,000)
and posts, for every recipient, a processed and a delivered event (1 % bounces instead of
delivered, 1 % unsubscribes on top), matched half by custom_args and half by sg_message_id,
in signed batches of 1,000, one request after another. Prints events/s per run and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import db  # noqa: E402
from tests.webhook_kit import SigningKey, add_confirmed, event, for_delivery, live_send  # noqa: E402

BATCH = 1000


def events_for(send_id: int, sent: dict[str, tuple[int, str]]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for n, (email, (subscriber_id, message_id)) in enumerate(sorted(sent.items())):
        if n % 2:
            args = {"send_id": str(send_id), "subscriber_id": str(subscriber_id)}
            found.append(event("processed", email, **args))
            last = event("delivered", email, **args, response="250 OK")
        else:
            found.append(for_delivery("processed", message_id, email))
            last = for_delivery("delivered", message_id, email, response="250 OK")
        if n % 100 == 7:
            last = for_delivery("bounce", message_id, email, type="bounce", reason="550 gone")
        found.append(last)
        if n % 100 == 42:
            found.append(for_delivery("unsubscribe", message_id, email))
    return found


@contextmanager
def database(url: str, folder: Path) -> Iterator[str]:
    """A SQLite file in ``folder``, or a throwaway schema in the PostgreSQL database at ``url``."""
    if not url:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "newsletter"), "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("newsletter serve did not start")


def one_run(engine: sa.Engine, url: str, key: SigningKey, run: int) -> tuple[int, float]:
    send_id, sent = live_send(engine, f"bench-{run}")
    batches = []
    everything = events_for(send_id, sent)
    for start in range(0, len(everything), BATCH):
        body = json.dumps(everything[start : start + BATCH]).encode()
        batches.append((body, key.headers(body)))
    with httpx.Client(timeout=60, trust_env=False) as client:
        began = time.perf_counter()
        for body, headers in batches:
            answer = client.post(f"{url}/webhooks/sendgrid", content=body, headers=headers)
            answer.raise_for_status()
        seconds = time.perf_counter() - began
    return len(everything), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    for name in ("content", "issues", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    try:
        with database(options.database_url, folder) as url_db:
            rates = bench(folder, url_db, options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    backend = options.database_url.split(":", 1)[0] or "sqlite"
    print(f"median: {statistics.median(rates):,.0f} events/s ({backend}, batches of {BATCH})")


def bench(folder: Path, url_db: str, options: argparse.Namespace) -> list[float]:
    engine = db.make_engine(url_db)
    db.ensure_schema(engine)
    add_confirmed(engine, options.subscribers)
    key = SigningKey()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=url_db,
        NEWSLETTER_SECRET_KEY="bench-secret-key-bench-secret-key",
        NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY=key.public,
        NO_PROXY="127.0.0.1,localhost",
    )
    port = free_port()
    server = start_server(folder, env, port)
    rates = []
    try:
        for run in range(options.runs):
            count, seconds = one_run(engine, f"http://127.0.0.1:{port}", key, run)
            rates.append(count / seconds)
            print(f"run {run + 1}: {count} events in {seconds:.2f} s = {rates[-1]:,.0f} events/s")
    finally:
        server.terminate()
        server.wait(10)
        engine.dispose()
    return rates


if __name__ == "__main__":
    main()
