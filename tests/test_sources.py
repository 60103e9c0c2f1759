"""WordPress and feed sources against a WordPress-shaped site on loopback, through the CLI."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.models import Post, SourceState
from tests.conftest import run_cli
from tests.fake_site import FakePost, FakeSite, Serving, atom, rss

THAI_TITLE = "การประชุมเชิงปฏิบัติการเรื่องการคัดแยกผู้เสียหาย"
THAI_BODY = "<p>ผู้แทนจากหกประเทศ &amp; องค์กรภาคประชาสังคมร่วมประชุมที่กรุงเทพฯ</p>"
FEATURE = FakePost(
    id=1,
    slug="commit-workshop",
    title="COMMIT workshop &#8220;victim identification&#8221;",
    excerpt=(
        '<p>Delegates met in Bangkok [&hellip;]</p>\n<a class="more-link" href="/x">Read More</a>'
    ),
    content=(
        '<p>[caption id="attachment_9" width="300"]<img src="/wp-content/uploads/w.jpg" '
        'alt="Delegates"> Delegates in Bangkok[/caption]</p>\n<p>&nbsp;</p>\n'
        '<p>[gallery ids="4,5,6"]</p>\n<p>Six governments met. <a href="../report/">Report</a></p>'
    ),
    categories=[2, 4],
    tags=[11],
    image="https://mpat.example.org/wp-content/uploads/2016/10/w.jpg",
    image_alt="Delegates around a table",
)
THAI = FakePost(
    id=2,
    slug="%e0%b8%81%e0%b8%b2%e0%b8%a3%e0%b8%9b%e0%b8%a3%e0%b8%b0",
    title=THAI_TITLE,
    content=THAI_BODY,
    categories=[3],
    tags=[10],
)
HOSTILE = FakePost(
    id=3,
    slug="hostile",
    title="Hostile <script>x</script>post",
    content=(
        '<p onclick="steal()">Click <a href="javascript:alert(1)">me</a></p>'
        "<script>alert(document.cookie)</script><style>p{}</style>"
        '<iframe src="https://evil.example/"></iframe><p>safe text</p>'
    ),
)


def _site() -> FakeSite:
    filler = [
        FakePost(
            id=n,
            slug=f"update-{n}",
            title=f"Update {n}",
            content=f"<p>Update {n}.</p>",
            date_gmt=(datetime(2016, 1, 1) + timedelta(days=n)).isoformat(),
        )
        for n in range(10, 250)
    ]
    return FakeSite(posts=[replace(p) for p in (FEATURE, THAI, HOSTILE)] + filler)


@pytest.fixture
def site(project, monkeypatch) -> Iterator[FakeSite]:
    fake = _site()
    with Serving(fake) as url:
        fake.feeds["/feed/"] = rss(url, [FEATURE, THAI, HOSTILE])
        fake.feeds["/atom.xml"] = atom(url, [FEATURE, THAI])
        monkeypatch.setenv("NEWSLETTER_HTTP_BACKOFF", "0.01")
        monkeypatch.setenv("NEWSLETTER_HTTP_TIMEOUT", "5")
        yield fake


def _sources(monkeypatch, *sources: dict[str, Any]) -> None:
    monkeypatch.setenv("NEWSLETTER_SOURCES", json.dumps(list(sources)))


def _wp(site: FakeSite, name: str = "site", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "wordpress", "url": site.url, **extra}


def _posts(source: str | None = None) -> dict[str, Post]:
    engine = db.make_engine(Settings().database_url)
    with Session(engine) as session:
        statement = select(Post) if source is None else select(Post).where(Post.source == source)
        posts = {p.source_id: p for p in session.exec(statement)}
    engine.dispose()
    return posts


def _post_requests(site: FakeSite) -> list[dict[str, str]]:
    return [q for path, q, _ in site.requests if path == "/wp-json/wp/v2/posts"]


def test_wordpress_full_sync_follows_pages_and_cleans_posts(site, monkeypatch):
    _sources(monkeypatch, _wp(site))
    code, out, err = run_cli("content", "sync")
    assert code == 0, err
    assert "site: 243 new, 0 updated, 0 unchanged" in out
    pages = _post_requests(site)
    assert [q["page"] for q in pages] == ["1", "2", "3"]
    assert all(q["per_page"] == "100" and "_embed" in q for q in pages)
    posts = _posts("site")
    assert len(posts) == 243
    feature = posts["1"]
    assert feature.title == "COMMIT workshop “victim identification”"
    assert feature.slug == "commit-workshop"
    assert feature.url == f"{site.url}/2016/10/commit-workshop/"
    assert feature.summary == "Delegates met in Bangkok…"
    assert "[caption" not in feature.html and "[gallery" not in feature.html
    assert f'src="{site.url}/wp-content/uploads/w.jpg"' in feature.html
    assert f'href="{site.url}/2016/10/report/"' in feature.html
    assert "<p></p>" not in feature.html and "&nbsp;" not in feature.html
    assert (feature.categories, feature.tags) == (["news", "events"], ["commit"])
    assert (feature.author, feature.image_alt) == ("MPAT Secretariat", "Delegates around a table")
    assert feature.image_url == FEATURE.image
    assert feature.published_at.isoformat() == "2016-10-27T03:00:00+00:00"


def test_wordpress_thai_and_hostile_posts(site, monkeypatch):
    _sources(monkeypatch, _wp(site))
    assert run_cli("content", "sync")[0] == 0
    posts = _posts("site")
    thai = posts["2"]
    assert thai.title == THAI_TITLE
    assert thai.html == THAI_BODY
    assert thai.slug == "site-2"  # a Thai slug makes no ASCII slug: source and id instead
    assert thai.summary.startswith("ผู้แทนจากหกประเทศ & องค์กร")
    hostile = posts["3"]
    assert hostile.title == "Hostile post"
    for bad in ("<script", "alert(", "onclick", "javascript:", "<iframe", "<style"):
        assert bad not in hostile.html
    assert "safe text" in hostile.html


def test_second_sync_is_incremental_and_updates_edited_post(site, monkeypatch):
    _sources(monkeypatch, _wp(site))
    run_cli("content", "sync")
    site.requests.clear()
    site.posts[0].title = "COMMIT workshop (updated)"
    site.posts[0].modified_gmt = "2016-11-02T08:30:00"
    code, out, _ = run_cli("content", "sync")
    assert code == 0 and "site: 0 new, 1 updated" in out
    queries = _post_requests(site)
    # the newest modification seen last time, less a margin for the site's time zone
    assert len(queries) == 1 and queries[0]["modified_after"] == "2016-10-26T13:00:00Z"
    posts = _posts("site")
    assert len(posts) == 243 and posts["1"].title == "COMMIT workshop (updated)"
    assert posts["1"].slug == "commit-workshop"  # same row, not a duplicate
    engine = db.make_engine(Settings().database_url)
    with Session(engine) as session:
        state = session.get(SourceState, "site")
    engine.dispose()
    assert state is not None and state.newest_modified_at is not None
    assert state.newest_modified_at.isoformat() == "2016-11-02T08:30:00+00:00"


def test_category_and_tag_filters_resolve_slugs(site, monkeypatch):
    _sources(monkeypatch, _wp(site, categories=["research", "events"], tags=["thailand"]))
    code, _, err = run_cli("content", "sync")
    assert code == 0, err
    assert set(_posts("site")) == {"2"}
    query = _post_requests(site)[0]
    assert (query["categories"], query["tags"]) == ("3,4", "10")


def test_unknown_category_is_an_error(site, monkeypatch):
    _sources(monkeypatch, _wp(site, categories=["nonesuch"]))
    code, _, err = run_cli("content", "sync")
    assert code == 1
    assert "source 'site': categories not found" in err and "nonesuch" in err


def test_removed_post_kept_unless_pruned(site, monkeypatch):
    _sources(monkeypatch, _wp(site))
    run_cli("content", "sync")
    site.posts = [p for p in site.posts if p.id != 12]
    assert run_cli("content", "sync")[0] == 0
    assert "12" in _posts("site")
    code, out, _ = run_cli("content", "sync", "--prune")
    assert code == 0 and "1 pruned" in out
    assert "12" not in _posts("site") and len(_posts("site")) == 242


def test_since_asks_wordpress_for_posts_after_that_day(site, monkeypatch):
    site.posts[1].date_gmt = "2016-12-01T02:00:00"
    _sources(monkeypatch, _wp(site))
    code, _, err = run_cli("content", "sync", "--since", "2016-11-15")
    assert code == 0, err
    assert set(_posts("site")) == {"2"}
    assert _post_requests(site)[0]["after"] == "2016-11-14T17:00:00Z"  # Bangkok midnight
    code, _, err = run_cli("content", "sync", "--since", "2016-11-15", "--prune")
    assert code == 1 and "cannot go with --since" in err


def test_rss_feed_sync_and_conditional_get(site, monkeypatch):
    _sources(monkeypatch, {"name": "feed", "type": "feed", "url": f"{site.url}/feed/"})
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "feed: 3 new" in out, err
    posts = _posts("feed")
    feature = posts[f"{site.url}/?p=1"]
    assert feature.author == "MPAT Secretariat"
    assert feature.categories == ["news", "events"]
    assert f'src="{site.url}/wp-content/uploads/w.jpg"' in feature.html
    assert "[gallery" not in feature.html
    assert feature.summary == "Delegates met in Bangkok…"
    assert feature.image_url == FEATURE.image
    assert posts[f"{site.url}/?p=2"].title == THAI_TITLE
    assert posts[f"{site.url}/?p=2"].html == THAI_BODY
    hostile = posts[f"{site.url}/?p=3"].html
    assert "<script" not in hostile and "onclick" not in hostile and "javascript:" not in hostile
    code, out, _ = run_cli("content", "sync")
    assert code == 0 and "feed: not modified" in out
    assert site.requests[-1][2].get("if-none-match", "").startswith('"')


def test_atom_feed(site, monkeypatch):
    _sources(monkeypatch, {"name": "atom", "type": "feed", "url": f"{site.url}/atom.xml"})
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "atom: 2 new" in out, err
    post = _posts("atom")["tag:mpat,2016:2"]
    assert post.title == THAI_TITLE and post.url == f"{site.url}/2016/10/{THAI.slug}/"


def test_feed_entry_with_bad_date_or_no_title_is_imported_with_warning(site, monkeypatch):
    odd = (
        "<item><title>Undated</title><link>https://mpat.example.org/undated/</link>"
        "<pubDate>sometime in spring</pubDate><description>No date.</description></item>"
        "<item><link>https://mpat.example.org/untitled/</link>"
        "<pubDate>Tue, 01 Nov 2016 10:00:00 +0700</pubDate>"
        "<description><![CDATA[<p>A post without a title of its own.</p>]]></description></item>"
    )
    site.feeds["/odd.xml"] = rss(site.url, [], extra_items=odd)
    _sources(monkeypatch, {"name": "odd", "type": "feed", "url": f"{site.url}/odd.xml"})
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "odd: 2 new" in out
    assert "warning: odd: entry 1" in err and "sometime in spring" in err
    assert "warning: odd: entry 2" in err and "no title" in err
    posts = _posts("odd")
    untitled = posts["https://mpat.example.org/untitled/"]
    assert untitled.title == "A post without a title of its own."
    assert untitled.published_at.isoformat() == "2016-11-01T03:00:00+00:00"
    assert posts["https://mpat.example.org/undated/"].slug == "undated"


def test_undated_posts_keep_their_first_seen_date(site, monkeypatch):
    """An undated feed item or WordPress post is dated when first stored, not on every sync
    (it would jump into the next quarter's issue)."""
    undated = (
        "<item><title>Undated</title><link>https://mpat.example.org/undated/</link>"
        "<description>No date.</description></item>"
    )
    site.feeds["/odd.xml"] = rss(site.url, [], extra_items=undated)
    site.posts[1].date_gmt = "0000-00-00 00:00:00"
    _sources(
        monkeypatch,
        {"name": "odd", "type": "feed", "url": f"{site.url}/odd.xml"},
        _wp(site),
    )
    code, _out, err = run_cli("content", "sync")
    assert code == 0 and "dated when first seen" in err
    feed_date = _posts("odd")["https://mpat.example.org/undated/"].published_at
    wp_date = _posts("site")["2"].published_at
    time.sleep(1.1)  # dates are kept to the second: the next sync is in a later one
    code, out, _err = run_cli("content", "sync", "--full")
    assert code == 0
    assert "odd: 0 new, 0 updated, 1 unchanged" in out
    assert "site: 0 new, 0 updated, 243 unchanged" in out
    assert _posts("odd")["https://mpat.example.org/undated/"].published_at == feed_date
    assert _posts("site")["2"].published_at == wp_date


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("down", "cannot connect"),
        ("slow", "no answer within 0.2 s"),
        ("404", "HTTP 404 Not Found"),
        ("500", "HTTP 500 Internal Server Error (after 3 tries)"),
        ("html", "expected JSON but got text/html"),
        ("page", "HTTP 500"),
    ],
)
def test_faults_give_one_line_and_leave_store_unchanged(site, monkeypatch, fault, message):
    _sources(monkeypatch, _wp(site))
    assert run_cli("content", "sync")[0] == 0
    before = {k: p.content_hash for k, p in _posts("site").items()}
    site.posts[0].title = "Changed upstream"
    site.posts[0].modified_gmt = "2016-12-01T00:00:00"
    monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "2")
    url = site.url
    extra: dict[str, Any] = {}
    if fault == "down":
        url = _refused_url()
    elif fault == "slow":
        site.delay, extra = 1.0, {"timeout": 0.2}
    elif fault == "404":
        url = f"{site.url}/blog"
    elif fault == "500":
        site.statuses = [500] * 3
    elif fault == "html":
        site.html = True
    else:  # page 1 (with the edited post) arrives, page 2 fails: nothing is stored
        site.fail_page = 2
    _sources(monkeypatch, _wp(site, url=url, **extra))
    code, _, err = run_cli("content", "sync", "--full")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: source 'site': GET ")
    assert message in lines[0]
    after = _posts("site")
    assert after["1"].title != "Changed upstream"
    assert {k: after[k].content_hash for k in before} == before


