"""/admin/sources and Sync now: against a WordPress-shaped site on loopback, a feed that fails,
the CLI's one-line error, and never two syncs of one source at once (in the server, and beside
a cron ``newsletter content sync`` in another process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.content.sync_lock import claim, release
from newsletter.models import Activity, Role, SourceState, utcnow
from tests.admin.conftest import SECRET
from tests.conftest import run_cli
from tests.fake_site import FakePost, FakeSite, Serving
from tests.source_kit import set_sources, wp_source

NEW = [
    FakePost(id=7, slug="wp-fresh-news", title="Fresh news from the site", content="<p>N</p>"),
    FakePost(id=8, slug="wp-second", title="Second from the site", content="<p>S</p>"),
]


@pytest.fixture
def wp(project, monkeypatch) -> Iterator[FakeSite]:
    fake = FakeSite(posts=list(NEW))
    with Serving(fake):
        monkeypatch.setenv("NEWSLETTER_HTTP_BACKOFF", "0.01")
        monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "0")
        monkeypatch.setenv("NEWSLETTER_HTTP_TIMEOUT", "5")
        yield fake


@pytest.fixture
def admin_settings(project, monkeypatch, wp) -> Settings:
    """The sample Markdown source, the fake WordPress, and a feed that is not there."""
    set_sources(
        monkeypatch,
        {"name": "markdown", "type": "markdown"},
        wp_source(wp, "site"),
        {"name": "broken", "type": "feed", "url": f"{wp.url}/no-feed-here/"},
    )
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_SIGNUP_RATE_LIMIT", "off")
    return Settings()


def _wait(app, name: str) -> None:
    registry = app.state.source_syncs
    registry.wait(name)


def _actions(engine: sa.Engine, subject: str) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(Activity.action).where(Activity.subject == subject).order_by(col(Activity.id))
        )
        return list(rows)


def test_sources_panel_lists_each_source(as_role):
    html = as_role(Role.viewer).get("/admin/sources").text
    for name, kind in (("markdown", "markdown"), ("site", "wordpress"), ("broken", "feed")):
        assert f">{name}</a>" in html and f">{kind}<" in html
    assert "Sync now" not in html  # a viewer reads
    assert "Sync now" in as_role(Role.editor).get("/admin/sources").text


def test_sync_now_brings_the_new_posts(as_role, admin_app, admin_engine):
    editor = as_role(Role.editor)
    answer = editor.post("/admin/sources/sync", {"source": "site"})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/sources"
    _wait(admin_app, "site")
    html = editor.get("/admin/sources").text
    assert "Synced: 2 new, 0 updated, 0 unchanged" in html
    posts = editor.get("/admin/posts", params={"source": "site"}).text
    assert "Fresh news from the site" in posts and "Second from the site" in posts
    assert _actions(admin_engine, "site") == ["sync_start", "sync_end"]
    with Session(admin_engine) as session:
        state = session.get(SourceState, "site")
        assert state and state.last_synced_at and state.last_error == "" and not state.sync_owner


def test_a_failing_source_shows_the_clis_one_line_error_and_keeps_it(
    as_role, admin_app, admin_engine
):
    editor = as_role(Role.editor)
    editor.post("/admin/sources/sync", {"source": "broken"})
    _wait(admin_app, "broken")
    code, _, err = run_cli("content", "sync", "--source", "broken")
    cli_line = " ".join(err.removeprefix("error:").split())
    assert code == 1 and cli_line.startswith("source 'broken':") and "404" in cli_line
    html = editor.get("/admin/sources").text
    assert f"Failed: {cli_line}" in " ".join(html.split()).replace("&#39;", "'")
    with Session(admin_engine) as session:
        state = session.get(SourceState, "broken")
        assert state and state.last_error == cli_line and state.last_error_at
    assert "Last error" in html
    assert _actions(admin_engine, "broken") == ["sync_start", "sync_failed"]


def test_sync_all_starts_every_source(as_role, admin_app, admin_engine):
    editor = as_role(Role.editor)
    assert editor.post("/admin/sources/sync", {"source": "nowhere"}).status_code == 404
    assert editor.post("/admin/sources/sync").status_code == 404
    editor.post("/admin/sources/sync", {"source": "*"})
    for name in ("markdown", "site", "broken"):
        _wait(admin_app, name)
        assert _actions(admin_engine, name)[0] == "sync_start"


def test_two_clicks_never_run_two_syncs_of_one_source(as_role, admin_app, admin_engine, wp):
    wp.delay = 0.5
    editor = as_role(Role.editor)
    editor.post("/admin/sources/sync", {"source": "site"})
    second = editor.post("/admin/sources/sync", {"source": "site"})
    assert second.status_code == 303
    running = editor.get("/admin/sources").text
    assert "Syncing" in running and 'hx-get="/admin/sources/progress"' in running
    assert ">Refresh</a>" in running  # without JavaScript
    fragment = editor.get("/admin/sources/progress").text
    assert fragment.startswith("{#") is False and 'id="sources"' in fragment
    _wait(admin_app, "site")
    assert _actions(admin_engine, "site") == ["sync_start", "sync_end"]
    posts_requests = [r for r in wp.requests if r[0] == "/wp-json/wp/v2/posts"]
    assert len(posts_requests) == 1


def test_a_sync_held_elsewhere_is_refused_with_one_line(as_role, admin_app, admin_engine):
    """A cron ``content sync`` in another process holds the source: Sync now says so."""
    assert claim(admin_engine, "site", "cron (elsewhere)", utcnow() + timedelta(minutes=5)) == ""
    editor = as_role(Role.editor)
    held = editor.get("/admin/sources").text
    assert "Being synced by cron (elsewhere)" in held
    editor.post("/admin/sources/sync", {"source": "site"})
    _wait(admin_app, "site")
    html = " ".join(editor.get("/admin/sources").text.split()).replace("&#39;", "'")
    assert "Failed: source 'site': a sync is already running (cron (elsewhere)" in html
    # the CLI is refused the same way while the claim holds
    code, _, err = run_cli("content", "sync", "--source", "site")
    assert code == 1 and "a sync is already running" in err
    release(admin_engine, "site", "cron (elsewhere)", "")
    assert run_cli("content", "sync", "--source", "site")[0] == 0


def test_a_lapsed_claim_does_not_block(admin_engine):
    past = utcnow() - timedelta(seconds=1)
    assert claim(admin_engine, "site", "crashed", past) == ""
    assert claim(admin_engine, "site", "next", utcnow() + timedelta(minutes=1)) == ""
    assert "already running (next" in claim(admin_engine, "site", "third", utcnow())
