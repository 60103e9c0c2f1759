"""`content sync` against generated hostile answers: one line naming the source, exit 1, the
source's stored posts unchanged, the other source synced; never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.fake_site import Raw, rss
from tests.hostile_sources import odd_feed_items, wordpress_cases
from tests.source_kit import GOOD, feed_source, set_sources, site, stored, wp_source

__all__ = ["site"]  # the fixture


def _sync() -> tuple[int, str, str]:
    try:
        return run_cli("content", "sync")
    except Exception as exc:  # run_cli re-raises what escaped the command: a traceback
        pytest.fail(f"content sync raised {type(exc).__name__}: {exc}")


def test_malformed_wordpress_answers_are_one_line_and_change_nothing(site, monkeypatch):
    set_sources(monkeypatch, wp_source(site), feed_source(site))
    code, out, err = _sync()
    assert code == 0, err
    before = stored("site")
    assert len(before) == 2
    good = GOOD[0].as_json(site.url, embed=True)
    cases = list(wordpress_cases(good))
    assert 100 < len(cases) < 300
    for label, status, kind, body in cases:
        site.routes["/wp-json/wp/v2/posts"] = Raw(body, status=status, content_type=kind)
        code, out, err = _sync()
        lines = err.strip().splitlines()
        assert code == 1, f"{label}: exit {code}\n{out}{err}"
        assert len(lines) == 2, f"{label}: {err}"
        assert lines[0].startswith("error: source 'site': GET "), f"{label}: {err}"
        assert f"{site.url}/wp-json/wp/v2/posts" in lines[0], f"{label}: {err}"
        assert lines[1].endswith("failed, stored posts unchanged: site"), f"{label}: {err}"
        assert "good: " in out, f"{label}: the other source did not sync: {out}"
        assert stored("site") == before, label


def test_malformed_category_lookup_is_one_line(site, monkeypatch):
    for body in (b'[{"id": "abc", "slug": "news"}]', b"5", b'[{"id": true, "slug": "news"}]'):
        site.routes["/wp-json/wp/v2/categories"] = Raw(body)
        set_sources(monkeypatch, {**wp_source(site), "categories": ["news"]}, feed_source(site))
        code, _, err = _sync()
        assert code == 1 and err.startswith("error: source 'site': "), err
        assert len(err.strip().splitlines()) == 2


def test_odd_feed_items_never_crash_and_give_usable_dates(site, monkeypatch):
    """Each odd item beside a good one: the sync ends in one line, or imports with plausible
    dates and a warning; never a traceback."""
    for number, (label, item) in enumerate(odd_feed_items()):
        path = f"/odd-{number}.xml"
        site.feeds[path] = rss(site.url, GOOD[:1], extra_items=item)
        name = f"odd-{number}"
        set_sources(monkeypatch, feed_source(site, name, path), feed_source(site))
        code, out, err = _sync()
        if code:
            lines = err.strip().splitlines()
            assert len(lines) == 2 and lines[0].startswith(f"error: source '{name}'"), label
            assert stored(name) == {}, label
            continue
        assert f"{name}: " in out, f"{label}: {out}{err}"
        code, out, err = run_cli("content", "list", "--format", "json")
        assert code == 0, f"{label}: {err}"
        assert all(
            "1900-01-01" <= row["published_at"][:10] < "2200"
            for row in __import__("json").loads(out)
        ), label