def test_retries_429_and_5xx_then_succeeds(site, monkeypatch):
    site.statuses = [503, 429]
    _sources(monkeypatch, _wp(site))
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "243 new" in out, err
    assert len(_post_requests(site)) == 5  # two refused, then three pages


def test_malformed_feed_is_an_error(site, monkeypatch):
    site.feeds["/broken.xml"] = "<?xml version='1.0'?><rss version='2.0'><channel><item><title>x"
    _sources(monkeypatch, {"name": "broken", "type": "feed", "url": f"{site.url}/broken.xml"})
    code, _, err = run_cli("content", "sync")
    assert code == 1
    assert err.strip().startswith("error: source 'broken':")
    assert "not a well-formed RSS or Atom feed" in err and len(err.strip().splitlines()) == 1
    assert _posts("broken") == {}


def test_other_sources_still_sync_when_one_fails(site, monkeypatch, project):
    _sources(
        monkeypatch,
        {"name": "markdown", "type": "markdown"},
        {"name": "down", "type": "wordpress", "url": _refused_url()},
        {"name": "feed", "type": "feed", "url": f"{site.url}/feed/"},
    )
    code, out, err = run_cli("content", "sync")
    assert code == 1
    assert "markdown: 10 new" in out and "feed: 3 new" in out
    assert "error: source 'down'" in err
    assert "2 of 3 sources synced; failed, stored posts unchanged: down" in err
    code, out, _ = run_cli("content", "sync", "--source", "feed")
    assert code == 0 and "feed: not modified" in out and "markdown" not in out
    code, _, err = run_cli("content", "sync", "--source", "nonesuch")
    assert code == 1 and "no source is named 'nonesuch'" in err


