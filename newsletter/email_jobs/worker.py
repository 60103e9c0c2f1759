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
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.email_jobs import queue
from newsletter.email_jobs.kinds import Drop, Kinds
from newsletter.email_jobs.queue import Claimed
from newsletter.models import EmailJobState, utcnow
from newsletter.sending.ledger import worker_id
from newsletter.sending.retrying import backoff_delay
from newsletter.transports.base import DeliveryError, Transport

log = logging.getLogger("newsletter.email_jobs")
PRUNE_EVERY = 3600.0  # seconds between two prunes of old sent and dropped jobs


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

    def drain(self, *, halt: threading.Event | None = None, job_id: int | None = None) -> Drained:
        """Every job due now, each tried once (a job put back for a retry waits for a later
        pass); first, jobs a dead worker left in flight become uncertain."""
        lease = timedelta(seconds=self.settings.email_job_lease)
        done = Drained(recovered=queue.recover(self.engine, lease=lease, own=self.worker))
        due_by = utcnow()
        while halt is None or not halt.is_set():
            job = queue.claim(self.engine, self.worker, due_by=due_by, job_id=job_id)
            if job is None:
                break
            outcome = self.deliver(job)
            name = "retried" if outcome == EmailJobState.queued else outcome.value
            setattr(done, name, getattr(done, name) + 1)
        return done

    def deliver(self, job: Claimed) -> EmailJobState:
        """Build and hand over one claimed (in flight, committed) job; record how it ended."""
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
        return self._settle(job, EmailJobState.sent)

    def _again(self, job: Claimed, error: str, retry_after: float | None = None) -> EmailJobState:
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
        retry_at = utcnow() + timedelta(seconds=delay)
        self._record(job, EmailJobState.queued, error, retry_at)
        log.warning("email job %s: try %s failed, again in %.0f s: %s", job.id, job.attempts,
                    delay, queue.one_line(error))  # fmt: skip
        return EmailJobState.queued

    def _settle(self, job: Claimed, state: EmailJobState, error: str = "") -> EmailJobState:
        self._record(job, state, error)
        if state in (EmailJobState.failed, EmailJobState.uncertain):
            log.error("email job %s (%s) %s: %s", job.id, job.kind, state, queue.one_line(error))
        return state

    def _record(
        self, job: Claimed, state: EmailJobState, error: str, retry_at: datetime | None = None
    ) -> None:
        mine = queue.settle(self.engine, job.id, self.worker, state, error=error, retry_at=retry_at)
        if not mine:
            log.warning("email job %s ended %s, but another worker had marked it uncertain "
                        "(it was in flight past email_job_lease); it stays uncertain", job.id,
                        state)  # fmt: skip


def drain(settings: Settings, engine: sa.Engine, transport: Transport) -> Drained:
    """One pass of a worker of its own: every job due now, each tried once."""
    return Delivery(settings, engine, transport).drain()


class EmailWorker:
    """The loop: ``start()`` in a thread (``newsletter serve``) or ``run()`` in the foreground
    (``newsletter worker``); ``wake()`` runs a pass now; ``stop()`` ends it after the job in
    flight. ``passes`` counts the passes done (for tests)."""

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
        self.passes = 0
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
                done = self.delivery.drain(halt=self._halt)
                if time.monotonic() >= next_prune:
                    queue.prune(self.engine)
                    next_prune = time.monotonic() + PRUNE_EVERY
            except Exception as exc:  # a pass must never take the server down
                log.error("email worker pass failed: %s", queue.one_line(str(exc)))
                done = Drained()
            self.passes += 1
            if done:
                log.info("email worker: %s", done.line())
