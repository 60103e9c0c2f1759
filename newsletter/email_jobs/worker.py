"""The email worker: claims each due job, builds its message, hands it to the transport, records
how that ended. ``drain`` is one pass (``newsletter worker --once``); ``EmailWorker`` loops, in
a thread of ``newsletter serve`` (woken at once when a signup there queues a job) or in the
foreground of ``newsletter worker``, looking every ``email_job_interval`` seconds for jobs other
processes queued. Any number of workers may run at once: each job is claimed by one.

How a delivery ends (the transport's own classification, ``transports/sendgrid.py``):

- accepted: ``sent``;
- not sent, and it may pass (429, 5xx, connection refused, a bad key that may be fixed, a
  template that does not compile): ``queued`` again after a backoff with jitter
  (``sending/retrying.py``), ``failed`` after ``email_job_max_attempts`` tries;
- refused for good (a 400, an address that cannot be mailed): ``failed`` at once;
- anything else during the transport call (a timeout after the request went out, a dropped
  connection, an error nobody foresaw): ``uncertain``, never resent unless the operator asks.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import timedelta

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.email_jobs import claims, queue
from newsletter.email_jobs.claims import Claimed, Settled
from newsletter.email_jobs.kinds import Drop, Kinds
from newsletter.models import EmailJobState, utcnow
from newsletter.sending.ledger import worker_id
from newsletter.sending.retrying import backoff_delay
from newsletter.transports.base import DeliveryError, Transport

log = logging.getLogger("newsletter.email_jobs")
PRUNE_EVERY = 3600.0  # seconds between two prunes of old sent and dropped jobs
BUSY_WINDOW = 0.5  # seconds after a wake (a signup here) during which the server is busy
PAUSE_MOST = 1.0  # seconds: the longest pause after one job


@dataclass
class Drained:
    """What a pass did, per outcome; ``recovered``: jobs found in flight of a dead worker."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    dropped: int = 0
    recovered: int = 0

    def line(self) -> str:
        return ", ".join(f"{getattr(self, f.name)} {f.name}" for f in fields(self))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def _equal_jitter() -> float:
    """Half the backoff for sure, half at random: never a retry right on the heels of a failure."""
    return 0.5 + random.random() / 2  # noqa: S311 (spreading retries, not a secret)


class Delivery:
    """One worker's means: its id, the settings, the transport, the kinds' builders."""

    def __init__(
        self, settings: Settings, engine: sa.Engine, transport: Transport, worker: str = ""
    ) -> None:
        self.settings, self.engine, self.transport = settings, engine, transport
        self.worker = worker or worker_id()
        self.kinds = Kinds(settings, engine)

    def drain(
        self,
        *,
        halt: threading.Event | None = None,
        job_id: int | None = None,
        pause: Callable[[], float] | None = None,
    ) -> Drained:
        """Every job due now, each tried once (a job put back for a retry waits for a later
        pass); first, jobs a dead worker left in flight become uncertain. How each job ended is
        recorded in the transaction that claims the next (``claims.next_job``). ``pause``, after
        each job: seconds to wait before the next (the server's worker yields to requests); the
        job is recorded first, so nothing sent waits in flight through a pause."""
        lease = timedelta(seconds=self.settings.email_job_lease)
        done = Drained(recovered=queue.recover(self.engine, lease=lease, own=self.worker))
        due_by = utcnow()
        ended: tuple[Claimed, Settled] | None = None
        while True:
            more = halt is None or not halt.is_set()
            mine, job = claims.next_job(
                self.engine, self.worker, due_by=due_by, job_id=job_id,
                settled=None if ended is None else ended[1], claim=more,
            )  # fmt: skip
            if ended is not None and mine is False:
                _not_mine(*ended)
            if job is None:
                return done
            ended = job, self._outcome(job)
            state = ended[1].state
            name = "retried" if state == EmailJobState.queued else state.value
            setattr(done, name, getattr(done, name) + 1)
            wait = 0.0 if pause is None else pause()
            if wait > 0:
                self._record(*ended)
                ended = None
                if halt is None:
                    time.sleep(wait)
                else:
                    halt.wait(wait)

    def deliver(self, job: Claimed) -> EmailJobState:
        """Build and hand over one claimed (in flight, committed) job; record how it ended."""
        settled = self._outcome(job)
        self._record(job, settled)
        return settled.state

    def _record(self, job: Claimed, settled: Settled) -> None:
        if not claims.settle(self.engine, job.id, self.worker, settled.state,
                             error=settled.error, retry_at=settled.retry_at):  # fmt: skip
            _not_mine(job, settled)

    def _outcome(self, job: Claimed) -> Settled:
        """Build and hand over one claimed (in flight, committed) job: how it ended, to be
        recorded."""
        try:
            built = self.kinds.message(job)
        except DeliveryError as exc:  # an address with no ASCII form: never mailable
            return self._settle(job, EmailJobState.failed, str(exc))
        except Exception as exc:  # a template that does not compile, the database: not sent
            log.exception("email job %s: its message could not be built", job.id)
            return self._again(job, f"not built: {exc}")
        if isinstance(built, Drop):
            return self._settle(job, EmailJobState.dropped, built.reason)
        try:
            self.transport.send(built)
        except DeliveryError as exc:
            if exc.uncertain:
                return self._settle(job, EmailJobState.uncertain, str(exc))
            if exc.retryable or exc.fatal:
                return self._again(job, str(exc), exc.retry_after)
            return self._settle(job, EmailJobState.failed, str(exc))
        except Exception as exc:  # unforeseen, during the call: it may have gone out
            log.exception("email job %s: the transport failed unexpectedly", job.id)
            return self._settle(job, EmailJobState.uncertain, f"{type(exc).__name__}: {exc}")
        return Settled(job.id, EmailJobState.sent)

    def _again(self, job: Claimed, error: str, retry_after: float | None = None) -> Settled:
        settings = self.settings
        if job.attempts >= settings.email_job_max_attempts:
            return self._settle(job, EmailJobState.failed, f"{error} (after {job.attempts} tries)")
        delay = backoff_delay(
            job.attempts,
            base_delay=settings.email_job_retry_base_delay,
            max_delay=settings.email_job_retry_max_delay,
            retry_after=retry_after,
            jitter=_equal_jitter,
        )
        log.warning("email job %s: try %s failed, again in %.0f s: %s", job.id, job.attempts,
                    delay, queue.one_line(error))  # fmt: skip
        return Settled(job.id, EmailJobState.queued, error, utcnow() + timedelta(seconds=delay))

    def _settle(self, job: Claimed, state: EmailJobState, error: str = "") -> Settled:
        if state in (EmailJobState.failed, EmailJobState.uncertain):
            log.error("email job %s (%s) %s: %s", job.id, job.kind, state, queue.one_line(error))
        return Settled(job.id, state, error)


