"""The subscriber pages in Debian's Chromium, as an admin uses them (SQLite; PostgreSQL in CI).

The admin imports a CSV file with one bad line (refused with the line number, nothing written),
fixes it and imports it (the progress polled by htmx), finds a person, reads their history,
erases them, and the address is then refused when added again and at signup (suppressed). axe-core on every
page: no serious or critical violation. Screenshots at 1280 and 375 px go to
``$NEWSLETTER_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.models import Role
from newsletter.staff import accounts
from newsletter.subscribers import store
from newsletter.subscribers.store import ConsentInfo
from tests.admin.test_browser_workflow import Axe, shoot
from tests.live import serving
from tests.subscribers.conftest import BROWSER_MARKS, Outbox, deliver

pytestmark = BROWSER_MARKS
EMAIL, PASSWORD = "admin@example.org", "copper kettle meadow 2213"
HEADER = "Email Address;First Name;Last Name\n"
BAD = HEADER + "ann@example.org;Ann;Lee\nbo-at-example.org;Bo;Ek\ncy@example.org;Cy;Ng\n"
FIXED = BAD.replace("bo-at-example.org", "bo@example.org")


def test_import_find_read_and_erase_in_the_browser(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: Any,
    browser: Any,
    tmp_path: Path,
) -> None:
    staff = accounts.add(admin_engine, EMAIL, role=Role.admin, name="Rosa Admin")
    assert staff.id is not None
    accounts.set_password(admin_engine, staff.id, PASSWORD)
    with Session(admin_engine) as session:
        for i in range(3):
            store.add(session, f"reader{i}@example.net", f"Reader {i}", confirmed=True,
                      consent=ConsentInfo("signup form"))  # fmt: skip
        session.commit()
    bad, fixed = tmp_path / "people.csv", tmp_path / "people-fixed.csv"
    bad.write_text(BAD)
    fixed.write_text(FIXED)
    axe = Axe()

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        return Settings()

    with serving(settings_for, admin_engine, lifespan=False) as (base, live_settings):
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{base}/admin/subscribers")
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/admin/subscribers$"))
        axe.check(page)
        shoot(page, "subscribers")

        # the import: a bad line is refused with its line number, nothing written
        page.get_by_role("link", name="Import a CSV file").click()
        axe.check(page)
        page.get_by_label(re.compile("^CSV file")).set_input_files(str(bad))
        page.get_by_role("button", name="Check the file").click()
        page.get_by_text(re.compile(r"line 3: 'bo-at-example.org' is not a valid")).wait_for()
        page.get_by_text(re.compile("Nothing was imported")).wait_for()
        assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
        axe.check(page)
        shoot(page, "subscribers-import-refused")
        with Session(admin_engine) as session:
            assert store.find(session, "ann@example.org") is None

        # fixed: the columns detected, the first rows shown, then the import in the background
        page.get_by_label(re.compile("^CSV file")).set_input_files(str(fixed))
        page.get_by_role("button", name="Check the file").click()
        page.get_by_text(re.compile("separated by semicolons")).wait_for()
        page.get_by_role("cell", name="Bo Ek").wait_for()
        shoot(page, "subscribers-import-checked")
        page.get_by_role("button", name="Import 3 addresses").click()
        page.get_by_text(re.compile("Done: 3 imported")).wait_for()
        axe.check(page)
        shoot(page, "subscribers-import-done")

        # find a person and read their history
        page.goto(f"{base}/admin/subscribers")
        page.get_by_label("Address or name").fill("bo@")
        page.get_by_role("button", name="Show").click()
        page.get_by_role("link", name="bo@example.org").click()
        page.get_by_role("heading", name="Status history").wait_for()
        page.get_by_text("import: dashboard").first.wait_for()
        axe.check(page)
        shoot(page, "subscriber")

        # erase: the typed address must match
        page.get_by_label("Type the address to confirm").fill("bo@example.org")
        page.get_by_role("button", name="Erase this person").click()
        page.get_by_text(re.compile("Erased. The address is suppressed")).wait_for()
        with Session(admin_engine) as session:
            assert store.find(session, "bo@example.org") is None
            assert store.suppressed(session, "bo@example.org")

        # and the address is refused when added again
        page.get_by_role("link", name="Add one address").click()
        page.get_by_label("Email address").fill("bo@example.org")
        page.get_by_role("button", name="Add").click()
        page.get_by_text(re.compile("was erased and is suppressed")).wait_for()
        axe.check(page)
        shoot(page, "subscriber-add-refused")

        # and refused at signup: a visitor who types it on the public form gets the answer
        # everyone gets (it tells nobody who was erased), and nothing is written or sent
        visitor = browser.new_context(viewport={"width": 375, "height": 800}).new_page()
        for address in ("Bo@Example.org", "dee@example.org"):  # erased; new (a control)
            visitor.goto(f"{base}/subscribe")
            visitor.get_by_label("Email address").fill(address)
            visitor.get_by_role("button", name="Subscribe").click()
            visitor.wait_for_load_state()
            assert visitor.get_by_role("heading", level=1).inner_text() == "Check your inbox"
        visitor.context.close()
        assert deliver(live_settings, admin_engine).sent == 1  # what the email worker does
        assert len(Outbox(live_settings.outbox_dir).to("dee@example.org")) == 1
        with Session(admin_engine) as session:
            assert store.find(session, "bo@example.org") is None
            assert store.suppressed(session, "bo@example.org")
        assert Outbox(live_settings.outbox_dir).to("bo@example.org") == []
        assert Outbox(live_settings.outbox_dir).to("Bo@Example.org") == []

        # Bo writes to ask to come back: the admin adds them over the erasure, with the consent
        page.goto(f"{base}/admin/subscribers/add")
        page.get_by_label("Email address").fill("bo@example.org")
        page.get_by_role("button", name="Add").click()
        page.get_by_label(re.compile("asked to come back after being erased")).check()
        page.get_by_label("Where and how they agreed").fill("asked by email, 29 November")
        axe.check(page)
        shoot(page, "subscriber-add-over-erasure")
        page.get_by_role("button", name="Add").click()
        page.get_by_text(re.compile("confirmation email")).first.wait_for()
        with Session(admin_engine) as session:
            back = store.find(session, "bo@example.org")
            assert back is not None and back.status == "pending"
            assert not store.suppressed(session, "bo@example.org")
        assert deliver(live_settings, admin_engine).sent == 1
        assert len(Outbox(live_settings.outbox_dir).to("bo@example.org")) == 1
