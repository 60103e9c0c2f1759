"""A WordPress-shaped website on loopback (stdlib http.server in a thread), for tests and bench.

It answers like WordPress 6: ``/wp-json/wp/v2/posts`` with ``page``/``per_page``/``categories``/
``tags``/``after``/``modified_after``/``_embed``, the headers ``X-WP-Total`` and
``X-WP-TotalPages``, a 400 ``rest_post_invalid_page_number`` past the last page;
``/wp-json/wp/v2/categories`` and ``/tags`` with ``slug=``; and ``/feed/`` (RSS 2.0 as WordPress
writes it) and ``/atom.xml``, both with an ETag honoured by ``If-None-Match``.
Faults are switched on per test: ``statuses`` (answers to give first), ``delay``, ``html``,
``fail_page`` (that page of posts always answers 500), and ``routes``: a path answered with a
``Raw`` answer of any bytes and headers, optionally dripped a few bytes at a time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

CATEGORIES = [(2, "news", "News"), (3, "research", "Research"), (4, "events", "Events")]
TAGS = [(10, "thailand", "Thailand"), (11, "commit", "COMMIT")]


@dataclass
class FakePost:
    id: int
    title: str
    content: str
    date_gmt: str = "2016-10-27T03:00:00"
    modified_gmt: str = ""
    excerpt: str = ""
    slug: str = ""
    categories: list[int] = field(default_factory=lambda: [2])
    tags: list[int] = field(default_factory=list)
    author: str = "MPAT Secretariat"
    image: str = ""
    image_alt: str = ""

    def link(self, site: str) -> str:
        return f"{site}/2016/10/{self.slug or f'post-{self.id}'}/"

    def as_json(self, site: str, embed: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "date": self.date_gmt,
            "date_gmt": self.date_gmt,
            "guid": {"rendered": f"{site}/?p={self.id}"},
            "modified": self.modified_gmt or self.date_gmt,
            "modified_gmt": self.modified_gmt or self.date_gmt,
            "slug": self.slug,
            "status": "publish",
            "type": "post",
            "link": self.link(site),
            "title": {"rendered": self.title},
            "content": {"rendered": self.content, "protected": False},
            "excerpt": {"rendered": self.excerpt, "protected": False},
            "author": 1,
            "featured_media": 50 + self.id if self.image else 0,
            "categories": self.categories,
            "tags": self.tags,
            "_links": {"self": [{"href": f"{site}/wp-json/wp/v2/posts/{self.id}"}]},
        }
        if embed:
            body["_embedded"] = self._embedded()
        return body

    def _embedded(self) -> dict[str, Any]:
        terms = [
            [_term(t, "category") for t in CATEGORIES if t[0] in self.categories],
            [_term(t, "post_tag") for t in TAGS if t[0] in self.tags],
        ]
        embedded: dict[str, Any] = {
            "author": [{"id": 1, "name": self.author, "slug": "mpat"}],
            "wp:term": terms,
        }
        if self.image:
            embedded["wp:featuredmedia"] = [
                {"id": 50 + self.id, "source_url": self.image, "alt_text": self.image_alt}
            ]
        return embedded


def _term(term: tuple[int, str, str], taxonomy: str) -> dict[str, Any]:
    return {"id": term[0], "slug": term[1], "name": term[2], "taxonomy": taxonomy}


@dataclass
class Raw:
    """Any answer: status, headers and body as given; ``drip`` seconds between ``step`` bytes."""

    body: bytes
    status: int = 200
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0
    step: int = 1


@dataclass
class FakeSite:
    posts: list[FakePost] = field(default_factory=list)
    feeds: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    html: bool = False
    fail_page: int = 0
    routes: dict[str, Raw] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]):
        """(status, content type, extra headers, body bytes)"""
        self.requests.append((path, query, headers))
        if self.delay:
            time.sleep(self.delay)
        if self.statuses:
            status = self.statuses.pop(0)
            extra = {"Retry-After": "0"} if status == 429 else {}
            return status, "application/json", extra, b'{"code":"error","message":"Oops"}'
        if path in self.routes:
            raw = self.routes[path]
            return raw.status, raw.content_type, raw.headers, raw
        if self.html:
            page = b"<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>"
            return 200, "text/html; charset=UTF-8", {}, page
        if path in self.feeds:
            return self._feed(self.feeds[path], headers)
        if path == "/wp-json/wp/v2/posts":
            return self._posts(query)
        if path in ("/wp-json/wp/v2/categories", "/wp-json/wp/v2/tags"):
            terms = CATEGORIES if path.endswith("categories") else TAGS
            wanted = set(query.get("slug", "").split(","))
            found = [{"id": i, "slug": s, "name": n} for i, s, n in terms if s in wanted]
            return 200, "application/json", {}, json.dumps(found).encode()
        body = b'{"code":"rest_no_route","message":"No route was found","data":{"status":404}}'
        return 404, "application/json", {}, body

    def _feed(self, text: str, headers: dict[str, str]):
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
        if headers.get("if-none-match") == etag:
            return 304, "", {"ETag": etag}, b""
        extra = {"ETag": etag, "Last-Modified": "Thu, 27 Oct 2016 03:00:00 GMT"}
        return 200, "application/rss+xml; charset=UTF-8", extra, text.encode()

    def _posts(self, query: dict[str, str]):
        chosen = sorted(self.posts, key=lambda p: p.id)
        if "categories" in query:
            ids = {int(i) for i in query["categories"].split(",")}
            chosen = [p for p in chosen if ids & set(p.categories)]
        if "tags" in query:
            ids = {int(i) for i in query["tags"].split(",")}
            chosen = [p for p in chosen if ids & set(p.tags)]
        if "after" in query:
            chosen = [p for p in chosen if p.date_gmt > _naive(query["after"])]
        if "modified_after" in query:
            after = _naive(query["modified_after"])
            chosen = [p for p in chosen if (p.modified_gmt or p.date_gmt) > after]
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        if page == self.fail_page:
            return 500, "application/json", {}, b'{"code":"internal_server_error"}'
        pages = max(1, -(-len(chosen) // per_page))
        if page > pages and chosen:
            body = b'{"code":"rest_post_invalid_page_number","data":{"status":400}}'
            return 400, "application/json", {}, body
        rows = chosen[(page - 1) * per_page : page * per_page]
        body = json.dumps([p.as_json(self.url, "_embed" in query) for p in rows]).encode()
        extra = {"X-WP-Total": str(len(chosen)), "X-WP-TotalPages": str(pages)}
        return 200, "application/json; charset=UTF-8", extra, body


def _naive(moment: str) -> str:
    """A query date as WordPress's stored GMT strings are written, to compare as text."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat()


