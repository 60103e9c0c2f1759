"""Staff accounts in Debian's Chromium, on SQLite and PostgreSQL: an admin invites a colleague,
who opens the emailed link, sets a password and sets up two-factor sign-in (the code computed
here with pyotp from the key shown on the page), signs out and back in with password and code.
axe-core on /admin/staff, /admin/account/two-factor (with its QR code) and /admin/settings: no
serious or critical violation. Screenshots at 1280 and 375 px go to ``$NEWSLETTER_SCREENSHOTS``.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.models import Role, utcnow
from newsletter.staff import accounts
from tests.admin.test_browser_workflow import Axe, shoot
from tests.live import serving
from tests.subscribers.conftest import BROWSER_MARKS, Outbox

pytestmark = BROWSER_MARKS
ADMIN, ADMIN_PASSWORD = "chief@example.org", "quiet river stone 2041"
NEW, NEW_PASSWORD = "nia@example.org", "plum orchard lantern 1987"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/admin/link/[A-Za-z0-9_-]+")


def _sign_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_invite_link_password_and_two_factor_in_the_browser(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,
) -> None:
    chief = accounts.add(admin_engine, ADMIN, role=Role.admin, name="Kai Chief")
    assert chief.id is not None
    accounts.set_password(admin_engine, chief.id, ADMIN_PASSWORD)
    axe = Axe()

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        monkeypatch.setenv("NEWSLETTER_EMAIL_WORKER_IN_SERVER", "true")  # it sends the link
        return Settings()

    with serving(settings_for, admin_engine) as (base, settings):
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _sign_in(page, base, ADMIN, ADMIN_PASSWORD)
        page.wait_for_url(re.compile(r"/admin/issues$"))
        page.get_by_role("link", name="Staff", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/staff$"))
        page.get_by_label("Email address").fill(NEW)
        page.get_by_label("Name").fill("Nia Writer")
        page.get_by_label("Role", exact=True).select_option("editor")
        axe.check(page)
        page.get_by_role("button", name="Invite").click()
        page.get_by_text("The sign-in link is being emailed").wait_for()
        shown = page.get_by_label("Sign-in link").input_value()
        axe.check(page)
        shoot(page, "staff-link")
        deadline = time.monotonic() + 30  # the server's email worker, woken by the invitation
        while not (mails := Outbox(settings.outbox_dir).to(NEW)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(mails) == 1
        emailed = LINK.search(Outbox.text(mails[0]))
        assert emailed is not None and emailed.group(0) == shown

        page.get_by_role("link", name="Settings", exact=True).click()
        page.wait_for_url(re.compile(r"/admin/settings$"))
        assert "set" in page.get_by_role("row", name=re.compile("secret_key")).inner_text()
        axe.check(page)
        shoot(page, "settings")

        # the colleague, in their own browser
        nia = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        nia.goto(emailed.group(0))
        nia.get_by_label("New password").fill(NEW_PASSWORD)
        nia.get_by_label("The same password again").fill(NEW_PASSWORD)
        nia.get_by_role("button", name="Set password and sign in").click()
        nia.wait_for_url(re.compile(r"/admin/issues$"))
        nia.get_by_role("link", name="Your account").click()
        nia.get_by_role("link", name="Set up two-factor sign-in").click()
        nia.wait_for_url(re.compile(r"/admin/account/two-factor$"))
        nia.get_by_role("img", name="QR code for your authenticator app").wait_for()
        axe.check(nia)
        shoot(nia, "two-factor-setup")
        secret = nia.locator("code.secret").inner_text().replace(" ", "")
        nia.get_by_label("The 6-digit code the app now shows").fill(pyotp.TOTP(secret).now())
        nia.get_by_role("button", name="Turn on two-factor sign-in").click()
        nia.get_by_role("heading", name="Your recovery codes").wait_for()
        assert nia.locator("ul.codes code").count() == 10
        axe.check(nia)
        shoot(nia, "two-factor-codes")
        nia.get_by_role("button", name="Sign out", exact=True).click()
        nia.wait_for_url(re.compile(r"/admin/login\?signed_out=1$"))

        _sign_in(nia, base, NEW, NEW_PASSWORD)
        nia.wait_for_url(re.compile(r"/admin/login/code"))
        axe.check(nia)
        shoot(nia, "login-code")
        later = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))  # not the set-up code
        nia.get_by_label("Code").fill(later)
        nia.get_by_role("button", name="Sign in").click()
        nia.wait_for_url(re.compile(r"/admin/issues$"))
        nia.goto(f"{base}/admin/account")
        nia.get_by_text("On: you sign in with your password and a code").wait_for()
        axe.check(nia)
        shoot(nia, "account-two-factor-on")
        page.goto(f"{base}/admin/staff")
        assert "two-factor" in page.get_by_role("row", name=re.compile(NEW)).inner_text()
        shoot(page, "staff")
