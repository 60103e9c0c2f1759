"""The plain-text part, generated from the compiled HTML.

Headings are underlined, links become ``text (URL)``, list items get a dash, paragraphs are
wrapped at 76 columns, and images, hidden elements (the preheader), ``<head>`` and Outlook
conditional comments leave nothing behind. Tried and rejected: inscriptis pads MJML's layout
tables into columns of spaces and prints image links as ``[ ](url)``; html2text writes Markdown.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

WIDTH = 76
_SKIP = {"head", "style", "script", "title", "img", "template", "noscript"}
_BLOCK = {
    "address", "article", "blockquote", "br", "center", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_UNDERLINE = {"h1": "=", "h2": "-"}
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)


@dataclass
class _Writer:
    blocks: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    prefix: str = ""

    def flush(self, underline: str = "") -> None:
        text = " ".join("".join(self.parts).split())
        self.parts.clear()
        prefix, self.prefix = self.prefix, ""
        if not text:
            return
        if underline:
            self.blocks.append(f"{text}\n{underline * min(len(text), WIDTH)}")
            return
        indent = " " * len(prefix)
        self.blocks.append(
            textwrap.fill(
                text,
                WIDTH,
                initial_indent=prefix,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML email."""
    root = lxml.html.document_fromstring(html)
    writer = _Writer()
    body = root.find("body")
    _walk(body if body is not None else root, writer)
    writer.flush()
    return "\n\n".join(writer.blocks).strip() + "\n"


def _walk(element: etree._Element, writer: _Writer) -> None:
    for child in element:
        if not isinstance(child.tag, str):  # comment or processing instruction
            _tail(child, writer)
            continue
        tag = child.tag.lower()
        if tag in _SKIP or _HIDDEN.search(child.get("style", "")):
            _tail(child, writer)
            continue
        if tag in _BLOCK:
            writer.flush()
            if tag == "li":
                writer.prefix = _list_marker(child)
        if tag == "a":
            _link(child, writer)
        else:
            if child.text:
                writer.parts.append(child.text)
            _walk(child, writer)
        if tag in _BLOCK:
            writer.flush(_UNDERLINE.get(tag, ""))
        _tail(child, writer)


def _tail(element: etree._Element, writer: _Writer) -> None:
    if element.tail:
        writer.parts.append(element.tail)


def _link(anchor: etree._Element, writer: _Writer) -> None:
    """``text (url)``; a link around only an image leaves nothing; mailto shows the address."""
    inner = _Writer()
    _walk(anchor, inner)
    inner.flush()
    label = " ".join(" ".join(inner.blocks).split())
    if anchor.text:
        label = " ".join((anchor.text + " " + label).split())
    href = (anchor.get("href") or "").strip()
    if href.startswith("mailto:"):
        href = href.removeprefix("mailto:")
    if not label:
        return
    writer.parts.append(label if not href or href == label else f"{label} ({href})")


def _list_marker(item: etree._Element) -> str:
    parent = item.getparent()
    if parent is not None and parent.tag == "ol":
        return f"{list(parent).index(item) + 1}. "
    return "- "