def test_same_url_from_two_sources_is_one_post(site, monkeypatch):
    _sources(
        monkeypatch,
        _wp(site),
        {"name": "feed", "type": "feed", "url": f"{site.url}/feed/"},
    )
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "feed: 0 new" in out
    assert "3 posts have the URL of a post stored from another source" in err
    urls = [p.url for p in _posts().values()]
    assert len(urls) == len(set(urls)) == 243
    assert {p.source for p in _posts().values()} == {"site"}


def test_dates_are_stored_in_utc_and_listed_in_the_timezone(site, monkeypatch):
    site.posts[0].date_gmt = "2016-10-31T20:00:00"  # 1 November, 03:00 in Bangkok
    _sources(monkeypatch, _wp(site))
    run_cli("content", "sync")
    assert _posts("site")["1"].published_at.isoformat() == "2016-10-31T20:00:00+00:00"
    code, out, _ = run_cli("content", "list", "--since", "2016-11-01", "--until", "2016-11-02")
    assert code == 0 and "2016-11-01" in out and "commit-workshop" in out


def test_wordpress_post_without_title_or_date_is_imported_with_warning(site, monkeypatch):
    site.posts[0].title = ""
    site.posts[1].date_gmt = "0000-00-00 00:00:00"
    site.posts[2].slug = ""
    site.posts[2].title = "Hội thảo Đà Nẵng về buôn bán người"
    _sources(monkeypatch, _wp(site))
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "243 new" in out
    fallback = "Delegates in Bangkok Six governments met. Report"
    assert f"warning: site: post 1 has no title; using {fallback!r}" in err
    assert "warning: site: post 2 date_gmt is not a date ('0000-00-00 00:00:00')" in err
    posts = _posts("site")
    assert posts["1"].title == fallback
    assert posts["2"].published_at.year >= 2026  # the time of the sync that first stores it
    assert posts["3"].slug == "hoi-thao-da-nang-ve-buon-ban-nguoi"


