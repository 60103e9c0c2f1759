"""Helpers for the remote-source tests: a loopback site with good and hostile answers, the
sources setting, the stored posts, and generated bombs."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.models import Post
from tests.fake_site import FakePost, FakeSite, Serving, rss

GOOD = [
    FakePost(id=1, slug="first", title="First", content="<p>One.</p>"),
    FakePost(id=2, slug="second", title="Second", content="<p>Two.</p>"),
]


@pytest.fixture
def site(project, monkeypatch) -> Iterator[FakeSite]:
    """The fake site with two posts, its RSS at /feed/, quick retries."""
    fake = FakeSite(posts=list(GOOD))
    with Serving(fake) as url:
        fake.feeds["/feed/"] = rss(url, GOOD)
        monkeypatch.setenv("NEWSLETTER_HTTP_BACKOFF", "0.01")
        monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "0")
        monkeypatch.setenv("NEWSLETTER_HTTP_TIMEOUT", "5")
        yield fake


def set_sources(monkeypatch: pytest.MonkeyPatch, *sources: dict[str, Any]) -> None:
    monkeypatch.setenv("NEWSLETTER_SOURCES", json.dumps(list(sources)))


def feed_source(site: FakeSite, name: str = "good", path: str = "/feed/") -> dict[str, Any]:
    return {"name": name, "type": "feed", "url": f"{site.url}{path}"}


def wp_source(site: FakeSite, name: str = "site") -> dict[str, Any]:
    return {"name": name, "type": "wordpress", "url": site.url}


def stored(source: str) -> dict[str, str]:
    """source_id -> content hash of the posts stored from ``source``."""
    engine = db.make_engine(Settings().database_url)
    with Session(engine) as session:
        posts = session.exec(select(Post).where(Post.source == source))
        found = {p.source_id: p.content_hash for p in posts}
    engine.dispose()
    return found


def gzip_zeros(megabytes: int) -> bytes:
    """A valid gzip of ``megabytes`` MiB of zeros, about 1 KB per MiB, made in milliseconds:
    each MiB is compressed after a full flush, so every block after the first is the same."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-8]  # the final empty block, without the 2 MiB trailer
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    trailer = crc.to_bytes(4, "little") + ((megabytes << 20) % (1 << 32)).to_bytes(4, "little")
    return first + middle * (megabytes - 1) + end + trailer
