"""Memory and time of a gzip bomb against `content sync`: a loopback feed that sends 1 MB of
gzip inflating to 1 GiB. Each run is a fresh `newsletter content sync` process; its peak
resident memory (ru_maxrss) is compared with a run against an ordinary feed.

Prints medians of several runs. Aim: the bomb ends in about a second, at most a few MB above
the ordinary sync (source_max_bytes is 20 MB by default: that is the most it may hold).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_site import FakePost, FakeSite, Raw, Serving, rss  # noqa: E402
from tests.source_kit import gzip_zeros  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CHILD = """
import resource, sys
from newsletter.cli import app
try:
    app(["content", "sync"])
finally:
    print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _run(folder: str, url: str) -> tuple[int, float, int]:
    """(peak RSS in KiB, seconds, exit code) of one sync process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{folder}/bench.db",
        "NEWSLETTER_SOURCES": json.dumps([{"name": "feed", "type": "feed", "url": url}]),
        "NEWSLETTER_HTTP_RETRIES": "0",
    }
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd=folder
    )
    took = time.perf_counter() - began
    peak = int(done.stderr.strip().splitlines()[-1].split()[1])
    return peak, took, done.returncode


def main() -> None:
    posts = [FakePost(id=n, title=f"Post {n}", content=f"<p>Post {n}.</p>") for n in range(10)]
    site = FakeSite(posts=posts)
    bomb = gzip_zeros(1024)
    with Serving(site) as url, tempfile.TemporaryDirectory() as folder:
        site.feeds["/feed/"] = rss(url, posts)
        site.routes["/bomb.xml"] = Raw(
            bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
        )
        plain = [_run(folder, f"{url}/feed/") for _ in range(RUNS)]
        bombed = [_run(folder, f"{url}/bomb.xml") for _ in range(RUNS)]
    base = statistics.median(p for p, _, _ in plain)
    print(f"gzip bomb: {len(bomb) / 1e6:.1f} MB of gzip inflating to 1 GiB, {RUNS} runs each")
    print(f"  ordinary feed  peak RSS median {base / 1024:.0f} MiB")
    for label, runs in (("ordinary feed", plain), ("gzip bomb", bombed)):
        peak = statistics.median(p for p, _, _ in runs)
        took = statistics.median(t for _, t, _ in runs)
        codes = sorted({c for _, _, c in runs})
        print(
            f"  {label:13}  +{(peak - base) / 1024:.0f} MiB over the ordinary sync, "
            f"{took:.2f} s, exit {codes}"
        )


if __name__ == "__main__":
    main()
