"""The email worker inside ``newsletter serve`` yields to requests: while signups wake it, it
pauses after each email so its CPU time stays under ``email_worker_busy_share`` of the time
(Python runs one thread of a process at a time); not woken (a burst over, or ``newsletter
worker``), it never pauses. Every job is delivered exactly once either way. SQLite and
PostgreSQL, the outbox transport."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.email_jobs import queue
from newsletter.email_jobs.worker import EmailWorker
from newsletter.subscribers import store
from newsletter.subscribers.signup_batch import Wanted, signup_many
from newsletter.transports.outbox import OutboxTransport

ROOT = Path(__file__).resolve().parent.parent
FORM = store.ConsentInfo(source="https://example.org/form")
JOBS = 30


def _worker(engine: sa.Engine, folder: Path, share: float) -> EmailWorker:
    settings = Settings(
        secret_key="test-secret-key-for-signing-links-32+",
        base_url="https://news.example.org",
        templates_dir=ROOT / "templates",
        outbox_dir=folder,
        email_worker_busy_share=share,
    )
    wanted = [Wanted(f"{folder.name}{n}@example.org", "", FORM) for n in range(JOBS)]
    assert signup_many(engine, wanted, queue.ask, queue.ask_new) == [True] * JOBS
    return EmailWorker(settings, engine, OutboxTransport(folder), interval=0.05)


def _run(worker: EmailWorker, *, woken: bool) -> None:
    """Until no job is left queued or in flight, waking the worker every 20 ms as signups would (``woken``)."""
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while queue.counts(worker.engine)["queued"] or queue.counts(worker.engine)["in_flight"]:
            assert time.monotonic() < deadline, queue.counts(worker.engine)
            if woken:
                worker.wake()
            time.sleep(0.02)
    finally:
        worker.stop()
    counts = queue.counts(worker.engine)
    assert counts["sent"] % JOBS == 0 and counts["sent"] == sum(counts.values()), counts


def test_woken_by_signups_the_worker_pauses_to_leave_the_process_to_requests(
    engine: sa.Engine, tmp_path: Path
) -> None:
    worker = _worker(engine, tmp_path, share=0.1)
    _run(worker, woken=True)
    assert worker.paused > 0
    assert len(list(tmp_path.glob("*.eml"))) == JOBS  # each once


def test_not_woken_or_with_no_limit_it_never_pauses(engine: sa.Engine, tmp_path: Path) -> None:
    quiet = _worker(engine, tmp_path / "quiet", share=0.1)
    _run(quiet, woken=False)
    assert quiet.paused == 0
    unlimited = _worker(engine, tmp_path / "unlimited", share=1.0)
    _run(unlimited, woken=True)
    assert unlimited.paused == 0
    assert len(list(tmp_path.glob("*/*.eml"))) == 2 * JOBS
