"""The signup form as a person uses it, in headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

from newsletter.config import Settings
from tests.subscribers.conftest import BROWSER_MARKS, deliver, live_server, status_of

pytestmark = BROWSER_MARKS


def test_person_signs_up_and_corrects_a_typo(web_settings, store, outbox, browser):
    with live_server(lambda base: Settings(base_url=base), store) as (base, settings):
        page = browser.new_page(viewport={"width": 375, "height": 800}, java_script_enabled=False)
        page.goto(f"{base}/subscribe")
        page.get_by_label("Email address").fill("sok@example")  # passes the browser, not us
        page.get_by_label("Name").fill("Sok Chea")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        alert = page.get_by_role("alert")
        assert "not a valid email address" in alert.inner_text()
        assert page.get_by_label("Name").input_value() == "Sok Chea"
        assert status_of(store, "sok@example") is None

        page.get_by_label("Email address").fill("sok@example.org")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
        assert status_of(store, "sok@example.org") == "pending"
        assert deliver(settings, store).sent == 1  # what the email worker does
        assert len(outbox.to("sok@example.org")) == 1


def test_subscribe_page_fits_a_phone_and_a_desktop(web_settings, store, browser, tmp_path):
    with live_server(lambda base: Settings(base_url=base), store) as (base, _settings):
        for width in (375, 1000):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{base}/subscribe")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"horizontal scrolling at {width} px"
            button = page.get_by_role("button", name="Subscribe").bounding_box()
            assert button is not None and button["height"] >= 44  # a comfortable tap target
            page.screenshot(path=tmp_path / f"subscribe-{width}.png", full_page=True)
            assert (tmp_path / f"subscribe-{width}.png").stat().st_size > 0
            page.close()
