"""Posts and sources in Debian's Chromium, on SQLite and PostgreSQL: an officer finds a post and
sees the issue it is in; syncs a source (a WordPress-shaped site on loopback) and sees its new
posts; writes a Markdown post with a preview and saves it. axe-core on every page: no serious or
critical violation. Screenshots at 1280 and 375 px into ``$NEWSLETTER_SCREENSHOTS`` when set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.models import Role
from tests.admin.conftest import SECRET
from tests.admin.test_browser_workflow import Axe, _sign_in, _staff, shoot
from tests.fake_site import FakePost, FakeSite, Serving
from tests.live import serving
from tests.source_kit import set_sources, wp_source
from tests.subscribers.conftest import BROWSER_MARKS

pytestmark = BROWSER_MARKS


@pytest.fixture
def wp(project: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    fake = FakeSite(
        posts=[FakePost(id=9, slug="wp-news", title="News from the website", content="<p>W</p>")]
    )
    with Serving(fake):
        monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "0")
        yield fake


@pytest.fixture
def admin_settings(project: Any, monkeypatch: pytest.MonkeyPatch, wp: FakeSite) -> Settings:
    set_sources(monkeypatch, {"name": "markdown", "type": "markdown"}, wp_source(wp, "website"))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_SIGNUP_RATE_LIMIT", "off")
    return Settings()


def test_an_officer_finds_syncs_and_writes_posts(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,
) -> None:
    _staff(admin_engine, "officer@example.org", "Dara Officer", Role.editor)
    axe = Axe()

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        return Settings()

    with serving(settings_for, admin_engine) as (base, settings):
        page = _sign_in(browser, base, "officer@example.org", axe)

        # find a post and see which issue it appears in
        page.get_by_role("link", name="Posts", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/posts$"))
        axe.check(page)
        shoot(page, "posts")
        page.get_by_label("Title or slug").fill("forced marriage")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"query=forced"))
        page.get_by_role("link", name=re.compile("forced marriage", re.I)).first.click()
        page.wait_for_url(re.compile(r"/admin/posts/forced-marriage-cambodia-china$"))
        in_issues = page.get_by_role("region", name="In issues")
        in_issues.get_by_role("link", name="2016-q4").wait_for()
        page.frame_locator("iframe.post-frame").get_by_text(re.compile("Cambodia")).first.wait_for()
        axe.check(page)
        shoot(page, "post")

        # sync the website now and see its new post
        page.get_by_role("link", name="Sources", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/sources$"))
        axe.check(page)
        page.get_by_role("button", name="Sync website now").click()
        page.get_by_text(re.compile(r"Synced: 1 new")).wait_for(timeout=20_000)
        shoot(page, "sources")
        page.get_by_role("link", name="website", exact=True).click()
        page.get_by_role("link", name="News from the website").wait_for()

        # write a Markdown post, preview it, save it
        page.goto(f"{base}/admin/posts/new")
        axe.check(page)
        page.get_by_label("Title", exact=True).fill("Survivors lead a new support network")
        page.get_by_label(re.compile("^Date")).fill("2016-12-05")
        page.get_by_label("Address of the post on the website").fill(
            "https://mpat.example.org/2016/12/support-network/"
        )
        page.get_by_label(re.compile("^Categories")).fill("updates")
        page.get_by_label("Text (Markdown)").fill("Survivors in **three countries** now run it.")
        page.get_by_role("button", name="Preview").click()
        frame = page.frame_locator("iframe[title='Preview of the post']")
        frame.locator("strong", has_text="three countries").wait_for()
        shoot(page, "post-form")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"/admin/posts/survivors-lead-a-new-support-network$"))
        page.get_by_role("heading", name="Survivors lead a new support network").wait_for()
        page.get_by_role("region", name="In issues").get_by_role("link", name="2016-q4").wait_for()
        assert (settings.content_dir / "survivors-lead-a-new-support-network.md").is_file()
