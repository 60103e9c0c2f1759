"""Signups per second against a real ``newsletter serve`` (uvicorn) on loopback, SQLite.

Concurrent clients post a fixed number of form signups, each a new address; every accepted
signup must be in the database afterwards (zero lost). The rate limit is turned off through
its setting; confirmation emails go to the outbox as in a default install.

    python bench/signup.py [--requests 2000] [--clients 32] [--runs 3]
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


def start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_SECRET_KEY": "bench-secret-bench-secret-bench-secret",
        "NEWSLETTER_SIGNUP_RATE_LIMIT": "off",
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{folder / 'subscribers.db'}",
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
    }
    command = [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1"]
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
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-signup-"))
    shutil.copytree(ROOT / "templates", folder / "templates")
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    port = free_port()
    server = start_server(folder, port)
    rates, p50s, p99s, total_accepted = [], [], [], 0
    try:
        for run in range(args.runs):
            start = time.perf_counter()
            accepted, latencies = asyncio.run(one_run(port, run, args.requests, args.clients))
            elapsed = time.perf_counter() - start
            total_accepted += accepted
            cut = statistics.quantiles(latencies, n=100)
            rates.append(accepted / elapsed)
            p50s.append(cut[49] * 1000)
            p99s.append(cut[98] * 1000)
            print(
                f"run {run + 1}: {accepted}/{args.requests} accepted in {elapsed:.2f} s, "
                f"{accepted / elapsed:.0f}/s, p50 {cut[49] * 1000:.1f} ms, "
                f"p99 {cut[98] * 1000:.1f} ms"
            )
    finally:
        server.terminate()
        server.wait(10)
    with sqlite3.connect(folder / "subscribers.db") as connection:
        stored = connection.execute("SELECT count(*) FROM subscriber").fetchone()[0]
    emails = len(list((folder / "outbox").glob("*.eml")))
    shutil.rmtree(folder)
    print(
        f"signup (SQLite, {args.clients} clients, {args.requests} requests x {args.runs} runs): "
        f"median {statistics.median(rates):.0f} signups/s, "
        f"p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms"
    )
    lost = total_accepted - stored
    print(f"accepted {total_accepted}, in the database {stored}, lost {lost}, emails {emails}")
    if lost:
        raise SystemExit("signups were lost")


if __name__ == "__main__":
    main()