def _not_mine(job: Claimed, settled: Settled) -> None:
    log.warning("email job %s ended %s, but another worker had marked it uncertain "
                "(it was in flight past email_job_lease); it stays uncertain", job.id,
                settled.state)  # fmt: skip


def drain(settings: Settings, engine: sa.Engine, transport: Transport) -> Drained:
    """One pass of a worker of its own: every job due now, each tried once."""
    return Delivery(settings, engine, transport).drain()


class EmailWorker:
    """The loop: ``start()`` in a thread (``newsletter serve``) or ``run()`` in the foreground
    (``newsletter worker``); ``wake()`` runs a pass now (a signup in this process: the loop then
    yields to requests, ``_pause``); ``stop()`` ends it after the job in flight. ``passes``
    counts the passes done (for tests)."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        transport: Transport,
        *,
        enabled: bool = True,
        interval: float | None = None,
    ) -> None:
        self.settings, self.engine, self.transport = settings, engine, transport
        self.enabled = enabled
        self.interval = interval or settings.email_job_interval
        self.share = settings.email_worker_busy_share
        self.passes = 0
        self.paused = 0.0  # seconds spent yielding to requests (for tests and the log)
        self._woken_at = -BUSY_WINDOW  # time.monotonic() of the latest wake
        self._cpu = 0.0  # this thread's CPU time after the latest pause
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivery = Delivery(settings, engine, transport)

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self.run, name="email-worker", daemon=True)
        self._thread.start()
        log.info("email worker: a look at the job table every %ss", self.interval)

    def wake(self) -> bool:
        """A pass now (after the one in progress); False when no loop runs here."""
        if self._thread is None:
            return False
        self._woken_at = time.monotonic()
        self._wake.set()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """Pass after pass until ``stop()``: at once, then when woken or every interval."""
        next_prune = 0.0
        self._wake.set()
        while not self._halt.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._halt.is_set():
                return
            try:
                self._cpu = time.thread_time()
                done = self.delivery.drain(halt=self._halt, pause=self._pause)
                if time.monotonic() >= next_prune:
                    queue.prune(self.engine)
                    next_prune = time.monotonic() + PRUNE_EVERY
            except Exception as exc:  # a pass must never take the server down
                log.error("email worker pass failed: %s", queue.one_line(str(exc)))
                done = Drained()
            self.passes += 1
            if done:
                log.info("email worker: %s", done.line())

    def _pause(self) -> float:
        """After each job, while signups are arriving here (a wake in the last ``BUSY_WINDOW``
        seconds): a pause long enough that this thread's CPU time stays under ``share`` of the
        time (``email_worker_busy_share``). Python runs one thread of a process at a time, so
        a worker that never paused would take about half of the web process during a burst;
        the emails wait a little instead, and go at full pace once the burst is over."""
        cpu = time.thread_time()
        used, self._cpu = cpu - self._cpu, cpu
        if self.share >= 1 or time.monotonic() - self._woken_at > BUSY_WINDOW:
            return 0.0
        pause = min(used * (1 - self.share) / self.share, PAUSE_MOST)
        self.paused += pause
        return pause
