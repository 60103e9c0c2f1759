"""Sync speed: a loopback WordPress-shaped site with 2,000 posts over 20 pages.

Prints the median of several runs of a full sync (into an empty SQLite store) and of an
incremental sync after a handful of posts were edited. Aim: full under 10 s, incremental under 1 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import db  # noqa: E402
from newsletter.config import Settings, get_settings  # noqa: E402
from newsletter.content.sources import SyncRequest, sync_sources  # noqa: E402
from tests.fake_site import FakePost, FakeSite, Serving  # noqa: E402

POSTS = 2000
RUNS = int(__import__("os").environ.get("BENCH_RUNS", "5"))
EDITED = 5


def _body(n: int) -> str:
    paragraph = (
        f"<p>Post {n}: governments of the Mekong region met with civil society to talk about "
        "victim identification, referral and the <a href='/reports/'>annual report</a>.</p>\n"
    )
    return (
        f'<p>[caption id="attachment_{n}"]<img src="/wp-content/uploads/{n}.jpg" alt="photo">'
        f" A caption[/caption]</p>\n" + paragraph * 8 + "<p>&nbsp;</p>\n<p>การประชุม 会议</p>"
    )


def _site() -> FakeSite:
    start = datetime(2010, 1, 1)
    posts = [
        FakePost(
            id=n,
            slug=f"post-{n}",
            title=f"Post number {n}",
            content=_body(n),
            excerpt=f"<p>Summary of post {n} [&hellip;]</p>",
            date_gmt=(start + timedelta(hours=n)).isoformat(),
            categories=[2, 3],
            tags=[10],
            image=f"https://example.org/wp-content/uploads/{n}.jpg",
        )
        for n in range(1, POSTS + 1)
    ]
    return FakeSite(posts=posts)


def _sync(settings: Settings, engine: sa.Engine) -> tuple[float, str]:
    began = time.perf_counter()
    [outcome] = sync_sources(settings, engine, SyncRequest())
    elapsed = time.perf_counter() - began
    assert outcome.result is not None, outcome.error
    result = outcome.result
    return elapsed, f"{len(result.created)} new, {len(result.updated)} updated"


def main() -> None:
    site = _site()
    full, incremental = [], []
    with Serving(site) as url, tempfile.TemporaryDirectory() as folder:
        for run in range(RUNS):
            settings = get_settings(
                database_url=f"sqlite:///{folder}/bench-{run}.db",
                sources=[{"name": "site", "type": "wordpress", "url": url}],
                http_backoff=0.01,
            )
            engine = db.make_engine(settings.database_url)
            db.upgrade(engine)
            seconds, what = _sync(settings, engine)
            full.append(seconds)
            for post in site.posts[run * EDITED : (run + 1) * EDITED]:
                post.title += " (edited)"
                post.modified_gmt = (datetime(2030, 1, 1) + timedelta(minutes=run)).isoformat()
            seconds, again = _sync(settings, engine)
            incremental.append(seconds)
            engine.dispose()
    pages = -(-POSTS // 100)
    print(f"sync: {POSTS} posts over {pages} pages from a loopback WordPress, {RUNS} runs")
    print(f"  full sync         median {statistics.median(full):.2f} s  ({what})")
    print(f"  incremental sync  median {statistics.median(incremental):.3f} s  ({again})")


if __name__ == "__main__":
    main()
