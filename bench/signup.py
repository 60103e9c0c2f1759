"""Signups per second against a real ``newsletter serve`` (uvicorn) on loopback, SQLite.

Concurrent clients post a fixed number of form signups, each a new address; every accepted
signup must be in the database afterwards (zero lost), with its confirmation email's job queued.
The rate limit is turned off through its setting. A signup sends nothing itself: the timed part
runs with the server's email worker off (``--worker-in-server`` turns it on, so it competes for
the same cores); afterwards ``newsletter worker --once`` drains the queue into the outbox, as in
a default install, and every job must be sent.

    python bench/signup.py [--requests 2000] [--clients 16] [--runs 3] [--worker-in-server]

The reference, measured in the same run with the same clients, turn about with ours: the same
framework's bare endpoint (bench/bare_signup.py: FastAPI, uvicorn with ``newsletter serve``'s
configuration, a form read and a 303, nothing else). It prints signup / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(folder: Path, port: int, *, worker_in_server: bool) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_SECRET_KEY": "bench-secret-bench-secret-bench-secret",
        "NEWSLETTER_SIGNUP_RATE_LIMIT": "off",
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{folder / 'subscribers.db'}",
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
        "NEWSLETTER_EMAIL_WORKER_IN_SERVER": "true" if worker_in_server else "false",
    }


def start_server(
    folder: Path, port: int, env: dict[str, str], *, bare: bool = False
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1"]
    if bare:  # the reference: the framework's bare endpoint, served the same way
        command = [sys.executable, str(ROOT / "bench" / "bare_signup.py")]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> int:
    """One keep-alive HTTP/1.1 form POST; the status code. Raw streams: a client library
    would spend more of this machine's two cores than the server does."""
    writer.write(
        b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def one_run(port: int, run: int, requests: int, clients: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    accepted = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in queue:
            body = f"email=person{run}-{n}%40example.org&name=Person+{n}".encode()
            start = time.perf_counter()
            status = await post(reader, writer, body)
            latencies.append(time.perf_counter() - start)
            accepted += status in (200, 303)  # a form signup is redirected to the thanks page
        writer.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return accepted, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--worker-in-server", action="store_true", help="the email worker runs during the timing"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-signup-"))
    shutil.copytree(ROOT / "templates", folder / "templates")
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    port, bare_port = free_port(), free_port()
    env = environment(folder, port, worker_in_server=args.worker_in_server)
    server = start_server(folder, port, env)
    bare = start_server(folder, bare_port, env, bare=True)
    ours: dict[str, list[float]] = {"rate": [], "p50": [], "p99": []}
    theirs: dict[str, list[float]] = {"rate": [], "p50": [], "p99": []}
    total_accepted = 0
    try:
        for run in range(args.runs):  # the reference and ours in turn, in the same run
            for label, target, figures in (("bare", bare_port, theirs), ("ours", port, ours)):
                start = time.perf_counter()
                accepted, latencies = asyncio.run(one_run(target, run, args.requests, args.clients))
                elapsed = time.perf_counter() - start
                if label == "ours":
                    total_accepted += accepted
                cut = statistics.quantiles(latencies, n=100)
                figures["rate"].append(accepted / elapsed)
                figures["p50"].append(cut[49] * 1000)
                figures["p99"].append(cut[98] * 1000)
                print(
                    f"run {run + 1} {label}: {accepted}/{args.requests} accepted in "
                    f"{elapsed:.2f} s, {accepted / elapsed:.0f}/s, p50 {cut[49] * 1000:.1f} ms, "
                    f"p99 {cut[98] * 1000:.1f} ms"
                )
    finally:
        for process in (server, bare):
            process.terminate()
            process.wait(10)
    stored, jobs = counted(folder)
    started = time.perf_counter()
    subprocess.run(  # the email worker, after the timed part: every queued job, once
        [sys.executable, "-m", "newsletter", "worker", "--once"],
        cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    drained = time.perf_counter() - started
    emails = len(list((folder / "outbox").glob("*.eml")))
    _, sent = counted(folder, state="sent")
    shutil.rmtree(folder)
    worker = "on" if args.worker_in_server else "off"
    rate, bare_rate = statistics.median(ours["rate"]), statistics.median(theirs["rate"])
    print(
        f"signup (SQLite, {args.clients} clients, {args.requests} requests x {args.runs} runs, "
        f"email worker in the server {worker}): median {rate:.0f} signups/s, "
        f"p50 {statistics.median(ours['p50']):.1f} ms, p99 {statistics.median(ours['p99']):.1f} ms"
    )
    print(
        f"bare endpoint (same framework and server, same clients): median {bare_rate:.0f}/s, "
        f"p50 {statistics.median(theirs['p50']):.1f} ms, "
        f"p99 {statistics.median(theirs['p99']):.1f} ms; signup / bare = {rate / bare_rate:.2f}x"
    )
    lost = total_accepted - stored
    print(
        f"accepted {total_accepted}, in the database {stored}, lost {lost}, confirmation jobs "
        f"{jobs}; newsletter worker --once: {sent} sent in {drained:.1f} s "
        f"({sent / drained:.0f}/s, the process's start included), {emails} emails in the outbox"
    )
    if lost:
        raise SystemExit("signups were lost")
    if jobs != stored or sent != stored or emails != stored:
        raise SystemExit("a confirmation email was not queued, or not sent exactly once")


def counted(folder: Path, *, state: str = "") -> tuple[int, int]:
    """(subscribers, confirmation jobs [in ``state``]) in the bench's database."""
    jobs = "SELECT count(*) FROM email_job WHERE kind = 'confirmation' AND (? = '' OR state = ?)"
    with sqlite3.connect(folder / "subscribers.db") as connection:
        stored = connection.execute("SELECT count(*) FROM subscriber").fetchone()[0]
        queued = connection.execute(jobs, (state, state)).fetchone()[0]
    return int(stored), int(queued)


if __name__ == "__main__":
    main()
