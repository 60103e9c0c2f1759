"""One send in several OS processes (``send_processes``, ``newsletter send --processes N``).

A send is CPU-bound in Python (signing a link, building and encoding each request), so worker
threads share one core. Here the calling process starts N processes with the "spawn" start
method (a fresh interpreter: never a fork of a process that holds threads, database connections
or locks), and each runs a full ``Sender`` on the same send. They need no coordination of their
own: every batch is claimed in the send ledger (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), exactly as when several ``newsletter send`` run at once, so each
recipient goes out once whatever the number of processes, and a crash leaves at most
processes x ``send_concurrency`` batches uncertain.

The parent recovers the send once (a dead worker's rows become uncertain; ``--resend-uncertain``
reopens them) before the children start, so no child can reopen rows a sibling has just left
uncertain. Each child reports its running counts through a pipe after every batch; the parent
adds them up for the progress bar and the summary. SIGINT (Ctrl-C) or SIGTERM to the parent is
passed on to the children, which stop after the batch in flight, as on a stop request; a child
that fails makes the parent stop the others the same way and report the failure.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Final

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import SendError
from newsletter.models import Send
from newsletter.sending import recovery
from newsletter.sending.sender import (
    Progress,
    Sender,
    SendOptions,
    check_live_links,
    checked_build,
)
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.base import Transport

START_METHOD: Final = "spawn"
COUNTS = ("accepted", "failed", "uncertain", "skipped", "batches", "retries")
POLL = 0.5  # seconds between two looks at the halt event while children run


@dataclass(frozen=True)
class ChildEnd:
    """How one sending process ended: its counts and, when it failed, why."""

    pid: int
    counts: dict[str, int]
    stopped: bool = False  # a stop request (the dashboard's Stop) ended it
    error: str = ""  # a SendError's message (the send stopped), or a crash's last line
    crashed: bool = False  # died, or raised something that is not a SendError


def run(
    settings: Settings,
    engine: sa.Engine,
    sender: Sender,
    send: Send,
    processes: int,
) -> Progress:
    """Deliver ``send`` with ``processes`` processes, each a ``Sender`` with ``sender``'s options.

    Returns the added-up Progress, as ``Sender.run`` does; raises SendError when a process
    failed (the first failure's words) or when the run was interrupted (SIGINT/SIGTERM).
    ``options.on_batch`` sees the added-up counts; ``options.halt`` stops every process after
    its batch in flight.
    """
    assert send.id is not None
    options = sender.options
    recovery.recover(
        engine, send.id, lease=options.inflight_lease, resend_uncertain=options.resend_uncertain
    )
    # what a child needs, picklable: the callables stay here, the reopening is done
    child_options = replace(options, on_batch=None, halt=None, resend_uncertain=False)
    progress = Progress(audience=send.audience)
    context = multiprocessing.get_context(START_METHOD)
    children: dict[Connection, Any] = {}
    latest: dict[int, dict[str, int]] = {}
    ends: dict[int, ChildEnd] = {}
    interrupted = threading.Event()
    with _passing_on_signals(children, interrupted):
        for _ in range(max(1, processes)):
            reader, writer = context.Pipe(duplex=False)
            child = context.Process(
                target=_child,
                args=(settings, send.id, child_options, writer),
                name="newsletter-send",
                daemon=False,
            )
            child.start()
            writer.close()
            children[reader] = child
        open_pipes = list(children)
        stopping = False
        while open_pipes:
            if not stopping and (interrupted.is_set() or _halted(options)):
                stopping = True
                _terminate(children.values())
            for ready in wait(open_pipes, timeout=POLL):
                assert isinstance(ready, Connection)
                child = children[ready]
                try:
                    kind, payload = ready.recv()
                except (EOFError, OSError):
                    open_pipes.remove(ready)
                    continue
                if kind == "batch":
                    latest[child.pid] = payload
                    _add_up(progress, latest)
                    if options.on_batch is not None:
                        options.on_batch(progress)
                else:
                    ends[child.pid] = payload
                    latest[child.pid] = payload.counts
                    if (payload.error or payload.crashed) and not stopping:
                        stopping = True  # one failed: the others stop after their batch
                        _terminate(c for c in children.values() if c.pid != child.pid)
        for child in children.values():
            child.join()
            if child.pid not in ends:  # killed, or died before it could say anything
                how = _exit_words(child.exitcode)
                ends[child.pid] = ChildEnd(
                    child.pid, latest.get(child.pid, {}), error=how, crashed=True
                )
            elif child.exitcode and not ends[child.pid].crashed:
                ends[child.pid] = replace(ends[child.pid], crashed=True)
    _add_up(progress, latest)
    progress.stopped = any(e.stopped for e in ends.values())
    failures = [e for e in ends.values() if e.error or e.crashed]
    if failures:
        first = failures[0]
        raise SendError(first.error if not first.crashed else _crash_words(first, send))
    if interrupted.is_set():
        raise SendError(
            f"interrupted: the {processes} sending processes stopped after their batches in "
            f"flight; newsletter send {send.issue_slug} resumes"
        )
    return progress


def _halted(options: SendOptions) -> bool:
    return options.halt is not None and options.halt.is_set()


def _add_up(progress: Progress, latest: dict[int, dict[str, int]]) -> None:
    for name in COUNTS:
        setattr(progress, name, sum(counts.get(name, 0) for counts in latest.values()))


def _terminate(children: Any) -> None:
    """SIGTERM: a child stops after the batch it has in flight (see ``_child``)."""
    for child in children:
        if child.exitcode is None and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)


@contextlib.contextmanager
def _passing_on_signals(
    children: dict[Connection, Any], interrupted: threading.Event
) -> Iterator[None]:
    """While the children run, SIGINT and SIGTERM to this process stop them after their batch
    in flight (Ctrl-C in a terminal reaches them too: the same request twice does no harm)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread; halt still works
        return

    def pass_on(signum: int, frame: object) -> None:
        interrupted.set()
        _terminate(children.values())

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _exit_words(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def _crash_words(end: ChildEnd, send: Send) -> str:
    return (
        f"a sending process (pid {end.pid}) failed: {end.error}; the other processes stopped "
        f"after their batches in flight; newsletter send {send.issue_slug} resumes (a batch the "
        "failed process had in flight is uncertain)"
    )


def _child(settings: Settings, send_id: int, options: SendOptions, pipe: Connection) -> None:
    """One sending process: a Sender on the send, its counts sent up the pipe after each batch.

    SIGTERM or SIGINT: stop after the batch in flight. The parent gone (the pipe broken): the
    same. Exits 0 when it said how it ended, whatever that was.
    """
    halt = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, frame: halt.set())
    latest: dict[str, int] = {}
    pid = os.getpid()

    def report(progress: Progress) -> None:
        latest.update({name: getattr(progress, name) for name in COUNTS})
        _tell(pipe, ("batch", dict(latest)), halt)

    end = ChildEnd(pid, latest)
    try:
        end = _send(settings, send_id, replace(options, on_batch=report, halt=halt))
    except SendError as exc:
        end = ChildEnd(pid, dict(latest), error=str(exc))
    except BaseException as exc:
        last = traceback.format_exception_only(exc)[-1].strip()
        end = ChildEnd(pid, dict(latest), error=last, crashed=True)
    _tell(pipe, ("end", end), halt)
    pipe.close()


def _send(settings: Settings, send_id: int, options: SendOptions) -> ChildEnd:
    from sqlmodel import Session

    from newsletter import db
    from newsletter.transports.factory import make_transport  # a child process's own entry

    engine = db.make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            send = session.get(Send, send_id)
        if send is None:
            raise SendError(f"send {send_id} is not in the database")
        sender = Sender(engine, make_transport(settings), Tokens.from_settings(settings), options)
        progress = sender.run(send)
    finally:
        engine.dispose()
    counts = {name: getattr(progress, name) for name in COUNTS}
    return ChildEnd(os.getpid(), counts, stopped=progress.stopped)


def _tell(pipe: Connection, message: tuple[str, Any], halt: threading.Event) -> None:
    try:
        pipe.send(message)
    except OSError:  # the parent is gone: finish the batch in flight, claim no more
        halt.set()


def send_issue(
    settings: Settings,
    engine: sa.Engine,
    transport: Transport,
    ref: str,
    options: SendOptions | None = None,
    *,
    processes: int = 1,
) -> tuple[Send, Progress]:
    """Build, check and send (or resume) an issue's live send, for scripts and send-due.

    ``options`` default to ``SendOptions.from_settings(settings)``; with ``processes`` > 1 the
    send runs in that many processes (``run``).
    """
    from newsletter.sending import approval

    check_live_links(settings)
    build = checked_build(settings, engine, ref)
    approval.require(settings, engine, build.issue.slug, compiled=build.compiled.content_hash)
    tokens = Tokens.from_settings(settings)
    sender = Sender(engine, transport, tokens, options or SendOptions.from_settings(settings))
    send = sender.start_live(build.compiled)
    if processes > 1:
        return send, run(settings, engine, sender, send, processes)
    return send, sender.run(send)
