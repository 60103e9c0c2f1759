"""The home page in Debian's Chromium: a viewer signs in and lands on it, sees a warning, the
last send, the counts and the growth chart; axe-core finds no serious or critical violation.
Screenshots at 1280 and 375 px go to ``$NEWSLETTER_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.models import Role, delivery_table, send_table, status_event_table, utcnow
from newsletter.staff import accounts
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.admin.test_browser_workflow import Axe, shoot
from tests.live import serving
from tests.subscribers.conftest import BROWSER_MARKS

pytestmark = BROWSER_MARKS
PASSWORD = "green meadow lantern 2032"


def _history(engine: sa.Engine) -> None:
    """Twelve subscribers, a sent issue with one uncertain delivery, departures over weeks."""
    with Session(engine) as session:
        people = [
            subscribers.add(session, f"reader{i}@example.net", "", confirmed=True,
                            consent=ConsentInfo("test"))
            for i in range(12)
        ]  # fmt: skip
        session.commit()
        ids = [p.id for p in people]
    now = utcnow()
    with engine.begin() as connection:
        for week, person in enumerate(ids[:8]):
            connection.execute(
                status_event_table.insert().values(
                    subscriber_id=person, at=now - timedelta(weeks=week * 5), from_status="pending",
                    to_status="confirmed", reason="test",
                )
            )  # fmt: skip
        for week, (person, to) in enumerate(
            zip(ids[8:11], ["unsubscribed", "bounced", "complained"], strict=True)
        ):
            connection.execute(
                status_event_table.insert().values(
                    subscriber_id=person, at=now - timedelta(weeks=week * 7 + 2),
                    from_status="confirmed", to_status=to, reason="test",
                )
            )  # fmt: skip
        send_id = connection.execute(
            send_table.insert().values(
                issue_slug="2016-q2", kind="live", live_slug="2016-q2", status="finished",
                content_hash="0" * 64, subject="Second quarter", html="<p>x</p>", text="x",
                audience=12, started_at=now - timedelta(days=3), transport="outbox",
                started_by="cli",
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        for i, person in enumerate(ids):
            connection.execute(
                delivery_table.insert().values(
                    send_id=send_id, subscriber_id=person, updated_at=now,
                    status="uncertain" if i == 0 else "accepted",
                )
            )  # fmt: skip


def test_the_home_page_in_the_browser(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,
) -> None:
    _history(admin_engine)
    staff = accounts.add(admin_engine, "viewer@example.org", role=Role.viewer, name="Val Viewer")
    assert staff.id is not None
    accounts.set_password(admin_engine, staff.id, PASSWORD)
    axe = Axe()

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        return Settings()

    with serving(settings_for, admin_engine, lifespan=False) as (base, _):
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{base}/admin")
        assert "/admin/login" in page.url
        page.get_by_label("Email address").fill("viewer@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/admin/?$"))
        assert page.get_by_role("heading", level=1).inner_text() == "Home"
        warning = page.locator("#warning-uncertain-2016-q2")
        assert "1 uncertain delivery" in warning.inner_text()
        assert page.get_by_role("link", name="2016-q2").count() == 1  # the last send
        assert page.locator(".tile", has_text="confirmed").locator("dd").inner_text() == "12"
        chart = page.get_by_role("img", name=re.compile("Confirmations and departures"))
        assert chart.count() == 1
        assert chart.locator("rect").count() >= 8  # a bar segment per week with events
        axe.check(page)
        shoot(page, "home")
        page.get_by_text("The chart's numbers as a table").click()
        table = page.get_by_role("table", name="Status changes per week, by new status")
        assert table.is_visible()
        Axe().check(page)  # again with the table shown
        assert page.locator('nav a[aria-current="page"]').inner_text() == "Home"
        page.get_by_role("link", name="Issues", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/issues$"))
        page.get_by_role("link", name=re.compile("Newsletter$")).click()  # the brand: home
        page.wait_for_url(re.compile(r"/admin/$"))
