"""The dashboard's Sync now: a source's sync run in a thread of the server, its progress kept
for the page to poll.

One job per source at a time in this process (``start`` refuses a second while one runs), and
one sync per source across processes (``sources.locked_sync`` claims the source's row first, so
a cron ``newsletter content sync`` and Sync now never sync one source together: the one that
comes second gets the CLI's one-line "already running" error). The outcome of each source's
last job stays here until the server restarts; the durable record is ``source_state``
(last sync, last error) and the activity log (``sync_start``, ``sync_end``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from newsletter.config import Settings, SourceConfig
from newsletter.content.sources import Outcome, SyncRequest, locked_sync
from newsletter.models import utcnow

log = logging.getLogger("newsletter.sync")


@dataclass
class Job:
    """One source's Sync now: running, then done with its counts or its one-line error."""

    source: str
    by: str
    started: float = field(default_factory=lambda: utcnow().timestamp())
    finished: float | None = None
    error: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.finished is None

    def summary(self) -> str:
        if self.running:
            return "syncing"
        if self.error:
            return self.error
        text = f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"
        return text + (f"; {len(self.problems)} files skipped" if self.problems else "")


Finished = Callable[[Job], None]


class SourceSyncs:
    """``start(source, by)`` -> (job, started?); ``job(name)``; ``wait(name)`` for tests."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        self.settings, self.engine = settings, engine
        self._jobs: dict[str, Job] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def job(self, name: str) -> Job | None:
        with self._lock:
            return self._jobs.get(name)

    def running(self) -> bool:
        with self._lock:
            return any(job.running for job in self._jobs.values())

    def start(
        self,
        source: SourceConfig,
        by: str,
        on_end: Finished | None = None,
        on_start: Finished | None = None,
    ) -> tuple[Job, bool]:
        """Start syncing ``source`` in a thread, unless this process is syncing it already
        (then the running job, and False). ``on_start`` runs before the thread starts, so
        what it records comes before anything ``on_end`` records."""
        with self._lock:
            current = self._jobs.get(source.name)
            if current is not None and current.running:
                return current, False
            job = Job(source.name, by)
            self._jobs[source.name] = job
            thread = threading.Thread(
                target=self._run,
                args=(source, job, on_end),
                name=f"sync-{source.name}",
                daemon=True,
            )
            self._threads[source.name] = thread
        try:
            if on_start is not None:
                on_start(job)
        finally:
            thread.start()  # the job is registered as running: it must run to its end
        return job, True

    def wait(self, name: str, timeout: float = 30.0) -> None:
        with self._lock:
            thread = self._threads.get(name)
        if thread is not None:
            thread.join(timeout)

    def _run(self, source: SourceConfig, job: Job, on_end: Finished | None) -> None:
        try:
            outcome = locked_sync(self.settings, self.engine, source, SyncRequest(), job.by)
        except Exception as exc:  # a database failure: one line, never a dead thread's trace
            outcome = Outcome(source.name, error=f"source {source.name!r}: {exc}".splitlines()[0])
        with self._lock:
            job.error = outcome.error
            if outcome.result is not None:
                result = outcome.result
                job.created, job.updated = len(result.created), len(result.updated)
                job.unchanged = len(result.unchanged)
                job.problems = [str(p) for p in result.problems]
                job.warnings = list(result.warnings)
            job.finished = utcnow().timestamp()
        if on_end is not None:
            try:
                on_end(job)
            except Exception as exc:  # the activity log unreachable: one log line, no trace
                log.error("sync of %s: could not record its end: %s", source.name, exc)
