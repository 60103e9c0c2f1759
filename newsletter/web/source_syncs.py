"""The dashboard's Sync now: a source's sync run in a thread of the web process the click
reached, its state and outcome kept in ``background_task`` (``web/background_tasks.py``) so the
page's poll is answered by any web process.

One job per source at a time across web processes (``start`` claims the task's row and refuses a
second while one runs), and one sync per source across every process (``sources.locked_sync``
claims the source's row first, so a cron ``newsletter content sync`` and Sync now never sync one
source together: the one that comes second gets the CLI's one-line "already running" error).
The outcome of each source's last job stays for ``background_tasks.KEEP``; the durable record is
``source_state`` (last sync, last error) and the activity log (``sync_start``, ``sync_end``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from newsletter.config import Settings, SourceConfig
from newsletter.content.sources import Outcome, SyncRequest, locked_sync
from newsletter.content.sync_lock import lease
from newsletter.models import utcnow
from newsletter.web import background_tasks as tasks

log = logging.getLogger("newsletter.sync")
KIND = "source_sync"
LOST = "interrupted: the web process syncing it stopped; sync again"


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


def _job(task: tasks.Task) -> Job:
    found = task.result
    finished = task.finished_at or (task.until if task.lost else None)

    def number(key: str) -> int:
        value = found.get(key, 0)
        return value if isinstance(value, int) else 0

    def lines(key: str) -> list[str]:
        value = found.get(key, [])
        return [str(v) for v in value] if isinstance(value, list) else []

    return Job(
        source=task.name,
        by=task.started_by,
        started=task.started_at.timestamp(),
        finished=finished.timestamp() if finished else None,
        error=task.error or (LOST if task.lost else ""),
        created=number("created"),
        updated=number("updated"),
        unchanged=number("unchanged"),
        problems=lines("problems"),
        warnings=lines("warnings"),
    )


class SourceSyncs:
    """``start(source, by)`` -> (job, started?); ``job(name)``, ``jobs()``; ``wait(name)`` for
    tests (the threads of this process)."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        self.settings, self.engine = settings, engine
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def job(self, name: str) -> Job | None:
        task = tasks.get(self.engine, KIND, name)
        return _job(task) if task is not None else None

    def jobs(self) -> dict[str, Job]:
        """The last job of each source synced (running, or finished lately), by name."""
        return {name: _job(task) for name, task in tasks.of_kind(self.engine, KIND).items()}

    def running(self) -> bool:
        return any(job.running for job in self.jobs().values())

    def start(
        self,
        source: SourceConfig,
        by: str,
        on_end: Finished | None = None,
        on_start: Finished | None = None,
    ) -> tuple[Job, bool]:
        """Start syncing ``source`` in a thread, unless a web process is syncing it already
        (then the running job, and False). ``on_start`` runs before the thread starts, so
        what it records comes before anything ``on_end`` records."""
        if not tasks.begin(self.engine, KIND, source.name, by, lease=lease(self.settings)):
            return self.job(source.name) or Job(source.name, by), False
        job = Job(source.name, by)
        thread = threading.Thread(
            target=self._run,
            args=(source, job, on_end),
            name=f"sync-{source.name}",
            daemon=True,
        )
        with self._lock:
            self._threads[source.name] = thread
        try:
            if on_start is not None:
                on_start(job)
        finally:
            thread.start()  # the task is claimed as running: it must run to its end
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
        job.error = outcome.error
        if outcome.result is not None:
            result = outcome.result
            job.created, job.updated = len(result.created), len(result.updated)
            job.unchanged = len(result.unchanged)
            job.problems = [str(p) for p in result.problems]
            job.warnings = list(result.warnings)
        job.finished = utcnow().timestamp()
        counts = {"created": job.created, "updated": job.updated, "unchanged": job.unchanged}
        try:
            tasks.finish(
                self.engine,
                KIND,
                source.name,
                result={**counts, "problems": job.problems, "warnings": job.warnings},
                error=job.error,
            )
        except Exception as exc:  # the database unreachable: the row lapses (shown as lost)
            log.error("sync of %s: could not record its outcome: %s", source.name, exc)
        if on_end is not None:
            try:
                on_end(job)
            except Exception as exc:  # the activity log unreachable: one log line, no trace
                log.error("sync of %s: could not record its end: %s", source.name, exc)
