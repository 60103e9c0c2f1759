"""Every page as a keyboard user meets it, in headless Chromium (Debian's /usr/bin/chromium):
each control has a label or a name, Tab reaches every control in order, and the focus ring
contrasts 3:1 with the colours beside it (WCAG 2.2, 1.4.11 and 2.4.7), at a desktop and a phone
width with no sideways scrolling."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.issues.build import build_issue
from newsletter.models import Subscriber
from newsletter.sending.ledger import start_live
from newsletter.sending.sender import content_of
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.tokens import Tokens
from tests.subscribers.conftest import BROWSER_MARKS, live_server

pytestmark = BROWSER_MARKS

# What the page says about its controls, and about the control that has the focus (its place
# among them, its outline, the colour beside that outline), read in the page.
_LIST = """
  const shown = (el) => el.getClientRects().length > 0 && !el.closest('[aria-hidden=true]');
  const controls = [...document.querySelectorAll('a[href], button, input, select, textarea')]
    .filter(el => el.type !== 'hidden' && el.tabIndex >= 0 && shown(el));
"""
CONTROLS = (
    """() => {"""
    + _LIST
    + """
  const name = (el) => (el.labels && el.labels.length ? [...el.labels].map(l => l.textContent)
      .join(' ') : el.getAttribute('aria-label') || el.textContent
      || [...el.querySelectorAll('img[alt]')].map(i => i.alt).join(' ')).trim();
  return controls.map(el => ({tag: el.tagName.toLowerCase(), name: name(el),
                              href: el.getAttribute('href') || ''}));
}"""
)
FOCUSED = (
    """() => {"""
    + _LIST
    + """
  const el = document.activeElement, style = getComputedStyle(el);
  let bg = 'rgba(0, 0, 0, 0)', up = el.parentElement;
  while (up && /rgba\\(.*, 0\\)|transparent/.test(bg)) {
    bg = getComputedStyle(up).backgroundColor; up = up.parentElement;
  }
  return {at: controls.indexOf(el), tag: el.tagName.toLowerCase(), ours: !!el.closest(
          '#site-header, main'), style: style.outlineStyle, width: parseFloat(style.outlineWidth),
          offset: parseFloat(style.outlineOffset), ring: style.outlineColor, beside: bg};
}"""
)


def _luminance(colour: str) -> float:
    red, green, blue = (int(float(v)) for v in re.findall(r"[\d.]+", colour)[:3])

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two CSS ``rgb()`` colours."""
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula_matches_wcag():
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(118, 118, 118)", "rgb(255, 255, 255)"), 2) == 4.54  # #767676
    assert contrast("rgb(240, 180, 41)", "rgb(255, 255, 255)") < 3  # the old ring on white


@pytest.fixture
def site(web_settings, synced) -> Iterator[tuple[str, dict[str, Callable[[Any], None]]]]:
    """A live server with a sent issue, a pending and a confirmed subscriber; the pages to visit,
    each as the steps that bring a browser page there."""
    start_live(synced, content_of(build_issue(web_settings, synced, "2016-q3").compiled))
    consent = subscribers.ConsentInfo(source="test", text_version="1")
    with session_scope(synced) as session:
        for address, confirmed in (("pat@example.org", False), ("cy@example.org", True)):
            subscribers.add(session, address, "", confirmed=confirmed, consent=consent)
    with Session(synced) as session:
        keys = dict(session.exec(select(Subscriber.email, Subscriber.key)).all())
    tokens = Tokens.from_settings(web_settings)
    confirm = tokens.confirm_token(keys["pat@example.org"])
    leave = f"/unsubscribe/{tokens.unsubscribe_token(keys['cy@example.org'])}"
    with live_server(lambda base: Settings(base_url=base), synced) as (base, _settings):

        def go(path: str) -> Callable[[Any], None]:
            return lambda page: page.goto(f"{base}{path}") and None

        def wrong_address(page: Any) -> None:
            page.goto(f"{base}/subscribe")
            page.get_by_label("Email address").fill("sok@example")
            page.get_by_role("button", name="Subscribe").click()
            page.wait_for_load_state()

        def unsubscribed(page: Any) -> None:
            page.goto(f"{base}{leave}")
            page.get_by_role("button", name="Unsubscribe").click()
            page.wait_for_load_state()

        pages = {
            "home": go("/"),
            "subscribe": go("/subscribe"),
            "subscribe-error": wrong_address,
            "thanks": go("/subscribe/thanks"),
            "confirmed": go(f"/confirm/{confirm}"),
            "unsubscribe": go(leave),
            "unsubscribed": unsubscribed,
            "archive": go("/archive"),
            "archive-issue": go("/archive/2016-q3"),
            "not-found": go("/nowhere"),
            "bad-link": go("/confirm/not-a-token"),
        }
        yield base, pages


def test_every_page_has_names_keyboard_access_and_a_visible_focus_ring(site, browser):
    _base, pages = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    for name, arrive in pages.items():
        page = context.new_page()
        arrive(page)
        controls = page.evaluate(CONTROLS)
        assert controls, name
        unnamed = [c for c in controls if not c["name"]]
        assert unnamed == [], f"{name}: controls without a label or name: {unnamed}"
        reached = []
        for _ in controls:
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED)
            reached.append(focused["at"])
            if focused["ours"] or name != "archive-issue":  # an email's links: the browser's ring
                ring = f"{name}: {focused}"
                assert focused["style"] not in ("none", "hidden") and focused["width"] >= 2, ring
                assert focused["offset"] >= 0, ring  # the ring lies on the colour beside it
                assert contrast(focused["ring"], focused["beside"]) >= 3, ring
        assert reached == list(range(len(controls))), f"{name}: {reached} {controls}"
        page.close()
    context.close()


def test_every_page_fits_a_phone_and_a_desktop(site, browser):
    _base, pages = site
    for width in (375, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800})
        for name, arrive in pages.items():
            page = context.new_page()
            arrive(page)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name}: sideways scrolling at {width} px"
            header = page.locator("#site-header").bounding_box(timeout=5000)
            assert header is not None and header["y"] == 0 and header["width"] == width, name
            assert page.get_by_role("link", name="Subscribe", exact=True).count() >= 1, name
            page.close()
        context.close()
