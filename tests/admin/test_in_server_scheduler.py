"""The in-server scheduler: a real uvicorn running the app with its lifespan sends a scheduled
issue when it comes due, with nobody running send-due; Send now wakes it at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.models import Role, Send, SendKind, SendStatus
from newsletter.sending import send_time
from newsletter.staff import sessions
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.web.admin.auth import cookie_name, lifetimes
from tests.admin.conftest import add_staff
from tests.live import serving
from tests.subscribers.conftest import Outbox


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
    with serving(lambda _: settings, admin_engine):
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
    with serving(lambda _: settings, admin_engine) as (base, _):
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
