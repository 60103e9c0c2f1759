"""The sample template's layout, checked on the HTML that `newsletter build` writes.

Footer size and colour, image widths that Outlook desktop keeps (no width="100%"), images at
full width on phones, the post image and heading sizes of `display = "full"`, the optional logo.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from newsletter.config import Settings
from tests.conftest import run_cli

CHROMIUM = Path("/usr/bin/chromium")
LOGO = "https://mpat.example.org/logo.png"
FOOTER_GREY = "#52606d"


def build(project: Path, slug: str) -> lxml_html.HtmlElement:
    code, out, err = run_cli("build", slug)
    assert code == 0, out + err
    return lxml_html.fromstring((project / "build" / slug / "index.html").read_bytes())


def style_of(element: lxml_html.HtmlElement) -> dict[str, str]:
    pairs = (part.split(":", 1) for part in element.get("style", "").split(";") if ":" in part)
    return {key.strip().lower(): value.strip().lower() for key, value in pairs}


def font_px(element: lxml_html.HtmlElement) -> float:
    return float(re.sub(r"px$", "", style_of(element)["font-size"]))


@pytest.mark.parametrize("slug", ["2016-q3", "2016-q4"])
def test_footer_text_is_small_and_grey(project: Path, synced, slug: str):
    page = build(project, slug)
    (cell,) = page.xpath("//td[contains(concat(' ', @class, ' '), ' footer ')]")
    texts = cell.xpath(".//div | .//p | .//a")
    assert texts
    for element in texts:
        style = style_of(element)
        if "font-size" in style:
            assert font_px(element) <= 12, (element.tag, style)
        if "color" in style:
            assert style["color"] == FOOTER_GREY, (element.tag, style)
    assert style_of(cell.xpath(".//div")[0])["font-size"] == "12px"


@pytest.mark.parametrize("slug", ["2016-q3", "2016-q4"])
def test_no_image_has_a_percentage_width_attribute(project: Path, synced, slug: str):
    page = build(project, slug)
    images = page.xpath("//img")
    assert images
    for image in images:
        assert image.get("width", "").isdigit(), (image.get("alt"), image.get("width"))
        # fluid-on-mobile: MJML's class that makes the image full width on phones
        assert "mj-full-width-mobile" in image.getparent().getparent().get("class", ""), image.get(
            "alt"
        )


def test_full_display_keeps_the_post_image_and_smaller_headings(project: Path, synced):
    page = build(project, "2016-q4")  # its first section has display = "full"
    alts = [image.get("alt") for image in page.xpath("//img")]
    assert "Cover of the MPAT report on forced marriage between Cambodia and China" in alts
    titles = page.xpath("//td[contains(@class, 'post-title')]//h3")
    title_size = min(font_px(title) for title in titles)
    headings = page.xpath(
        "//td[contains(@class, 'post-body')]//*[self::h1 or self::h2 or self::h3]"
    )
    assert headings, "the full post has headings"
    for heading in headings:
        assert font_px(heading) < title_size, (heading.text_content(), font_px(heading))


def test_logo_shown_only_when_set(project: Path, synced, monkeypatch: pytest.MonkeyPatch):
    name = Settings().organisation_name
    page = build(project, "2016-q3")
    assert not page.xpath("//img[@alt=$name]", name=name)
    assert not [src for src in page.xpath("//img/@src") if "logo" in src]
    monkeypatch.setenv("NEWSLETTER_LOGO_URL", LOGO)
    page = build(project, "2016-q3")
    (logo,) = page.xpath("//img[@src=$src]", src=LOGO)
    assert logo.get("alt") == name
    assert logo.get("width", "").isdigit()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_images_full_width_and_footer_small_on_a_phone(project: Path, synced):
    from playwright.sync_api import sync_playwright

    build(project, "2016-q3")
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675"></svg>'
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.route(
                "http*://**",
                lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=svg),
            )
            page.goto((project / "build" / "2016-q3" / "index.html").as_uri())
            widths = page.eval_on_selector_all(
                "img", "els => els.map(e => e.getBoundingClientRect().width)"
            )
            footer = page.eval_on_selector(
                "td.footer p", "e => [getComputedStyle(e).fontSize, getComputedStyle(e).color]"
            )
        finally:
            browser.close()
    assert widths and all(width >= 375 - 2 * 24 - 1 for width in widths), widths
    assert footer == ["12px", "rgb(82, 96, 109)"]
