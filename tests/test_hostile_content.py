"""Untrusted HTML is safe in what is sent and served, not only in what is stored.

The real pipeline throughout: Markdown sync with nh3, Jinja, MJML, premailer, the exit check,
the outbox, the web archive under uvicorn, and Chromium for whether a script runs.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter import db
from newsletter.config import Settings
from newsletter.content.posts import PostData
from newsletter.content.store import upsert_posts
from newsletter.issues.build import build_issue
from newsletter.issues.exit_check import make_safe
from newsletter.issues.preview import PreviewServer
from newsletter.sending.ledger import Content, start_live
from tests.conftest import run_cli
from tests.hostile_kit import ALT, SLUG, SUBJECT, TITLE_ATTR, write_hostile
from tests.subscribers.conftest import live_server

CHROMIUM = Path("/usr/bin/chromium")
SECRET = "test-secret-key-for-signing-links-0123456789"


class _Attributes(HTMLParser):
    """Every (tag, attribute) as an HTML5-style tokenizer, like a browser's, reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.found.extend((tag, name, value) for name, value in attrs)


def attributes(html: str) -> _Attributes:
    parser = _Attributes()
    parser.feed(html)
    parser.close()
    return parser


def assert_inert(html: str) -> None:
    parsed = attributes(html)
    handlers = [(t, n) for t, n, _ in parsed.found if n.lower().startswith("on")]
    assert not handlers, f"event handlers in the HTML: {handlers}"
    assert "script" not in parsed.tags
    for _tag, name, value in parsed.found:
        if name in ("href", "src"):
            assert not (value or "").strip().lower().startswith(("javascript:", "data:"))


@pytest.fixture
def hostile(project: Path, settings: Settings) -> Iterator[sa.Engine]:
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    write_hostile(project)
    yield engine
    engine.dispose()


def test_quotes_in_post_attributes_stay_inside_the_attribute(hostile, project, settings):
    _, _, err = run_cli("build", SLUG)
    html = (project / "build" / SLUG / "index.html").read_text(encoding="utf-8")
    assert_inert(html)
    values = {(t, n, v) for t, n, v in attributes(html).found if n in ("alt", "title")}
    assert ("img", "alt", ALT) in values  # faithful: the text is shown as written
    assert ("a", "title", TITLE_ATTR) in values
    assert "removed from the HTML" not in err  # nothing had to be cut: MJML got it right
    preview = PreviewServer(settings, hostile, SLUG)  # preview serves the same HTML
    assert preview.html and not preview.error
    assert_inert(preview.html)


def test_a_post_stored_unsanitized_is_sanitized_when_compiled(hostile, project, settings):
    """A row written by an older version (or by hand) is held to today's rules."""
    with Session(hostile) as session:
        upsert_posts(
            session,
            "old",
            [
                PostData(
                    source_id="1",
                    slug="old-row",
                    title="Old row",
                    url="https://mpat.example.org/old/",
                    published_at=datetime(2016, 8, 1, tzinfo=UTC),
                    updated_at=datetime(2016, 8, 1, tzinfo=UTC),
                    categories=("hostile",),
                    html='<p>a<script>window.pwned=1</script><img src="x" onerror="window.pwned=1"'
                    ' alt="y"><a href="javascript:window.pwned=1">j</a>b</p>',
                )
            ],
        )
        session.commit()
    result = build_issue(settings, hostile, SLUG)
    assert_inert(result.compiled.html)
    assert "j</a>b</p>" in result.compiled.html  # the text around what was cut stays


def test_a_template_that_adds_script_is_cut_and_fails_the_checks(project, synced):
    footer = project / "templates" / "partials" / "footer.mjml.j2"
    footer.write_text(
        footer.read_text(encoding="utf-8").replace(
            "<mj-column>",
            '<mj-column><mj-raw><script>window.pwned=1</script><meta http-equiv="refresh" '
            'content="0;url=https://evil.example"><a href="%%unsubscribe_url%%" '
            'onclick="x()">u</a></mj-raw>',
            1,
        ),
        encoding="utf-8",
    )
    code, out, err = run_cli("check", "2016-q3")
    assert code == 1
    assert "removed from the HTML as unsafe: <script> element" in out + err
    assert "onclick attribute of <a>" in out + err
    assert 'meta http-equiv="refresh"' in out + err
    code, _, _ = run_cli("build", "2016-q3")
    assert code == 1
    html = (project / "build" / "2016-q3" / "index.html").read_text(encoding="utf-8")
    assert_inert(html)
    assert "refresh" not in html