class _Handler(BaseHTTPRequestHandler):
    site: FakeSite
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, kind, extra, body = self.site.answer(parts.path, query, headers)
        raw = body if isinstance(body, Raw) else Raw(body)
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        for name, value in extra.items():
            if value:  # an empty value leaves the header out
                self.send_header(name, value)
        if "Content-Length" not in extra:
            self.send_header("Content-Length", str(len(raw.body)))
        elif not extra["Content-Length"]:  # the body ends when the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not raw.drip:
            self.wfile.write(raw.body)
            return
        for start in range(0, len(raw.body), raw.step):
            self.wfile.write(raw.body[start : start + raw.step])
            self.wfile.flush()
            time.sleep(raw.drip)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up (the timeout tests) is expected, and a traceback on
        stderr would land in whatever CLI output a later test is capturing."""


class Serving:
    """``with Serving(site) as url:`` serves ``site`` on 127.0.0.1 at a free port."""

    def __init__(self, site: FakeSite) -> None:
        handler = type("Handler", (_Handler,), {"site": site})
        self.server = _Server(("127.0.0.1", 0), handler)
        site.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.site = site
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return self.site.url

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def rss(site: str, posts: list[FakePost], extra_items: str = "") -> str:
    """The RSS 2.0 WordPress writes at /feed/ (content:encoded in CDATA, dc:creator)."""
    items = "".join(_rss_item(site, p) for p in posts)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"\n'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        ' xmlns:media="http://search.yahoo.com/mrss/">\n<channel>\n'
        f"<title>MPAT</title><link>{site}</link><description>News</description>\n"
        f"{items}{extra_items}</channel></rss>\n"
    )


def _rss_item(site: str, post: FakePost) -> str:
    published = datetime.fromisoformat(post.date_gmt).replace(tzinfo=UTC)
    categories = "".join(
        f"<category><![CDATA[{n}]]></category>" for i, _, n in CATEGORIES if i in post.categories
    )
    media = f'<media:content url="{escape(post.image)}" medium="image"/>' if post.image else ""
    return (
        f"<item><title>{escape(post.title)}</title><link>{post.link(site)}</link>"
        f"<dc:creator><![CDATA[{post.author}]]></dc:creator>"
        f"<pubDate>{format_datetime(published)}</pubDate>{categories}"
        f'<guid isPermaLink="false">{site}/?p={post.id}</guid>'
        f"<description><![CDATA[{post.excerpt}]]></description>"
        f"<content:encoded><![CDATA[{post.content}]]></content:encoded>{media}</item>\n"
    )


def atom(site: str, posts: list[FakePost]) -> str:
    entries = "".join(
        f"<entry><title>{escape(p.title)}</title><link href='{p.link(site)}'/>"
        f"<id>tag:mpat,2016:{p.id}</id><published>{p.date_gmt}Z</published>"
        f"<updated>{p.modified_gmt or p.date_gmt}Z</updated>"
        f"<author><name>{escape(p.author)}</name></author>"
        f"<content type='html'>{escape(p.content)}</content></entry>"
        for p in posts
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>MPAT</title><id>{site}/</id><updated>2016-10-27T03:00:00Z</updated>"
        f"{entries}</feed>\n"
    )
