"""Fixtures for the subscriber side: settings with a secret, a migrated store, the outbox, the
web app (TestClient) and a real uvicorn on a free loopback port."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.email_jobs.worker import Drained, drain
from newsletter.models import Subscriber
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from tests.live import serving

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium"),
]

SECRET = "test-secret-key-only-for-tests-32+"


class Outbox:
    """The .eml files the outbox transport wrote, parsed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(("plain",))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content

    @staticmethod
    def html(message: EmailMessage) -> str:
        part = message.get_body(("html",))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content


@pytest.fixture
def web_settings(project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_SIGNUP_RATE_LIMIT", "off")
    return Settings()


@pytest.fixture
def store(web_settings: Settings) -> Iterator[sa.Engine]:
    engine = db.make_engine(web_settings.database_url)
    db.ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(web_settings: Settings) -> Outbox:
    return Outbox(web_settings.outbox_dir)


def make_app(settings: Settings, engine: sa.Engine) -> FastAPI:
    return create_app(settings, engine, OutboxTransport(settings.outbox_dir))


@pytest.fixture
def client(web_settings: Settings, store: sa.Engine) -> Iterator[TestClient]:
    with TestClient(make_app(web_settings, store), base_url=web_settings.base_url) as c:
        yield c


def deliver(settings: Settings, engine: sa.Engine) -> Drained:
    """What the email worker does: every email job due now, through the outbox of
    ``settings`` (whose base_url and secret sign the links)."""
    return drain(settings, engine, OutboxTransport(settings.outbox_dir))


class Delivered(Outbox):
    """What people received: the outbox read after the email worker delivered every job due."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        super().__init__(settings.outbox_dir)
        self.settings, self.engine = settings, engine

    def messages(self) -> list[EmailMessage]:
        deliver(self.settings, self.engine)
        return super().messages()


def status_of(engine: sa.Engine, address: str) -> str | None:
    with Session(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
        return None if found is None else str(found.status)


def live_server(
    settings_for: Callable[[str], Settings], engine: sa.Engine
) -> AbstractContextManager[tuple[str, Settings]]:
    """A real uvicorn on 127.0.0.1 and a free port, as `newsletter serve` but without the
    app's lifespan (no in-server scheduler); yields (base URL, the app's settings).
    ``settings_for(base_url)`` builds the Settings once the port is known, so the links in the
    emails point at this very server."""
    return serving(settings_for, engine, lifespan=False)
