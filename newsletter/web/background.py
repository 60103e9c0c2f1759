"""The in-server scheduler: `newsletter serve` runs the same due-send pass as `newsletter send-due`
in one background thread, every ``scheduler_interval`` seconds and at once when woken (the
dashboard's Send now). Never two passes at once in one process; an error is one log line, never
a crashed server; on shutdown the send in progress stops after its batch in flight and resumes
on the next start. Cron's ``send-due`` beside it stays safe: the send ledger lets each recipient
be claimed once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.sending import scheduler
from newsletter.sending.sender import SendOptions
from newsletter.transports.base import Transport

log = logging.getLogger("newsletter.scheduler")
ONE_PASS = threading.Lock()  # per process: two apps in one process still take turns


class DueSender:
    """``start()``, ``wake()``, ``stop()``; ``passes`` counts the passes done (for tests)."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        transport: Transport,
        *,
        enabled: bool,
        on_pass: Callable[[list[scheduler.Outcome]], None] | None = None,
    ) -> None:
        self.settings, self.engine, self.transport = settings, engine, transport
        self.enabled = enabled
        self.on_pass = on_pass
        self.passes = 0
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name="send-due", daemon=True)
        self._thread.start()
        log.info("in-server scheduler: a due-send pass every %ss", self.settings.scheduler_interval)

    def wake(self) -> bool:
        """Run a pass now (after the one in progress); False when the scheduler is off."""
        if self._thread is None:
            return False
        self._wake.set()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in flight; the send resumes on the next pass of any process."""
        if self._thread is None:
            return
        self._halt.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        self._wake.set()  # a first pass at start: what came due while the server was down
        while not self._halt.is_set():
            self._wake.wait(self.settings.scheduler_interval)
            self._wake.clear()
            if self._halt.is_set():
                return
            self.run_pass()

    def run_pass(self) -> list[scheduler.Outcome]:
        """One pass, logged: one line per issue something happened to, one per error."""
        options = SendOptions.from_settings(self.settings, started_by="scheduler", halt=self._halt)
        outcomes: list[scheduler.Outcome] = []
        with ONE_PASS:
            try:
                outcomes = scheduler.send_due(
                    self.settings, self.engine, self.transport, options=options
                )
            except Exception as exc:  # a pass must never take the server down
                log.error("send-due pass failed: %s", " ".join(str(exc).split())[:500])
            self.passes += 1
        for outcome in outcomes:
            if not outcome.quiet:
                line = f"{outcome.slug}: {outcome.action}" + (
                    f" ({outcome.detail})" if outcome.detail else ""
                )
                # WARNING: shown without any logging set up, as uvicorn leaves ours
                (log.error if outcome.failed else log.warning)("send-due: %s", line)
        if self.on_pass is not None:
            self.on_pass(outcomes)
        return outcomes
