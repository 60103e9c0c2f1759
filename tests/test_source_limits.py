"""Limits on what a remote source may send: decompressed bytes and one deadline per source.

Real HTTP on loopback; the gzip bomb runs the real command in a process of its own, whose peak
resident memory it measures.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time

from tests.conftest import ROOT, run_cli
from tests.fake_site import Raw
from tests.source_kit import feed_source, gzip_zeros, set_sources, site, stored, wp_source

__all__ = ["site"]  # the fixture

CHILD = """
import resource, sys
from newsletter.cli import app
try:
    app(["content", "sync"])
finally:
    print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _sync_in_child() -> tuple[int, str, int, float]:
    """`content sync` in a new process: exit code, stderr, peak RSS in KiB, seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("maxrss "), done.stderr
    return done.returncode, "\n".join(lines[:-1]), int(lines[-1].split()[1]), took


def _assert_one_failure(err: str, name: str, *phrases: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 2, err  # the source's one line, and the summary of the sync
    assert lines[0].startswith(f"error: source '{name}': GET "), err
    for phrase in phrases:
        assert phrase in lines[0], err
    assert lines[1] == f"1 of 2 sources synced; failed, stored posts unchanged: {name}"


def test_gzip_bomb_stops_at_the_limit_in_little_memory(site, monkeypatch):
    set_sources(monkeypatch, feed_source(site))
    code, _, baseline, _ = _sync_in_child()
    assert code == 0
    bomb = gzip_zeros(1024)  # 1 MB on the wire, 1 GiB inflated
    site.routes["/bomb.xml"] = Raw(
        bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
    )
    set_sources(monkeypatch, feed_source(site, "bomb", "/bomb.xml"), feed_source(site))
    monkeypatch.setenv("NEWSLETTER_SOURCE_MAX_BYTES", "2000000")
    code, err, peak, took = _sync_in_child()
    assert code == 1
    _assert_one_failure(err, "bomb", "larger than 2,000,000 bytes (source_max_bytes)")
    assert peak - baseline < 50_000, f"peak RSS grew by {(peak - baseline) // 1024} MiB"
    assert took < 20
    assert stored("bomb") == {}


def test_nested_gzip_is_refused(site, monkeypatch):
    """A few KB that inflate to a GiB through two layers (httpx would undo both at once)."""
    nested = gzip.compress(gzip_zeros(1024))
    assert len(nested) < 10_000
    site.routes["/nested.xml"] = Raw(nested, headers={"Content-Encoding": "gzip, gzip"})
    set_sources(monkeypatch, feed_source(site, "nested", "/nested.xml"), feed_source(site))
    code, out, err = run_cli("content", "sync")
    assert code == 1 and "good: 2 new" in out
    _assert_one_failure(err, "nested", "Content-Encoding 'gzip, gzip' is not supported")


def test_large_plain_answer_is_refused(site, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SOURCE_MAX_BYTES", "100000")
    big = b"[" + b" " * 200_000 + b"]"
    site.routes["/wp-json/wp/v2/posts"] = Raw(big)
    set_sources(monkeypatch, wp_source(site), feed_source(site))
    code, _, err = run_cli("content", "sync")
    assert code == 1
    _assert_one_failure(err, "site", "larger than 100,000 bytes")
    # without a Content-Length the body is counted as it arrives
    site.routes["/wp-json/wp/v2/posts"] = Raw(big, headers={"Content-Length": ""})
    code, _, err = run_cli("content", "sync")
    assert code == 1 and "larger than 100,000 bytes" in err
    assert stored("site") == {}


def test_corrupt_gzip_is_one_line(site, monkeypatch):
    site.routes["/bad.xml"] = Raw(b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"})
    set_sources(monkeypatch, feed_source(site, "bad", "/bad.xml"), feed_source(site))
    code, _, err = run_cli("content", "sync")
    assert code == 1
    _assert_one_failure(err, "bad", "the gzip answer is corrupt")


def test_slow_drip_is_cut_by_the_time_limit(site, monkeypatch):
    """A byte every 50 ms never trips the per-read timeout; the source's deadline does."""
    body = rss(site.url).encode()
    site.routes["/drip.xml"] = Raw(body, content_type="application/rss+xml", drip=0.05)
    monkeypatch.setenv("NEWSLETTER_SOURCE_TIME_LIMIT", "1")
    set_sources(monkeypatch, feed_source(site, "drip", "/drip.xml"), feed_source(site))
    whole = len(body) * 0.05  # seconds the whole drip would take
    assert whole > 30
    started = time.monotonic()
    code, out, err = run_cli("content", "sync")
    assert time.monotonic() - started < whole / 2  # cut long before the end (a busy CI is slow)
    assert code == 1 and "good: 2 new" in out
    _assert_one_failure(err, "drip", "no complete answer within the time limit (1 s")


def test_redirects_are_followed_and_their_bodies_not_read(site, monkeypatch):
    site.routes["/old-feed"] = Raw(
        gzip_zeros(1024),
        status=301,
        headers={"Location": f"{site.url}/feed/", "Content-Encoding": "gzip"},
    )
    monkeypatch.setenv("NEWSLETTER_SOURCE_MAX_BYTES", "100000")
    set_sources(monkeypatch, feed_source(site, "moved", "/old-feed"))
    code, out, err = run_cli("content", "sync")
    assert code == 0 and "moved: 2 new" in out, err


def rss(url: str) -> str:
    from tests.fake_site import rss as write_rss
    from tests.source_kit import GOOD

    return write_rss(url, GOOD)
