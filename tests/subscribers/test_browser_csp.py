"""The Content-Security-Policy as Chromium applies it (Debian's /usr/bin/chromium): the signup
form works with no violation, and script in an archived or previewed email does not run."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.issues.build import build_issue
from newsletter.issues.preview import PreviewServer
from newsletter.models import Send
from newsletter.sending.ledger import start_live
from newsletter.sending.sender import content_of
from tests.subscribers.conftest import BROWSER_MARKS, live_server, status_of

pytestmark = BROWSER_MARKS
HOSTILE = (
    '<img src="https://example.org/x.png" alt="" onerror="document.title=\'ran\'">'
    "<script>document.title='ran'</script></body>"
)


def _violations(page: Any) -> list[str]:
    """What Chromium says it refused: a CSP violation or the sandbox's script block."""
    found: list[str] = []
    words = ("Content Security Policy", "sandboxed")
    page.on("console", lambda m: found.append(m.text) if any(w in m.text for w in words) else None)
    return found


def test_the_signup_form_works_under_the_policy(web_settings, store, outbox, browser):
    with live_server(lambda base: Settings(base_url=base), store) as (base, _settings):
        page = browser.new_page()
        violations = _violations(page)
        page.goto(f"{base}/subscribe")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(238, 241, 245)"  # the stylesheet loaded
        page.get_by_label("Email address").fill("sok@example.org")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
        assert violations == []
    assert status_of(store, "sok@example.org") == "pending"


def test_script_in_an_archived_email_does_not_run(web_settings, synced, browser):
    built = build_issue(web_settings, synced, "2016-q3")
    start_live(synced, content_of(built.compiled))
    with Session(synced) as session:  # as if something slipped through every sanitizer
        send = session.exec(select(Send)).one()
        send.html = send.html.replace("</body>", HOSTILE, 1)
        session.add(send)
        session.commit()
    with live_server(lambda base: Settings(base_url=base), synced) as (base, _settings):
        page = browser.new_page()
        violations = _violations(page)
        response = page.goto(f"{base}/archive/2016-q3")
        page.wait_for_load_state("load")
        assert (
            response is not None
            and "script-src 'none'" in response.headers["content-security-policy"]
        )
        # the exit check removed both before the page went out; had one slipped through, the
        # CSP would refuse it and Chromium would report a violation: either way nothing ran
        assert page.title() != "ran"
        assert "document.title" not in page.content() or violations
        page.locator(f'a[href="{base}/subscribe"]').first.click()  # links still work
        page.wait_for_url(f"{base}/subscribe")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Subscribe")


def test_the_preview_runs_its_reload_script_and_nothing_else(settings, synced, project, browser):
    server = PreviewServer(settings, synced, "2016-q3")
    host, port = server.start("127.0.0.1", 0)
    try:
        with server._lock:  # as if something slipped through every sanitizer
            server.html = server.html.replace("</body>", HOSTILE, 1)
        page = browser.new_page()
        violations = _violations(page)
        page.goto(f"http://{host}:{port}/")
        page.wait_for_load_state("load")
        assert page.title() != "ran" and violations
        issue = project / "issues" / "2016-q3.toml"
        issue.write_text(issue.read_text().replace("Quarterly update: July", "Edited: July"))
        page.get_by_text("Edited: July").first.wait_for(timeout=15000)  # reloaded by its script
    finally:
        server.stop()
