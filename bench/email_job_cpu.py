"""CPU per confirmation email job: the email worker's pass over N queued confirmations.

Signs up N new addresses (one batch, ``signup_many``) on a SQLite file, then times one
``Delivery.drain`` into the outbox with ``time.process_time`` (CPU of this process: what the
worker takes from a web process it shares the GIL with), and prints µs per job. ``--profile``
prints cProfile's top functions instead.

    python bench/email_job_cpu.py [--jobs 2000] [--profile] [--transport outbox|null]

``--transport null`` counts the message built but writes nothing (the worker's own CPU without
the outbox's files).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from pathlib import Path

from newsletter import db
from newsletter.config import Settings
from newsletter.email_jobs import queue
from newsletter.email_jobs.worker import Delivery
from newsletter.subscribers import store
from newsletter.subscribers.signup_batch import Wanted, signup_many
from newsletter.transports.base import BatchResult, Message
from newsletter.transports.outbox import OutboxTransport

ROOT = Path(__file__).resolve().parent.parent


class NullTransport:
    """Takes every message and keeps nothing."""

    max_batch = 1000

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Message) -> BatchResult:
        self.sent += len(message.recipients)
        return BatchResult(accepted=[r.email for r in message.recipients])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--transport", choices=("outbox", "null"), default="outbox")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-email-jobs-"))
    try:
        settings = Settings(
            secret_key="bench-secret-bench-secret-bench-secret",
            database_url=f"sqlite:///{folder / 'subscribers.db'}",
            base_url="https://news.example.org",
            templates_dir=ROOT / "templates",
            outbox_dir=folder / "outbox",
        )
        engine = db.make_engine(settings.database_url)
        db.upgrade(engine)
        consent = store.ConsentInfo(source="https://example.org/form")
        wanted = [
            Wanted(f"person{n}@example.org", f"Person {n} <&>", consent) for n in range(args.jobs)
        ]
        for start in range(0, args.jobs, 500):
            signup_many(engine, wanted[start : start + 500], queue.ask, queue.ask_new)
        transport = (
            OutboxTransport(settings.outbox_dir) if args.transport == "outbox" else NullTransport()
        )
        delivery = Delivery(settings, engine, transport)
        delivery.kinds.confirmations.compiled()  # the template, once per worker: not per job
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        done = delivery.drain()
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert done.sent == args.jobs, done.line()
        print(
            f"{args.jobs} jobs ({args.transport}): {cpu / args.jobs * 1e6:.0f} µs CPU per job, "
            f"{wall / args.jobs * 1e6:.0f} µs wall per job"
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(45)
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
