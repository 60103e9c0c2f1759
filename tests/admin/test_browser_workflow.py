"""The whole issue workflow in Debian's Chromium, as staff do it, on SQLite and PostgreSQL.

An officer signs in, starts the next quarter, edits the intro and sees the preview change,
pins and excludes posts, saves, sends a [TEST] proof (it arrives in the outbox); with
``require_approval`` on, their own approval is refused and another publisher approves; the
officer schedules it, the in-server scheduler sends it to the confirmed subscribers (nobody runs
send-due), and the report shows its figures and chart. Every admin page passed on the way gets
an axe-core run: no serious or critical violation. Screenshots at 1280 and 375 px are written to
``$NEWSLETTER_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.issues.build import sync_markdown
from newsletter.models import Role, Send, SendKind, SendStatus
from newsletter.staff import accounts
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.live import serving
from tests.subscribers.conftest import BROWSER_MARKS, Outbox

pytestmark = BROWSER_MARKS
PASSWORD = {
    "officer@example.org": "plum orchard lantern 1987",
    "boss@example.org": "quiet river stone 2041",
}
SHOTS = os.environ.get("NEWSLETTER_SCREENSHOTS", "")
POSTS = {  # three posts of the first quarter of 2017, for the new issue to pick from
    "research-q1": ("research", "A study of recruitment through social media", "2017-01-20"),
    "updates-q1": ("updates", "Regional meeting on safe migration", "2017-02-14"),
    "events-q1": ("events", "Training for border officials in March", "2017-03-02"),
}


class Axe:
    """axe-core (from axe-playwright-python) on each page once; serious and critical fail."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe as Runner

        self.runner, self.seen = Runner(), set[str]()

    def check(self, page: Any) -> None:
        path = re.sub(r"\?.*", "", page.url.split("//", 1)[1].split("/", 1)[1])
        if path in self.seen:
            return
        self.seen.add(path)
        violations = self.runner.run(page).response["violations"]
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"/{path}: {bad}"


def shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _write_posts(content: Path) -> None:
    for slug, (category, title, day) in POSTS.items():
        (content / f"{slug}.md").write_text(
            f'---\ntitle: "{title}"\ndate: {day}T09:00:00+07:00\ncategories: [{category}]\n'
            f'url: https://mpat.example.org/{slug}/\nsummary: "{title}, in brief."\n---\n\n'
            f"{title}: what happened and what comes next.\n"
        )


def _staff(engine: sa.Engine, email: str, name: str, role: Role) -> None:
    staff = accounts.add(engine, email, role=role, name=name)
    assert staff.id is not None
    accounts.set_password(engine, staff.id, PASSWORD[email])


def _sign_in(browser: Any, base: str, email: str, axe: Axe) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/admin/issues")
    assert "/admin/login" in page.url  # signed out: to the sign-in page, never a page
    axe.check(page)
    shoot(page, "login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD[email])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/issues$"))
    return page


def _next_minute(zone: Any, margin: float = 4) -> datetime:
    now = datetime.now(zone)
    at = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at if (at - now).total_seconds() >= margin else at + timedelta(minutes=1)