def test_exit_check_removes_each_kind_and_says_what(tmp_path):
    hostile = (
        '<!doctype html><html><head><meta http-equiv=" Refresh" content="0">'
        '<base href="https://evil.example/"></head><body onload="x()">'
        '<p>keep<script>x()</script> <img src="https://a.org/i.png" onerror="x()" alt="i"></p>'
        '<a href=" jav&#x09;ascript:x()">1</a><a href="javascript&colon;x()">2</a>'
        '<a href="VBScript:x()">3</a><a href="data:text/html,x">4</a>'
        '<img src="data:image/png;base64,AAAA" alt="d">'
        '<img srcset="https://a.org/1.png 1x, javascript:x() 2x" alt="s">'
        '<div style="background:url(javascript:x())">css</div>'
        "<!--[if mso]><script>x()</script><![endif]-->"
        '<svg><a xlink:href="javascript:x()">svg</a></svg><math></math>'
        '<form action="https://evil.example/"><input name="q"></form>'
        '<iframe src="https://evil.example/"></iframe><object data="x"></object>'
        '<a href="%%unsubscribe_url%%">u</a><a href="https://ok.example/?a=1&amp;b=2">ok</a>'
        '<a href="mailto:x@example.org">m</a><a href="/relative">r</a>'
        "</body></html>"
    )
    checked = make_safe(hostile)
    assert_inert(checked.html)
    for word in ("iframe", "object", "form", "<base", "svg", "math", "refresh", "VBScript"):
        assert word.lower() not in checked.html.lower()
    assert "javascript" not in checked.html.lower() and "&colon;x" not in checked.html
    assert 'href="%%unsubscribe_url%%"' in checked.html
    assert 'href="https://ok.example/?a=1&amp;b=2"' in checked.html
    assert 'href="mailto:x@example.org"' in checked.html and 'href="/relative"' in checked.html
    assert "keep" in checked.html and 'alt="i"' in checked.html
    removed = "\n".join(checked.removed)
    for expected in (
        "onload attribute of <body>",
        "onerror attribute of <img>",
        "<script> element",
        "<iframe> element",
        "<object> element",
        "<form> element",
        "<svg> element",
        "<math> element",
        "<base> element",
        '<meta http-equiv="refresh"> element',
        "src 'data:image/png;base64,AAAA' of <img>",
        "srcset",
        "style 'background:url(javascript:x())' of <div>",
        "comment",
    ):
        assert expected in removed, expected
    assert make_safe(checked.html).removed == ()  # a second pass finds nothing


# --- the email and the archive, in a browser -----------------------------------------------


def _scripts_ran(base: str, slug: str) -> tuple[str, object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.route("https://**/*", lambda route: route.abort())  # no outside requests
            page.goto(f"{base}/archive/{slug}")
            page.wait_for_load_state("load")
            for link in page.locator("a[title]").all():
                link.hover()
            page.wait_for_timeout(300)
            return page.title(), page.evaluate("window.pwned")
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium")
def test_hostile_issue_sent_and_archived_runs_no_script(hostile, project, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    write_hostile(project, html_twins=False)
    code, _, err = run_cli("subscribers", "add", "reader@example.net", "--confirmed")
    assert code == 0, err
    code, _, err = run_cli("send", SLUG, "--yes")
    assert code == 0, err
    [path] = (project / "outbox").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = message.get_body(("html",))
    assert part is not None
    assert_inert(part.get_content())
    with live_server(lambda base: Settings(base_url=base), hostile) as (base, _):
        title, pwned = _scripts_ran(base, SLUG)
    assert title == SUBJECT and pwned is None


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium")
def test_a_send_stored_before_the_exit_check_is_made_safe_when_served(
    project, settings, engine, monkeypatch
):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    html = (
        "<!doctype html><html><head><title>Old issue</title></head><body>"
        '<p><img src="https://mpat.example.org/a.png" alt="x\\" onerror="window.pwned=1;'
        'document.title=\'pwned\'" y="">'
        '<img src="x" onerror="window.pwned=1">'
        "<script>window.pwned=1</script>"
        '<a href="javascript:window.pwned=1" title="t">t</a></p></body></html>'
    )
    start_live(engine, Content("old-issue", "Old issue", html, "text", "hash"))
    with live_server(lambda base: Settings(base_url=base), engine) as (base, _):
        title, pwned = _scripts_ran(base, "old-issue")
    assert title == "Old issue" and pwned is None


def test_the_archive_serves_an_old_unsafe_send_made_safe(project, settings, engine, monkeypatch):
    """Without a browser: the page itself holds nothing that could run."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    html = (
        '<!doctype html><html><head><meta http-equiv="refresh" content="0;url=https://e.x/">'
        '</head><body><p title="t" onclick="x()">p<img src="x" onerror="x()" alt="">'
        '<a href="javascript:x()">j</a><a href="%%unsubscribe_url%%">u</a></p>'
        "<iframe src='https://e.x/'></iframe></body></html>"
    )
    start_live(engine, Content("old-issue", "Old issue", html, "text", "hash"))
    with live_server(lambda base: Settings(base_url=base), engine) as (base, _):
        page = httpx.get(f"{base}/archive/old-issue")
    assert page.status_code == 200
    assert_inert(page.text)
    assert "refresh" not in page.text and "<iframe" not in page.text
    assert f'href="{base}/subscribe"' in page.text  # the placeholder still neutralised
