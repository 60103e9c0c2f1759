"""Generators of malformed WordPress answers and odd RSS feeds, for the source fuzz tests.

Each WordPress case is an answer WordPress itself would never give: the whole body of the wrong
shape, or one post with a wrong type, a missing key or an impossible date. The seeded random
cases combine several faults. Every case is a (label, status, content type, body bytes) tuple.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

JSON = "application/json; charset=UTF-8"
WRONG_VALUES: list[Any] = [5, 1.5, -1, True, None, "text", [], [1, 2], {}, {"rendered": 5}]
DATES = [
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "1899-12-31T23:59:59",
    "yesterday",
    "2016-13-45T00:00:00",
    "2016-10-27T03:00:00+99:00",
    " ",
]


def wordpress_cases(
    post: dict[str, Any], *, random_cases: int = 30, seed: int = 10
) -> Iterator[tuple[str, int, str, bytes]]:
    """Malformed answers to ``/wp-json/wp/v2/posts``, given one good post (with ``_embedded``)."""
    whole: list[tuple[str, object]] = [
        ("a number", 5),
        ("null", None),
        ("a string", "posts"),
        ("an object", {"code": "rest_no_route"}),
        ("a list of numbers", [1, 2, 3]),
        ("a list with null", [post, None]),
        ("a list of lists", [[post]]),
    ]
    for label, body in whole:
        yield label, 200, JSON, json.dumps(body).encode()
    yield "deeply nested", 200, JSON, b"[" * 100_000 + b"]" * 100_000
    yield "HTML with a JSON type", 200, JSON, b"<!DOCTYPE html><html><body>Oops</body></html>"
    yield "HTML", 200, "text/html; charset=UTF-8", b"<html><body>Maintenance</body></html>"
    yield "truncated JSON", 200, JSON, json.dumps([post]).encode()[:-20]
    yield "not UTF-8", 200, JSON, b'[{"id": 1, "title": "\xff\xfe"}]'
    for key, value in _one_field_faults(post):
        bad = copy.deepcopy(post)
        _set(bad, key, value)
        yield f"{'.'.join(key)} = {value!r}"[:80], 200, JSON, json.dumps([post, bad]).encode()
    for key in (("id",), ("link",), ("title",), ("content",), ("date_gmt",), ("title", "rendered")):
        bad = copy.deepcopy(post)
        _parent(bad, key).pop(key[-1])
        yield f"{'.'.join(key)} missing", 200, JSON, json.dumps([post, bad]).encode()
    rng = random.Random(seed)
    faults = list(_one_field_faults(post))
    for n in range(random_cases):
        bad = copy.deepcopy(post)
        for key, value in rng.sample(faults, 3):
            _set(bad, key, value)
        yield f"random {n}", 200, JSON, json.dumps([post, bad]).encode()


def _one_field_faults(post: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], Any]]:
    value: Any
    for value in (None, "12", 1.5, True, [1], {"id": 1}, "abc"):
        yield ("id",), value
    for value in (5, None, ["https://x.example/"], {"href": "x"}):
        yield ("link",), value
    for field in ("title", "content", "excerpt"):
        for value in (5, "plain string", [1], None):
            yield (field,), value
        for value in (5, None, ["x"], {"raw": "x"}):
            yield (field, "rendered"), value
    yield ("content", "protected"), "yes"
    for field in ("date_gmt", "modified_gmt"):
        for value in [*DATES, 5, ["2016-10-27T03:00:00"]]:
            yield (field,), value
    yield ("slug",), 5
    for value in (5, [1], "x"):
        yield ("_embedded",), value
    for part in ("author", "wp:featuredmedia", "wp:term"):
        for value in (5, "x", {"a": 1}):
            yield ("_embedded", part), value
    yield ("_embedded", "wp:term"), [5]
    yield ("_embedded", "wp:term"), [[{"taxonomy": "category", "slug": 5}]]
    yield ("_embedded", "author"), [{"name": ["x"]}]
    yield (
        ("_embedded", "wp:featuredmedia"),
        [{"source_url": "https://x.example/a.jpg", "alt_text": 5}],
    )


def _parent(post: dict[str, Any], key: tuple[str, ...]) -> dict[str, Any]:
    node = post
    for part in key[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    return node


def _set(post: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    _parent(post, key)[key[-1]] = copy.deepcopy(value)


def odd_feed_items() -> Iterator[tuple[str, str]]:
    """RSS items feedparser accepts that a careless reader mishandles: (label, item XML)."""
    link = "<link>https://odd.example/post/</link>"
    title = "<title>Odd</title>"
    for date in (
        "Mon, 01 Jan 0001 00:00:00 +0000",
        "Fri, 31 Dec 9999 23:59:59 -1400",
        "Sat, 01 Jan 1800 00:00:00 GMT",
        "Thu, 31 Feb 2016 25:61:61 GMT",
        "0",
        "",
    ):
        yield f"pubDate {date!r}", f"<item>{title}{link}<pubDate>{date}</pubDate></item>"
    yield (
        "updated year 1",
        (
            f"<item>{title}{link}<pubDate>Tue, 01 Nov 2016 10:00:00 +0700</pubDate>"
            "<atom:updated xmlns:atom='http://www.w3.org/2005/Atom'>0001-01-01T00:00:00Z</atom:updated>"
            "</item>"
        ),
    )
    yield "no link", f"<item>{title}<description>x</description></item>"
    yield "relative link", f"<item>{title}<link>/post/</link></item>"
    yield "javascript link", f"<item>{title}<link>javascript:alert(1)</link></item>"
    yield "empty category", f"<item>{title}{link}<category/><category></category></item>"
    yield "media without url", f"<item>{title}{link}<media:content medium='image'/></item>"
    yield "enclosure without href", f"<item>{title}{link}<enclosure type='image/png'/></item>"
    yield "title of markup only", f"<item><title>&lt;b&gt;&lt;/b&gt;</title>{link}</item>"
    yield "huge guid", f"<item>{title}{link}<guid>{'g' * 5000}</guid></item>"
    yield (
        "empty content",
        (f"<item>{title}{link}<content:encoded></content:encoded><description/></item>"),
    )
