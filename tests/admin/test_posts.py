"""/admin/posts and a post's page: the store as a table with the issues each post is in,
search and filters, keyset pages that stay put, and the post's sandboxed frame."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.content.listing import Cursor, Filters, page
from newsletter.models import Post, Role, utcnow

FRAME_POLICY_PARTS = ("sandbox", "frame-ancestors 'self'", "script-src 'none'")


def _slugs(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/posts/([a-z0-9-]+)">', html)


def _add_posts(engine: sa.Engine, n: int, at: datetime) -> None:
    """``n`` posts of a source 'bulk', all at the same moment (so the id breaks the ties)."""
    with Session(engine) as session:
        for i in range(n):
            session.add(
                Post(
                    slug=f"bulk-{i:03d}",
                    title=f"Bulk {i}",
                    url=f"https://example.org/bulk-{i}",
                    published_at=at,
                    updated_at=at,
                    categories=["bulk_cat"],
                    tags=["100%"],
                    html="<p>x</p>",
                    source="bulk",
                    source_id=str(i),
                    content_hash="h",
                    synced_at=utcnow(),
                )
            )
        session.commit()


def test_posts_table_shows_each_post_with_the_issues_it_is_in(as_role):
    html = as_role(Role.viewer).get("/admin/posts").text
    assert "10 of 10 posts" in html
    row = html.split('href="/admin/posts/commit-workshop-victim-identification"')[1].split("</tr>")[
        0
    ]
    assert 'href="/admin/issues/2016-q4"' in row and "updates, events" in row
    old = html.split('href="/admin/posts/annual-report-2015"')[1].split("</tr>")[0]
    assert 'href="/admin/issues/2016-q3"' in old and "2016-q4" not in old


def test_search_and_filters(as_role):
    client = as_role(Role.viewer)
    found = _slugs(client.get("/admin/posts", params={"query": "FORCED marr"}).text)
    assert found == ["forced-marriage-cambodia-china"]
    quarter = _slugs(client.get("/admin/posts", params={"quarter": "2016-Q3"}).text)
    assert (
        "annual-report-2015" in quarter and "commit-workshop-victim-identification" not in quarter
    )
    blog = _slugs(client.get("/admin/posts", params={"category": "blog"}).text)
    assert blog and all("blog" in s for s in blog)
    tagged = client.get("/admin/posts", params={"tag": "commit", "quarter": "2016-Q4"}).text
    assert _slugs(tagged) == ["commit-workshop-victim-identification"]
    assert "1 of 10 posts match" in tagged
    assert _slugs(client.get("/admin/posts", params={"source": "nowhere"}).text) == []


def test_keyset_pages_are_stable_and_complete(as_role, admin_engine):
    at = datetime(2016, 8, 1, tzinfo=UTC)
    _add_posts(admin_engine, 120, at)
    client = as_role(Role.viewer)
    seen: list[str] = []
    url = "/admin/posts?source=bulk"
    pages = []
    while url:
        html = client.get(url).text
        pages.append(url)
        seen += _slugs(html)
        found = re.search(r'<a href="([^"]+)" rel="next">Older</a>', html)
        url = found.group(1).replace("&amp;", "&") if found else ""
        if len(pages) == 2:  # a post added meanwhile does not move the later pages
            _add_posts_new(admin_engine)
    assert len(pages) == 3 and all("offset" not in p for p in pages)
    assert seen == [f"bulk-{i:03d}" for i in range(119, -1, -1)]
    # Newer from the last page gives back the middle page
    html = client.get(pages[-1]).text
    newer = re.search(r'<a href="([^"]+)" rel="prev">Newer</a>', html)
    assert newer
    middle = _slugs(client.get(newer.group(1).replace("&amp;", "&")).text)
    assert middle == [f"bulk-{i:03d}" for i in range(69, 19, -1)]


def _add_posts_new(engine: sa.Engine) -> None:
    with Session(engine) as session:
        moment = datetime(2016, 8, 2, tzinfo=UTC)
        session.add(
            Post(
                slug="bulk-late",
                title="Late",
                url="https://example.org/late",
                published_at=moment,
                updated_at=moment,
                html="",
                source="bulk",
                source_id="late",
                content_hash="h",
                synced_at=utcnow(),
            )
        )
        session.commit()


def test_json_filters_take_wildcards_literally(admin_engine, admin_settings):
    _add_posts(admin_engine, 3, datetime(2016, 8, 1, tzinfo=UTC))
    zone = admin_settings.zone
    assert page(admin_engine, Filters(category="bulk_cat"), zone).matching == 3
    assert page(admin_engine, Filters(category="bulkxcat"), zone).matching == 0
    assert page(admin_engine, Filters(tag="100%"), zone).matching == 3
    assert page(admin_engine, Filters(tag="10%"), zone).matching == 0


def test_a_bad_cursor_is_the_first_page(as_role):
    client = as_role(Role.viewer)
    for bad in ("x", "2016-01-01~", "2016-01-01T00:00:00~5", "~1", "9" * 40):
        answer = client.get("/admin/posts", params={"after": bad})
        assert answer.status_code == 200 and "10 of 10 posts" in answer.text
    assert Cursor.parse("2016-01-01T00:00:00+00:00~5") == Cursor(
        datetime(2016, 1, 1, tzinfo=UTC), 5
    )
    assert Cursor.parse(f"{(utcnow() + timedelta(days=1)).isoformat()}~x") is None


def test_a_posts_page_shows_its_data_issues_and_a_sandboxed_frame(as_role):
    client = as_role(Role.viewer)
    html = client.get("/admin/posts/commit-workshop-victim-identification").text
    assert "COMMIT workshop on victim identification" in html
    assert 'href="/admin/issues/2016-q4"' in html
    assert "Delegates from six COMMIT countries" in html  # image alt
    assert "MPAT Secretariat" in html
    frame = re.search(r'<iframe class="post-frame" sandbox="([^"]*)" src="([^"]+)"', html)
    assert frame and "allow-scripts" not in frame.group(1)
    answer = client.get(frame.group(2))
    assert answer.status_code == 200 and "Bangkok" in answer.text
    policy = answer.headers["content-security-policy"]
    assert all(part in policy for part in FRAME_POLICY_PARTS)
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<script" not in answer.text
    assert client.get("/admin/posts/no-such-post").status_code == 404
    assert client.get("/admin/posts/no-such-post/frame.html").status_code == 404


def test_a_viewer_sees_no_write_or_edit_controls(as_role):
    viewer, editor = as_role(Role.viewer), as_role(Role.editor)
    assert "Write a post" not in viewer.get("/admin/posts").text
    assert "Write a post" in editor.get("/admin/posts").text
    slug = "/admin/posts/commit-workshop-victim-identification"
    assert "Edit this post" not in viewer.get(slug).text
    assert "Edit this post" in editor.get(slug).text
    assert viewer.get(f"{slug}/edit").status_code == 403


def test_a_post_address_that_is_not_http_is_never_a_link(as_role, admin_engine):
    moment = datetime(2016, 8, 1, tzinfo=UTC)
    with Session(admin_engine) as session:
        session.add(
            Post(
                slug="odd-address",
                title="Odd",
                url="javascript:alert(1)",
                image_url="data:text/html,x",
                published_at=moment,
                updated_at=moment,
                html="",
                source="feed",
                source_id="odd",
                content_hash="h",
                synced_at=utcnow(),
            )
        )
        session.commit()
    html = as_role(Role.viewer).get("/admin/posts/odd-address").text
    assert "javascript:alert(1)" in html and 'href="javascript' not in html
    assert 'href="data:' not in html
