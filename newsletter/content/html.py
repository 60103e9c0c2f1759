"""Post HTML made safe for email: sanitized (nh3), links made absolute, re-serialised well-formed.

MRML (mjml-python) rejects HTML that is not well-formed (an unclosed tag, a bare ``<``, a stray
end tag), so every post body passes through here before it is stored, and so before it can reach
a template.

The re-serialisation also never quotes an attribute value with ``'``: lxml does so for a value
holding ``"``, and MRML re-quotes such a value with ``"`` without escaping the ``"`` inside,
turning ``title='x" onmouseover="...'`` into a live attribute. Every ``"`` in a value is
written ``&quot;`` instead (``%22`` in a URL), which MRML keeps as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin

import lxml.html
import nh3
from lxml import etree

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "del", "em", "figcaption",
    "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q",
    "s", "small", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_URL_ATTRIBUTES = {("a", "href"), ("img", "src")}
# Attributes libxml2 writes percent-encoded (so a stand-in character would be too).
_URI_ESCAPED = {"href", "src", "action", "name"}
_QUOTE = "\ufdd0"  # a noncharacter: stands for '"' in attribute values until serialised
# Characters XML (and so lxml) refuses: C0 controls but tab and line ends, lone surrogates,
# U+FFFE/U+FFFF. A post holding one (a vertical tab pasted from a word processor) would
# otherwise fail its whole source.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EMPTY_PARAGRAPH = re.compile(r"<p>(?:\s|&nbsp;|&#160;|\u00a0|<br>|<br/>)*</p>")

# WordPress shortcodes. Only names WordPress or its common plugins use, names with "_" or "-",
# or names with attributes count, so "[sic]" or "[1]" in prose is left alone. Captions keep
# their image and text; every other shortcode goes with what it encloses (embed URLs, forms).
_KNOWN_SHORTCODES = "caption|wp_caption|gallery|embed|audio|video|playlist"
_SHORTCODE_NAME = rf"(?:{_KNOWN_SHORTCODES}|[a-z][a-z0-9]*[_-][a-z0-9_-]+)"
_KEPT_CONTENT = re.compile(r"\[(caption|wp_caption)\b[^\]]*\](.*?)\[/\1\]", flags=re.S | re.I)
_ENCLOSING = re.compile(rf"\[({_SHORTCODE_NAME})\b[^\]]*\].*?\[/\1\]", flags=re.S | re.I)
_SINGLE = re.compile(
    rf"\[/?(?:{_SHORTCODE_NAME}\b[^\]]*|[a-z][a-z0-9]*\s+[a-z_-]+=[^\]]*)/?\]", flags=re.I
)
# A summary's tail that promises more: "[…]", "[...]", "Read more", "Continue reading →".
_MORE_TAIL = re.compile(
    r"(?:\s*(?:\[\s*(?:…|\.\.\.|&hellip;)\s*\]|(?:read\s+more|continue\s+reading)"
    r"(?:\s*(?:→|»|›|>>|\.\.\.|…))?))+\s*$",
    flags=re.I,
)
_MORE_LINK = re.compile(
    r"^\s*(?:(?:read\s+more|continue\s+reading)\b|more\s*(?:→|»|›|…|\.\.\.)?\s*$)", flags=re.I
)


def strip_shortcodes(html: str) -> str:
    """WordPress shortcodes removed; a caption's own image and text are kept."""
    html = _KEPT_CONTENT.sub(lambda m: m.group(2), html)
    html = _ENCLOSING.sub("", html)
    return _SINGLE.sub("", html)


def sanitize(html: str, base_url: str = "") -> str:
    """Untrusted HTML reduced to what an email can show, with absolute links, well-formed."""

    def absolute(tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) in _URL_ATTRIBUTES and base_url:
            return urljoin(base_url, value.strip())
        return value

    cleaned = nh3.clean(
        _NOT_XML.sub("", html),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        strip_comments=True,
        link_rel=None,
        clean_content_tags={"script", "style", "template", "noscript"},
        attribute_filter=absolute,
    )
    cleaned = _EMPTY_PARAGRAPH.sub("", cleaned)
    return _EMPTY_PARAGRAPH.sub("", well_formed(cleaned))


def plain_text(html: str) -> str:
    """Text of an untrusted HTML snippet (a WordPress title), entities decoded, tags dropped."""
    return text_of(sanitize(html))


def well_formed(html: str, text: Callable[[str], str] | None = None) -> str:
    """Re-serialise an HTML fragment so every tag is closed and every ``<`` and ``&`` escaped,
    and every attribute value is double-quoted with ``&quot;`` inside (see the module doc).

    ``text``, when given, is applied to every text node and attribute value first.
    """
    if not html.strip():
        return ""
    change = text or (lambda value: value)
    parts = lxml.html.fragments_fromstring(html)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(_escape(change(part)))
            continue
        for element in part.iter():
            if isinstance(element.tag, str):
                _quote_safe(element, change)
            if element.text and isinstance(element.tag, str):
                element.text = change(element.text)
            if element.tail:
                element.tail = change(element.tail)
        serialised = etree.tostring(part, method="html", encoding="unicode")
        out.append(serialised.replace(_QUOTE, "&quot;"))
    return "".join(out).strip()


def _quote_safe(element: etree._Element, change: Callable[[str], str]) -> None:
    for name, value in element.attrib.items():
        value = change(value.replace(_QUOTE, ""))
        if '"' in value:
            value = value.replace('"', "%22" if name.lower() in _URI_ESCAPED else _QUOTE)
        element.set(name, value)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_of(html: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    if not html.strip():
        return ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return " ".join(root.text_content().split())


def summarize(html: str, length: int) -> str:
    """The first paragraphs as plain text, cut at a word boundary to at most ``length`` chars.

    A "Read more" link and a "[…]" tail (WordPress excerpts end so) are left out; a text that
    was cut ends in "…".
    """
    if not html.strip():
        return ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for link in list(root.iter("a")):
        if _MORE_LINK.match(link.text_content()):
            link.drop_tree()
    paragraphs = [" ".join(p.text_content().split()) for p in root.iter("p")]
    text = " ".join(p for p in paragraphs if p) or " ".join(root.text_content().split())
    trimmed = _MORE_TAIL.sub("", text).rstrip(" ,;:-–—")
    if trimmed != text and trimmed:
        text = trimmed if trimmed.endswith((".", "!", "?", "…")) else trimmed + "…"
    if len(text) <= length:
        return text
    cut = text[: length - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-–—")
    return cut + "…"
