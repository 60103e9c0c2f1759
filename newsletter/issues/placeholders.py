"""Per-recipient placeholders: every rule about ``%%name%%`` tokens lives here.

Our templates put ``recipient.email``, ``recipient.name``, ``recipient.unsubscribe_url`` and
``recipient.view_url`` in an issue as ``%%email%%``, ``%%name%%``...; the compiled issue keeps
them, and the send step fills them per recipient, so an issue is compiled once whatever the
audience size. ``%%`` survives MJML and premailer untouched, even inside an ``href``.

A send stores its HTML with each placeholder turned into its ``_html`` twin (``%%name_html%%``):
one set of literal substitutions (what SendGrid and the outbox apply, to subject, text and HTML
alike) then carries the raw value for the text part and the HTML-escaped value for the HTML part.
The public archive shows that stored HTML with the placeholders neutralised.

Placeholders come only from the template: every other value a template shows (a post's body,
title, URLs, alt text, author, categories; the issue file's text; the settings) is *data*, and
data never becomes a placeholder, wherever it came from. The compiler passes data through
``as_data``, which writes each ``%`` as a stand-in character (``DATA_PERCENT``) that MJML,
premailer and the text part carry through untouched; ``finish_html`` and ``finish_text`` turn
the stand-ins back at the very end: a lone one into ``%``, one next to another ``%`` (so part of
a ``%%``) into ``&#37;`` in HTML (it renders as ``%``) and ``％`` (U+FF05) in text. So the
compiled issue holds ``%%`` only where the template put a placeholder, and the pre-send checks
compare what the output holds with what the template put (``template_counts``).

The signup confirmation email has one placeholder of its own, ``%%confirm_url%%``, which is not
a recipient value an issue may use (the pre-send checks reject it in an issue).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Mapping

NAMES = ("email", "name", "unsubscribe_url", "view_url")
CONFIRM_URL = "confirm_url"  # the confirmation email's own, filled as is: never an issue's
PATTERN = re.compile(r"%%([a-z_]+)%%")
HTML_TWIN = "_html"
# DOTTED OBELOS, standing for a "%" of data until the end: a printable character (MRML writes a
# private-use one as "\u{e025}" in attributes) that text hardly ever holds; one that does is
# shown as "%", which is harmless (see finish_html)
DATA_PERCENT = "\u2e13"
_DATA_PERCENT_URI = re.compile("%E2%B8%93", re.IGNORECASE)  # how lxml writes it in an href
_PAIRED = re.compile(f"(?<=[%{DATA_PERCENT}]){DATA_PERCENT}|{DATA_PERCENT}(?=[%{DATA_PERCENT}])")
TEXT_PERCENT = "\uff05"  # FULLWIDTH PERCENT SIGN: a "%" of data beside another, in the text
_ATTRIBUTES = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""  # a tag's attributes, quoted ">" included


def token(name: str) -> str:
    """The token the send step replaces; premailer leaves it alone inside ``href``."""
    return f"%%{name}%%"


def used(*bodies: str) -> tuple[str, ...]:
    """The known placeholders that appear in any of ``bodies``, sorted."""
    found: set[str] = set()
    for body in bodies:
        found.update(PATTERN.findall(body))
    return tuple(sorted(found & set(NAMES)))


def unknown(body: str) -> list[str]:
    """Placeholder-shaped tokens in ``body`` that no recipient value fills, sorted."""
    return sorted(set(PATTERN.findall(body)) - set(NAMES))


def with_html_twins(html: str) -> str:
    """The compiled HTML as a send stores it: each ``%%name%%`` becomes ``%%name_html%%``."""
    return PATTERN.sub(lambda m: token(m.group(1) + HTML_TWIN), html)


def used_by_send(html: str, text: str) -> set[str]:
    """The placeholders a send's stored content uses (``_html`` twins by their own name)."""
    return set(PATTERN.findall(text)) | {
        name.removesuffix(HTML_TWIN) for name in PATTERN.findall(html)
    }


def substitutions(values: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """Token -> value for one recipient: ``%%name%%`` raw, ``%%name_html%%`` HTML-escaped.

    Only ``names`` (what the content uses) are given; KeyError if one has no value.
    """
    wanted = list(names)
    missing = set(wanted) - set(values)
    if missing:
        raise KeyError(f"no value for placeholders: {', '.join(sorted(missing))}")
    filled: dict[str, str] = {}
    for name in wanted:
        value = values[name]
        filled[token(name)] = value
        filled[token(name + HTML_TWIN)] = html_lib.escape(value, quote=True)
    return filled


def neutralise(
    html: str, values: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> str:
    """Replace ``%%name%%`` and ``%%name_html%%`` by the escaped public value (or nothing).

    A link (``<a href="%%name%%">``) to a placeholder in ``labels`` gets that text instead of
    its own: the archive's "Unsubscribe" link leads to the signup page, so it says "Subscribe".
    """
    for name, label in (labels or {}).items():
        link = re.compile(
            rf"(<a\b{_ATTRIBUTES}\bhref\s*=\s*([\"']?)%%{name}(?:{HTML_TWIN})?%%\2{_ATTRIBUTES}>)"
            r".*?(</a\s*>)",
            re.IGNORECASE | re.DOTALL,
        )
        text = html_lib.escape(label, quote=False).replace("\\", "\\\\")
        html = link.sub(rf"\g<1>{text}\g<3>", html)

    def value(match: re.Match[str]) -> str:
        name = match.group(1).removesuffix(HTML_TWIN)
        return html_lib.escape(values.get(name, ""), quote=True)

    return PATTERN.sub(value, html)


def as_data(value: str) -> str:
    """A data value as a template may show it: it can never make a ``%%name%%``."""
    return value.replace("%", DATA_PERCENT)


def finish_html(html: str) -> str:
    """Compiled HTML with the data stand-ins written back (see the module doc)."""
    html = _DATA_PERCENT_URI.sub(DATA_PERCENT, html)
    return _PAIRED.sub("&#37;", html).replace(DATA_PERCENT, "%")


def finish_text(text: str) -> str:
    """The plain-text part with the data stand-ins written back (see the module doc)."""
    text = _DATA_PERCENT_URI.sub(DATA_PERCENT, text)
    return _PAIRED.sub(TEXT_PERCENT, text).replace(DATA_PERCENT, "%")


def counts(body: str) -> dict[str, int]:
    """How many times each known placeholder appears in ``body``."""
    found: dict[str, int] = {}
    for name in PATTERN.findall(body):
        if name in NAMES:
            found[name] = found.get(name, 0) + 1
    return found
