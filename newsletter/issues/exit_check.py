"""The exit check: the last pass over HTML that is sent or served, after MJML and premailer.

Post HTML is sanitized when it enters the store (nh3, ``content/html.py``), but what leaves is
what counts: MJML re-serialises attributes, templates are edited, and old sends are stored as
they went out. ``make_safe`` parses the final HTML (lxml) and removes, wherever they are:

- script-capable elements: ``<script>``, ``<iframe>``, ``<frame>``, ``<frameset>``,
  ``<object>``, ``<embed>``, ``<applet>``, ``<form>``, ``<base>``, ``<portal>``, ``<svg>``,
  ``<math>``, and ``<meta http-equiv>`` that refreshes or sets cookies;
- every event-handler attribute (``on*``);
- URL attributes (``href``, ``src``, ``action``, ``srcset``...) whose scheme is not ``http``,
  ``https``, ``mailto``, ``tel`` or ``cid`` (so no ``javascript:``, ``vbscript:`` or ``data:``,
  images included); values without a scheme (relative links, ``%%placeholders%%``) stay;
- ``style`` attributes and ``<style>`` elements with ``expression(``, ``javascript:``,
  ``behavior:`` or ``-moz-binding``; comments (Outlook's conditional ones) holding any of the
  above.

The result is always lxml's own serialisation of what it parsed, so a browser reads the same
document the check read (an entity lxml does not know, such as ``&colon;``, is written as
text). Each removal is reported; the build turns them into errors, so nothing unsafe is sent,
and ``newsletter check`` names what was removed.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

import lxml.html
from lxml import etree

UNSAFE_ELEMENTS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base",
        "portal", "svg", "math",
    }
)  # fmt: skip
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
URL_ATTRIBUTES = frozenset(
    {
        "href", "src", "action", "formaction", "background", "poster", "cite", "longdesc",
        "lowsrc", "dynsrc", "data", "codebase", "xlink:href", "ping", "manifest", "icon",
        "usemap", "archive", "classid",
    }
)  # fmt: skip
_UNSAFE_META = {"refresh", "set-cookie"}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")
_UNSAFE_CSS = re.compile(r"expression\(|javascript:|vbscript:|behavior:|-moz-binding")
_UNSAFE_COMMENT = re.compile(
    r"<\s*/?\s*(?:" + "|".join(sorted(UNSAFE_ELEMENTS | {"meta"})) + r")\b"
    r"|\bon[a-z]+\s*=|javascript:|vbscript:|data:",
    re.IGNORECASE,
)
_DOCTYPE = "<!doctype html>"


@dataclass(frozen=True)
class Checked:
    """The HTML as it may leave, and what had to be removed to make it so."""

    html: str
    removed: tuple[str, ...] = ()


def make_safe(html: str) -> Checked:
    """``html`` without anything that could run in a mail client or a browser."""
    if not html.strip():
        return Checked(html)
    root = lxml.html.document_fromstring(html)
    removed: list[str] = []
    stack = [root]
    while stack:
        element = stack.pop()
        for child in list(element):
            if not isinstance(child.tag, str):
                if _comment_is_unsafe(child):
                    removed.append(f"comment {_short(str(child.text))}")
                    _drop(child)
                continue
            reason = _element_reason(child)
            if reason:
                removed.append(reason)
                _drop(child)
                continue
            removed.extend(_clean_attributes(child))
            stack.append(child)
    removed = [*_clean_attributes(root), *removed]
    doctype = _DOCTYPE if html.lstrip()[:9].lower().startswith("<!doctype") else None
    body = etree.tostring(root, method="html", encoding="unicode", pretty_print=True)
    return Checked(f"{doctype}\n{body}" if doctype else body, tuple(removed))


def unsafe_url(value: str) -> bool:
    """True when a URL attribute's value has a scheme other than the safe ones."""
    cleaned = _IGNORED_IN_URL.sub("", html_lib.unescape(value)).lower()
    found = _SCHEME.match(cleaned)
    return found is not None and found.group(1) not in SAFE_SCHEMES


def _element_reason(element: etree._Element) -> str:
    tag = str(element.tag).lower()
    if tag in UNSAFE_ELEMENTS or tag.rsplit(":", 1)[-1] in UNSAFE_ELEMENTS:
        return f"<{tag}> element"
    if tag == "meta":
        equiv = " ".join((element.get("http-equiv") or "").split()).lower()
        if equiv in _UNSAFE_META:
            return f'<meta http-equiv="{equiv}"> element'
    if tag == "style" and _UNSAFE_CSS.search(_css(element.text or "")):
        return "<style> element with script in its CSS"
    return ""


def _clean_attributes(element: etree._Element) -> list[str]:
    removed = []
    tag = str(element.tag).lower()
    for name, value in list(element.attrib.items()):
        key = str(name).lower()
        if key.startswith("on"):
            reason = f"{key} attribute of <{tag}>"
        elif key in URL_ATTRIBUTES and unsafe_url(value):
            reason = f"{key} {_short(value)} of <{tag}>"
        elif key == "srcset" and _unsafe_srcset(value):
            reason = f"srcset {_short(value)} of <{tag}>"
        elif key == "style" and _UNSAFE_CSS.search(_css(value)):
            reason = f"style {_short(value)} of <{tag}>"
        else:
            continue
        del element.attrib[name]
        removed.append(reason)
    return removed


def _unsafe_srcset(value: str) -> bool:
    urls = [candidate.split()[0] for candidate in value.split(",") if candidate.split()]
    return any(unsafe_url(url) for url in urls)


def _comment_is_unsafe(node: etree._Element) -> bool:
    return isinstance(node, etree._Comment) and bool(_UNSAFE_COMMENT.search(node.text or ""))


def _css(text: str) -> str:
    """CSS lower-cased without the whitespace, comments and escapes used to hide words."""
    text = re.sub(r"/\*.*?\*/", "", html_lib.unescape(text), flags=re.S)
    return re.sub(r"[\s\\]+", "", text).lower()


def _drop(node: etree._Element) -> None:
    """Remove an element or comment with everything in it; the text after it stays."""
    parent = node.getparent()
    if parent is None:
        return
    tail = node.tail or ""
    previous = node.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(node)


def _short(value: str, limit: int = 60) -> str:
    value = " ".join(value.split())
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")
