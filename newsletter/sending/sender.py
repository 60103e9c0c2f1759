"""Send an issue to its audience through a Transport, batch by batch, recorded in the send ledger.

Compile once, personalise per recipient: each batch is one Message with the compiled HTML and
text, and per recipient only substitutions (unsubscribe URL, name...), List-Unsubscribe headers
and custom args (send id, subscriber id: strings, no personal data).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import CheckFailed, SendError
from newsletter.issues import placeholders
from newsletter.models import DeliveryStatus, Send, SendKind, SendStatus
from newsletter.sending import ledger, recovery, stopping, summary
from newsletter.sending.ledger import Claimed, Content
from newsletter.sending.personalise import Personaliser
from newsletter.sending.retrying import with_retries
from newsletter.subscribers.address import key_of
from newsletter.subscribers.store import normalise_email
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.base import DeliveryError, Message, Transport

if TYPE_CHECKING:  # building (MJML, premailer...) is imported where an issue is built: a
    # sending process (processes.py) delivers a send already built, and needs none of it
    from newsletter.issues.build import Build
    from newsletter.issues.compiler import CompiledIssue

TEST_PREFIX = "[TEST] "
STOPPED_ON_REQUEST = "stopped on request after the batch in flight; run it again to resume"


@dataclass
class Progress:
    """Running totals of one run of a send, handed to ``on_batch`` after every batch."""

    audience: int
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    batches: int = 0
    retries: int = 0
    stopped: bool = False  # a stop was requested (the dashboard's Stop): the rest stays pending
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.accepted / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class SendOptions:
    """Everything a Sender reads, fixed before it starts: the sender identity, the site's base
    URL, workers, retries and the in-flight lease from the settings, and how this run behaves."""

    from_email: str
    from_name: str
    reply_to: str
    base_url: str
    concurrency: int
    max_attempts: int
    retry_base_delay: float
    retry_max_delay: float
    inflight_lease: timedelta
    transport: str = ""  # recorded on the send: outbox, sendgrid, sendgrid (sandbox)
    resend_uncertain: bool = False
    allow_changed: bool = False
    on_batch: Callable[[Progress], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    started_by: str = ""  # recorded on a send this run starts: a staff address, cli, scheduler
    clear_stop: bool = True  # a deliberate run resumes a stopped send; send-due's does not
    halt: threading.Event | None = None  # set: stop after the batch in flight (server shutdown)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SendOptions:
        """The configured values; ``overrides`` replace any field (``on_batch=...``)."""
        options = cls(
            from_email=settings.from_email,
            from_name=settings.from_name,
            reply_to=settings.reply_to,
            base_url=settings.base_url,
            concurrency=settings.send_concurrency,
            max_attempts=settings.send_max_attempts,
            retry_base_delay=settings.send_retry_base_delay,
            retry_max_delay=settings.send_retry_max_delay,
            inflight_lease=timedelta(seconds=settings.send_inflight_lease),
            transport=summary.transport_label(settings),
        )
        return replace(options, **overrides)


def content_of(compiled: CompiledIssue, *, test: bool = False) -> Content:
    """The ledger's copy of a compiled issue. In the HTML each placeholder becomes
    ``%%name_html%%``, so one substitution set serves both parts with the right escaping."""
    html = placeholders.with_html_twins(compiled.html)
    subject = (TEST_PREFIX if test else "") + compiled.subject
    return Content(compiled.slug, subject, html, compiled.text, compiled.content_hash)


class Sender:
    """Delivers one Send; several Senders (processes) may work on the same Send at once."""

    def __init__(
        self, engine: sa.Engine, transport: Transport, tokens: Tokens, options: SendOptions
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.tokens = tokens
        self.options = options
        self.worker = ledger.worker_id()
        self.batch_size = transport.max_batch
        self._lock = threading.Lock()

    def start_live(self, compiled: CompiledIssue) -> Send:
        return ledger.start_live(
            self.engine,
            content_of(compiled),
            allow_changed=self.options.allow_changed,
            transport=self.options.transport,
            started_by=self.options.started_by,
            clear_stop=self.options.clear_stop,
        )

    def start_test(self, compiled: CompiledIssue, addresses: Sequence[str]) -> Send:
        """A [TEST] proof to ``addresses`` (anyone, subscribed or not; InvalidAddress if bad)."""
        emails: dict[str, str] = {}  # each person once: SendGrid refuses a request otherwise
        for a in addresses:
            emails.setdefault(key_of(a), normalise_email(a, check_deliverability=False))
        return ledger.start_test(
            self.engine,
            content_of(compiled, test=True),
            list(emails.values()),
            self.options.transport,
            started_by=self.options.started_by,
        )

    def run(self, send: Send) -> Progress:
        """Deliver every pending row; raises SendError when the send had to stop."""
        assert send.id is not None
        options = self.options
        recovery.recover(
            self.engine,
            send.id,
            lease=options.inflight_lease,
            resend_uncertain=options.resend_uncertain,
        )
        progress = Progress(audience=send.audience)
        personaliser = Personaliser(send, options.base_url, self.tokens)  # once per send
        stop = threading.Event()
        count = max(1, options.concurrency)
        workers = [self.worker] + [ledger.worker_id() for _ in range(count - 1)]
        with ThreadPoolExecutor(count, thread_name_prefix="send") as pool:
            futures = [
                pool.submit(self._loop, send, personaliser, w, progress, stop) for w in workers
            ]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None and not isinstance(error, DeliveryError):
                raise error
        stopped = next((e for e in errors if isinstance(e, DeliveryError)), None)
        if stopped is not None:
            ledger.close(self.engine, send.id, SendStatus.stopped, str(stopped))
            raise SendError(_stopped(stopped, send)) from stopped
        if not ledger.count(self.engine, send.id, DeliveryStatus.pending, DeliveryStatus.in_flight):
            ledger.close(self.engine, send.id, SendStatus.finished)
        elif progress.stopped:
            ledger.close(self.engine, send.id, SendStatus.stopped, STOPPED_ON_REQUEST)
        return progress

    def _loop(
        self,
        send: Send,
        personaliser: Personaliser,
        worker: str,
        progress: Progress,
        stop: threading.Event,
    ) -> None:
        """One worker: claim a batch, deliver it, repeat; at most one batch in flight."""
        assert send.id is not None
        halt = self.options.halt
        after = 0  # the last row id this worker claimed: its next claim starts there
        while not stop.is_set():
            if halt is not None and halt.is_set():
                return
            if stopping.stop_requested(self.engine, send.id):  # checked between batches
                progress.stopped = True
                return
            batch = ledger.claim(self.engine, send.id, worker, self.batch_size, after=after)
            if not batch and after:  # from the start once more: rows put back to pending
                after = 0
                continue
            if not batch:
                return
            after = batch.last
            try:
                if batch.recipients:
                    self._deliver(send, personaliser, worker, batch.recipients, progress)
            except DeliveryError:
                stop.set()  # the other workers finish the batch they have, then stop too
                raise
            with self._lock:
                progress.skipped += batch.skipped
                progress.batches += 1
                if self.options.on_batch:
                    self.options.on_batch(progress)

    def _deliver(
        self,
        send: Send,
        personaliser: Personaliser,
        worker: str,
        batch: list[Claimed],
        progress: Progress,
    ) -> None:
        assert send.id is not None
        message = self._message(send, personaliser, batch)

        def count_retry(error: DeliveryError, attempt: int, delay: float) -> None:
            self._count(progress, "retries", 1)

        def settle(status: DeliveryStatus, **detail: str) -> None:
            assert send.id is not None
            ledger.settle(self.engine, send.id, worker, status, **detail)

        try:
            result = with_retries(
                lambda: self.transport.send(message),
                attempts=self.options.max_attempts,
                base_delay=self.options.retry_base_delay,
                max_delay=self.options.retry_max_delay,
                sleep=self.options.sleep,
                on_retry=count_retry,
            )
        except DeliveryError as exc:
            if exc.uncertain:
                settle(DeliveryStatus.uncertain, error=str(exc))
                self._count(progress, "uncertain", len(batch))
                return
            if exc.fatal or exc.retryable:  # nobody in this batch got it: resumable
                settle(DeliveryStatus.pending, error=str(exc))
                raise
            settle(DeliveryStatus.failed, error=str(exc))
            self._count(progress, "failed", len(batch))
            return
        settle(DeliveryStatus.accepted, message_id=result.message_id or "")
        self._count(progress, "accepted", len(batch))

    def _count(self, progress: Progress, field: str, n: int) -> None:
        with self._lock:
            setattr(progress, field, getattr(progress, field) + n)

    def _message(self, send: Send, personaliser: Personaliser, batch: list[Claimed]) -> Message:
        options = self.options
        return Message(
            subject=send.subject,
            html=send.html,
            text=send.text,
            from_email=options.from_email,
            from_name=options.from_name,
            reply_to=options.reply_to,
            recipients=[personaliser.recipient(c) for c in batch],
        )


def checked_build(settings: Settings, engine: sa.Engine, ref: str) -> Build:
    """Build an issue for sending: failing pre-send checks block it (CheckFailed)."""
    from newsletter.issues.build import build_issue

    build = build_issue(settings, engine, ref)
    errors = [f.message for f in build.findings if f.level == "error"]
    if errors:
        raise CheckFailed(f"{build.issue.slug} fails its pre-send checks: " + "; ".join(errors))
    return build


def check_live_links(settings: Settings) -> None:
    """A live send that really delivers carries links readers must open: refuse (SendError) a
    ``base_url`` that is not https or points at this machine. Outbox and sandbox are fine."""
    if settings.transport != "sendgrid" or settings.sendgrid_sandbox:
        return
    url = urlsplit(settings.base_url)
    if url.scheme != "https" or _this_machine((url.hostname or "").rstrip(".")):
        raise SendError(
            f"base_url is {settings.base_url}: a live send through SendGrid needs the web app's "
            "public https address, or its unsubscribe and view links cannot work"
        )


def _this_machine(host: str) -> bool:
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        return address.is_loopback or address.is_unspecified
    return False


def _stopped(error: DeliveryError, send: Send) -> str:
    kind = "test send" if send.kind == SendKind.test else "send"
    if error.fatal:
        return f"{kind} of {send.issue_slug} stopped: {error}"
    return (
        f"{kind} of {send.issue_slug} stopped after {error}; nothing is lost: "
        f"run it again to resume with the recipients not yet sent"
    )