def test_feed_entry_without_link_is_skipped_with_warning(site, monkeypatch):
    items = "<item><title>No link</title><description>x</description></item>"
    site.feeds["/nolink.xml"] = rss(site.url, [FEATURE], extra_items=items)
    _sources(monkeypatch, {"name": "nolink", "type": "feed", "url": f"{site.url}/nolink.xml"})
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "nolink: 1 new" in out
    assert "warning: nolink: entry 2 skipped: it has no http(s) link" in err


def test_changed_filters_mean_a_full_sync(site, monkeypatch):
    _sources(monkeypatch, _wp(site, categories=["research"]))
    run_cli("content", "sync")
    assert set(_posts("site")) == {"2"}
    _sources(monkeypatch, _wp(site))
    site.requests.clear()
    code, out, _ = run_cli("content", "sync")
    assert code == 0 and "242 new" in out
    assert all("modified_after" not in q for q in _post_requests(site))
    site.requests.clear()
    run_cli("content", "sync")
    assert all("modified_after" in q for q in _post_requests(site))


def test_feed_guid_change_falls_back_to_url_and_prune_keeps_the_post(site, monkeypatch):
    _sources(monkeypatch, {"name": "feed", "type": "feed", "url": f"{site.url}/feed/"})
    run_cli("content", "sync")
    site.feeds["/feed/"] = site.feeds["/feed/"].replace("/?p=1<", "/?p=1001<")
    code, out, _ = run_cli("content", "sync", "--prune")
    assert code == 0 and "feed: 0 new, 0 updated, 3 unchanged, 0 pruned" in out
    posts = _posts("feed")
    assert set(posts) == {f"{site.url}/?p=1001", f"{site.url}/?p=2", f"{site.url}/?p=3"}
