"""The in-server scheduler: a real uvicorn running the app with its lifespan sends a scheduled
issue when it comes due, with nobody running send-due; Send now wakes it at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.models import Role, Send, SendKind, SendStatus
from newsletter.sending import send_time
from newsletter.staff import sessions
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from newsletter.web.admin.auth import cookie_name, lifetimes
from newsletter.web.server import uvicorn_config
from tests.admin.conftest import add_staff
from tests.subscribers.conftest import Outbox


@contextmanager
def serving(settings: Settings, engine: sa.Engine) -> Iterator[tuple[str, threading.Thread]]:
    """``newsletter serve`` as it runs: uvicorn with the app's lifespan (the scheduler) on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings, engine, OutboxTransport(settings.outbox_dir))
    config = uvicorn_config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base, thread
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"
    assert not [t for t in threading.enumerate() if t.name == "send-due"], "scheduler left"


def _readers(engine: sa.Engine, n: int) -> None:
    with Session(engine) as session:
        for i in range(n):
            subscribers.add(
                session, f"r{i}@example.net", "", confirmed=True, consent=ConsentInfo(source="t")
            )
        session.commit()


def _wait_for(outbox: Outbox, n: int, seconds: float) -> float:
    started = time.monotonic()
    while len(outbox.messages()) < n:
        assert time.monotonic() - started < seconds, f"{len(outbox.messages())} of {n} sent"
        time.sleep(0.1)
    return time.monotonic() - started


def _live(engine: sa.Engine) -> list[Send]:
    with Session(engine) as session:
        return list(session.exec(select(Send).where(Send.kind == SendKind.live)))


def test_the_server_sends_a_scheduled_issue_when_it_is_due(
    admin_settings: Settings, admin_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_IN_SERVER", "true")
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_INTERVAL", "1")
    settings = Settings()
    _readers(admin_engine, 4)
    soon = datetime.now(UTC) + timedelta(seconds=3)
    send_time.schedule(settings, admin_engine, "2016-q3", soon, author="p@example.org")
    outbox = Outbox(settings.outbox_dir)
    with serving(settings, admin_engine):
        _wait_for(outbox, 4, 30)
        assert datetime.now(UTC) >= soon.replace(microsecond=0)  # not before its time
    [send] = _live(admin_engine)
    assert send.issue_slug == "2016-q3" and send.started_by == "scheduler"
    assert send.status == SendStatus.finished


def test_send_now_wakes_the_server_at_once(
    admin_settings: Settings, admin_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_IN_SERVER", "true")
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_INTERVAL", "600")  # only a wake can send it soon
    settings = Settings()
    _readers(admin_engine, 3)
    staff = add_staff(admin_engine, Role.publisher)
    assert staff.id is not None
    token, row = sessions.start(admin_engine, staff.id, lifetimes(settings))
    outbox = Outbox(settings.outbox_dir)
    with serving(settings, admin_engine) as (base, _):
        time.sleep(0.5)  # the first pass at start finds nothing to send
        assert outbox.messages() == []
        with httpx.Client(base_url=base, cookies={cookie_name(settings): token}) as client:
            answer = client.post(
                "/admin/issues/2016-q3/send-now",
                data={"confirm_slug": "2016-q3", "csrf_token": row.csrf_token},
                headers={"Origin": settings.base_url, "Sec-Fetch-Site": "same-origin"},
            )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].endswith("done=started")
        assert _wait_for(outbox, 3, 20) < 20
    [send] = _live(admin_engine)
    assert send.started_by == "publisher@example.org" and send.status == SendStatus.finished
