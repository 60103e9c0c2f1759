"""The in-server scheduler with several web processes on PostgreSQL: one leader runs the timed
due-send passes, Send now runs a pass wherever it is pressed, and when the leader stops another
takes over. Each DueSender here has its own engine, so its own connections: a process apart."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from newsletter import db
from newsletter.config import Settings
from newsletter.transports.outbox import OutboxTransport
from newsletter.web.background import DueSender


def _until(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_one_leader_send_now_anywhere_and_a_successor(
    synced: sa.Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if synced.dialect.name != "postgresql":
        pytest.skip("the leader lock is PostgreSQL's; on SQLite there is one web process")
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_INTERVAL", "1")
    settings = Settings()
    other = db.make_engine(database_url)
    transport = OutboxTransport(settings.outbox_dir)
    first = DueSender(settings, synced, transport, enabled=True)
    second = DueSender(settings, other, transport, enabled=True)
    try:
        first.start()
        _until(lambda: first.passes >= 1, "the first scheduler never ran a pass")
        second.start()
        passes = first.passes
        _until(lambda: first.passes >= passes + 3, "the leader stopped its timed passes")
        assert second.passes == 0  # three intervals: never the lead, no timed pass
        assert second.wake()  # Send now where the click landed: a pass at once
        _until(lambda: second.passes == 1, "Send now did not run a pass on the other process")
        first.stop()
        _until(lambda: second.passes >= 3, "nobody took over the timed passes")
    finally:
        first.stop()
        second.stop()
        other.dispose()
