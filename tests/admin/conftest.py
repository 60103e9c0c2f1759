"""Fixtures for the staff area: the sample project synced, the app, staff of every role and a
signed-in TestClient per role (a real session row; the cookie and the form token as a browser
would send them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from newsletter import db
from newsletter.config import Settings
from newsletter.issues.build import sync_markdown
from newsletter.models import Role, Staff, utcnow
from newsletter.staff import sessions
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from newsletter.web.admin.auth import cookie_name, lifetimes

SECRET = "test-secret-key-only-for-tests-32+"
ROLES = list(Role)


@pytest.fixture
def admin_settings(project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_SIGNUP_RATE_LIMIT", "off")
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_IN_SERVER", "false")
    return Settings()


@pytest.fixture
def admin_engine(admin_settings: Settings) -> Iterator[sa.Engine]:
    engine = db.make_engine(admin_settings.database_url)
    db.ensure_schema(engine)
    sync_markdown(admin_settings, engine)
    yield engine
    engine.dispose()


@pytest.fixture
def admin_app(admin_settings: Settings, admin_engine: sa.Engine) -> FastAPI:
    return create_app(admin_settings, admin_engine, OutboxTransport(admin_settings.outbox_dir))


def add_staff(engine: sa.Engine, role: Role, email: str = "", name: str = "") -> Staff:
    """A staff member straight into the table (the CLI and invitation paths have own tests)."""
    email = email or f"{role}@example.org"
    with Session(engine, expire_on_commit=False) as session:
        staff = Staff(
            email=email,
            email_key=email.lower(),
            name=name or role.title(),
            role=role,
            created_at=utcnow(),
        )
        session.add(staff)
        session.commit()
    return staff


class StaffClient:
    """A TestClient signed in as one staff member; ``post`` sends the form token and the
    same-origin headers a browser sends (``csrf=False`` leaves the token out)."""

    def __init__(self, client: TestClient, staff: Staff, csrf_token: str, origin: str) -> None:
        self.client, self.staff, self.csrf_token, self.origin = client, staff, csrf_token, origin

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, follow_redirects=False, **kwargs)

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf_token
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        headers.update(kwargs.pop("headers", {}))
        return self.client.post(url, data=form, headers=headers, follow_redirects=False, **kwargs)


def sign_in(app: FastAPI, settings: Settings, engine: sa.Engine, staff: Staff) -> StaffClient:
    assert staff.id is not None
    token, row = sessions.start(engine, staff.id, lifetimes(settings))
    client = TestClient(app, base_url=settings.base_url)
    client.cookies.set(cookie_name(settings), token)
    return StaffClient(client, staff, row.csrf_token, settings.base_url)


@pytest.fixture
def as_role(
    admin_app: FastAPI, admin_settings: Settings, admin_engine: sa.Engine
) -> Callable[[Role], StaffClient]:
    """``as_role(Role.editor)``: a client signed in as a new staff member of that role."""
    made: dict[Role, StaffClient] = {}

    def make(role: Role) -> StaffClient:
        if role not in made:
            staff = add_staff(admin_engine, role)
            made[role] = sign_in(admin_app, admin_settings, admin_engine, staff)
        return made[role]

    return make


@pytest.fixture
def anonymous(admin_app: FastAPI, admin_settings: Settings) -> TestClient:
    return TestClient(admin_app, base_url=admin_settings.base_url)