def test_from_a_new_quarter_to_a_sent_issue_in_the_browser(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,
) -> None:
    _write_posts(admin_settings.content_dir)
    sync_markdown(admin_settings, admin_engine)
    _staff(admin_engine, "officer@example.org", "Dara Officer", Role.publisher)
    _staff(admin_engine, "boss@example.org", "Sam Manager", Role.publisher)
    with Session(admin_engine) as session:
        for i in range(3):
            consent = ConsentInfo(source="test")
            subscribers.add(session, f"reader{i}@example.net", "", confirmed=True, consent=consent)
        session.commit()
    for name, value in {"REQUIRE_APPROVAL": "true", "SCHEDULER_IN_SERVER": "true"}.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    monkeypatch.setenv("NEWSLETTER_SCHEDULER_INTERVAL", "1")
    outbox = Outbox(admin_settings.outbox_dir)
    axe = Axe()

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        return Settings()

    with serving(settings_for, admin_engine) as (base, settings):
        page = _sign_in(browser, base, "officer@example.org", axe)
        axe.check(page)
        shoot(page, "issues")

        # start the next quarter: 2016-q4 is the newest, so 2017-q1
        page.get_by_role("button", name="Start next quarter").click()
        page.wait_for_url(re.compile(r"/admin/issues/2017-q1$"))
        assert (settings.issues_dir / "2017-q1.toml").is_file()
        frame = page.frame_locator("iframe[title^='The email 2017-q1']")
        frame.get_by_role("link", name="Regional meeting on safe migration").wait_for()
        axe.check(page)

        # the intro: typed, and the preview follows without a save
        intro = page.get_by_label("Introduction (Markdown)")
        intro.fill("Dear partners,\n\nA new year of work against trafficking in the region.")
        frame = page.frame_locator("iframe[title^='The email 2017-q1']")
        frame.get_by_text("A new year of work against trafficking in the region.").wait_for()

        # exclude the events post from "News and events"; pin the news post into "Research"
        page.get_by_role("button", name="Exclude Training for border officials in March").click()
        page.get_by_text("no: excluded").wait_for()
        research = page.get_by_role("group", name=re.compile("Research"))
        search = research.get_by_label("Find any post to pin here (title or slug)")
        search.fill("safe migration")
        search.press("Enter")  # searches (admin.js), does not press the form's first button
        research.get_by_role("button", name="Pin here Regional meeting on safe migration").click()
        research.get_by_text("pinned", exact=True).wait_for()
        shoot(page, "editor")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text(re.compile("Saved")).first.wait_for()
        text = (settings.issues_dir / "2017-q1.toml").read_text()
        assert "A new year of work against trafficking" in text
        assert re.search(r'pin = \["updates-q1"\]', text), text
        assert re.search(r'exclude = \["events-q1"\]', text), text

        # a [TEST] proof to the officer
        page.get_by_role("link", name="Proofs, approval and sending").click()
        page.get_by_role("button", name="Send proof").click()
        page.get_by_text(re.compile("officer@example.org")).first.wait_for()
        proofs = outbox.to("officer@example.org")
        assert len(proofs) == 1 and str(proofs[0]["Subject"]).startswith("[TEST]")
        axe.check(page)

        # approval: not by the person who made the last edit; then by another publisher
        page.get_by_role("button", name="Approve this version").click()
        page.get_by_text(re.compile("made the last edit|last change")).first.wait_for()
        boss = _sign_in(browser, base, "boss@example.org", axe)
        boss.goto(f"{base}/admin/issues/2017-q1/send")
        boss.get_by_role("button", name="Approve this version").click()
        boss.get_by_text(re.compile("Approved by boss@example.org")).first.wait_for()
        shoot(boss, "send")

        # schedule in the organisation's time zone; the server sends it when it is due
        page.reload()
        at = _next_minute(settings.zone)
        page.get_by_label(re.compile("^Send at, in")).fill(at.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Schedule", exact=True).click()
        page.get_by_text(re.compile("UTC")).first.wait_for()
        assert "send_at = " in (settings.issues_dir / "2017-q1.toml").read_text()
        deadline = time.monotonic() + 120
        while len([m for m in outbox.messages() if "reader" in str(m["To"])]) < 3:
            assert time.monotonic() < deadline, "the in-server scheduler did not send it"
            time.sleep(0.5)
        assert datetime.now(settings.zone) >= at  # not before its time
        with Session(admin_engine) as session:
            [send] = session.exec(select(Send).where(Send.kind == SendKind.live)).all()
        assert send.status == SendStatus.finished and send.started_by == "scheduler"
        readers = [str(m["To"]) for m in outbox.messages() if "reader" in str(m["To"])]
        assert sorted(readers) == [f"reader{i}@example.net" for i in range(3)]  # once each

        # the report, with its chart, readable as a table too
        page.goto(f"{base}/admin/issues/2017-q1/report")
        assert page.locator("svg.chart").count() == 1
        page.get_by_text("Delivery events over time").wait_for()
        axe.check(page)
        shoot(page, "report")
        for path in ("/admin/issues/2017-q1/history", "/admin/activity", "/admin/account"):
            page.goto(f"{base}{path}")
            axe.check(page)
            shoot(page, path.rsplit("/", 1)[1])
