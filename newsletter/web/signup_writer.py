"""The web app's signup writer: the signups that arrive while one batch is being written wait
and are written together in the next one (group commit, ``subscribers/signup_batch.py``).

A signup hands its (already validated) address to ``SignupWriter.signup`` and awaits its own
outcome. When no writer is busy it starts one at once: a lone signup is written alone, with no
artificial wait; under load, the signups that came in while a batch was in the database go
together in the next (up to ``most``). One writer on SQLite (it takes one writer at a time),
a few on PostgreSQL. Each writer runs its batch in a worker thread, off the event loop.

Each request gets exactly its own signup's outcome: whether a confirmation email's job was
queued (the app then wakes its email worker), or the exception that signup alone raised (a
failed batch is written again one signup per transaction, so one bad signup fails alone), or,
when the database could not be used at all, its error (the request answers 503). No request
waits for ever: a writer goes on after a failed batch, and a cancelled one cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging

import anyio
import sqlalchemy as sa

from newsletter.subscribers import store
from newsletter.subscribers.signup_batch import AskNew, Outcome, Wanted, signup_many

log = logging.getLogger("newsletter.subscribers")
MOST = 64  # signups in one transaction at most


class SignupWriter:
    """``await SignupWriter(engine, ask, ask_new, writers=1).signup(wanted)``."""

    def __init__(
        self,
        engine: sa.Engine,
        ask: store.Ask,
        ask_new: AskNew,
        *,
        writers: int,
        most: int = MOST,
    ) -> None:
        self.engine, self.ask, self.ask_new = engine, ask, ask_new
        self.writers, self.most = writers, most
        self.waiting: list[tuple[Wanted, asyncio.Future[bool]]] = []
        self.busy = 0  # writers running
        self.tasks: set[asyncio.Task[None]] = set()  # kept referenced while they run

    async def signup(self, wanted: Wanted) -> bool:
        """Whether the signup's confirmation email's job was queued; raises what writing that
        signup alone would raise."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self.waiting.append((wanted, future))
        if self.busy < self.writers:
            self.busy += 1
            task = loop.create_task(self._write())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _write(self) -> None:
        """Batches of what waits, until nothing does. A batch that could not be written at all
        (``signup_many`` raised) answers each of its requests with that error, and the writer
        goes on with what waits behind it; cancelled (the server stopping), it cancels every
        request still waiting, so none waits for a writer that is gone."""
        try:
            while self.waiting:
                batch = self.waiting[: self.most]
                del self.waiting[: self.most]
                try:
                    outcomes: list[Outcome] = await anyio.to_thread.run_sync(
                        signup_many, self.engine, [one for one, _ in batch], self.ask, self.ask_new
                    )
                except Exception as exc:  # each of these requests raises it (errors.py: a 503)
                    log.error("%d signups could not be written: %s", len(batch), exc)
                    outcomes = [exc] * len(batch)
                except BaseException:  # cancelled: nobody is answered
                    batch += self.waiting
                    self.waiting.clear()
                    for _, future in batch:
                        _settle(future, None)
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    _settle(future, outcome)
        finally:
            self.busy -= 1


def _settle(future: asyncio.Future[bool], outcome: Outcome | None) -> None:
    """Hands ``outcome`` to the request awaiting ``future`` (None: cancels it). A request that
    went away (its future cancelled) is skipped; its signup was written all the same."""

    def settle() -> None:
        if future.done():
            return
        if outcome is None:
            future.cancel()
        elif isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - always called from a writer task
        running = None
    if running is loop:
        settle()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(settle)
