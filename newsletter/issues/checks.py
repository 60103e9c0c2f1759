"""Pre-send checks of a CompiledIssue: what gets a newsletter clipped, filtered or ignored.

Errors block building for sending (exit 1); warnings are listed. Thresholds:
Gmail clips HTML over 102 KB, so we warn from 90 KB.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from typing import Literal

import lxml.html

from newsletter.issues import placeholders
from newsletter.issues.compiler import CompiledIssue

CLIP_BYTES = 102 * 1024
WARN_BYTES = 90 * 1024
SUBJECT_MAX = 80
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}")
_ABSOLUTE = ("http://", "https://")


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message} [{self.code}]"


def check_compiled(compiled: CompiledIssue, *, postal_address: str) -> list[Finding]:
    """Every finding for a compiled issue, errors first."""
    findings = [
        *_size(compiled),
        *_links_and_images(compiled.html),
        *_compliance(compiled, postal_address),
        *_leftovers(compiled),
        *_envelope(compiled),
        *_unsafe(compiled),
        *_placeholder_origin(compiled),
    ]
    return sorted(findings, key=lambda f: f.level != "error")


def has_errors(findings: list[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def _size(compiled: CompiledIssue) -> list[Finding]:
    kb = compiled.size / 1024
    if compiled.size > CLIP_BYTES:
        return [Finding("error", "size", f"HTML is {kb:.1f} KB: Gmail clips messages over 102 KB")]
    if compiled.size > WARN_BYTES:
        return [Finding("warning", "size", f"HTML is {kb:.1f} KB, close to Gmail's 102 KB clip")]
    return []


def _links_and_images(html: str) -> list[Finding]:
    findings = []
    root = lxml.html.document_fromstring(html)
    tokens = {placeholders.token(name) for name in placeholders.NAMES}
    for anchor in root.iter("a", "area"):
        href = (anchor.get("href") or "").strip()
        if href.startswith(_ABSOLUTE) or href.startswith("mailto:") or href in tokens:
            continue
        label = " ".join(anchor.text_content().split())[:40] or "(image)"
        findings.append(
            Finding(
                "error", "link", f"link {label!r} goes to {href!r}, not an absolute http(s) URL"
            )
        )
    for image in root.iter("img"):
        src = (image.get("src") or "").strip()
        if not src.startswith(_ABSOLUTE):
            findings.append(Finding("error", "image-src", f"image src {src!r} is not absolute"))
        elif not src.startswith("https://"):  # mail clients block or flag insecure images
            findings.append(Finding("error", "image-src", f"image src {src!r} is not https://"))
        alt = image.get("alt")
        if alt is None:
            findings.append(Finding("error", "image-alt", f"image {src!r} has no alt attribute"))
        elif not alt.strip():  # readers with images off or a screen reader get nothing
            findings.append(
                Finding("error", "image-alt", f"image {src!r} has no alt text (set image_alt)")
            )
    return findings


def _compliance(compiled: CompiledIssue, postal_address: str) -> list[Finding]:
    findings = []
    unsubscribe = placeholders.token("unsubscribe_url")
    if f'href="{unsubscribe}"' not in compiled.html:
        findings.append(Finding("error", "unsubscribe", "the HTML has no unsubscribe link"))
    if unsubscribe not in compiled.text:
        findings.append(Finding("error", "unsubscribe", "the text part has no unsubscribe link"))
    if not postal_address.strip():
        findings.append(Finding("error", "postal-address", "the postal_address setting is empty"))
        return findings
    visible = " ".join(
        html_lib.unescape(lxml.html.document_fromstring(compiled.html).text_content()).split()
    )
    wanted = " ".join(postal_address.split())
    if wanted not in visible:
        findings.append(
            Finding("error", "postal-address", "the HTML does not show the postal address")
        )
    if wanted not in " ".join(compiled.text.split()):
        findings.append(
            Finding("error", "postal-address", "the text part lacks the postal address")
        )
    return findings


def _leftovers(compiled: CompiledIssue) -> list[Finding]:
    findings = []
    for part, body in (("HTML", compiled.html), ("text", compiled.text)):
        unknown = placeholders.unknown(body)
        if unknown:
            names = ", ".join(placeholders.token(n) for n in unknown)
            findings.append(
                Finding("error", "placeholder", f"unknown placeholders in {part}: {names}")
            )
        found = _TEMPLATE_SYNTAX.search(body)
        if found:
            snippet = body[max(0, found.start() - 20) : found.end() + 20].replace("\n", " ")
            findings.append(
                Finding(
                    "error", "template-syntax", f"unrendered template syntax in {part}: {snippet!r}"
                )
            )
    return findings


def _envelope(compiled: CompiledIssue) -> list[Finding]:
    findings = []
    if not compiled.text.strip():
        findings.append(Finding("error", "text", "the plain-text part is empty"))
    if compiled.post_count == 0:
        findings.append(Finding("error", "empty-issue", "the issue selects no posts at all"))
    for title in compiled.empty_sections:
        findings.append(Finding("warning", "empty-section", f"section {title!r} selects no posts"))
    if len(compiled.subject) > SUBJECT_MAX:
        findings.append(
            Finding(
                "warning",
                "subject",
                f"subject is {len(compiled.subject)} characters; over {SUBJECT_MAX} gets cut off",
            )
        )
    if not compiled.preheader.strip():
        findings.append(Finding("warning", "preheader", "preheader is empty"))
    return findings


def _unsafe(compiled: CompiledIssue) -> list[Finding]:
    """What the exit check removed: the files are safe, but something tried to get in."""
    return [
        Finding("error", "unsafe-html", f"removed from the HTML as unsafe: {item}")
        for item in compiled.removed
    ]


def _placeholder_origin(compiled: CompiledIssue) -> list[Finding]:
    """Placeholders only where the template's ``recipient.*`` values put them."""
    findings = []
    expected = compiled.template_placeholders
    for part, body in (("HTML", compiled.html), ("text", compiled.text)):
        for name, count in sorted(placeholders.counts(body).items()):
            allowed = expected.get(name, 0)
            if count > allowed:
                findings.append(
                    Finding(
                        "error",
                        "placeholder-origin",
                        f"the {part} holds {placeholders.token(name)} {count} times; the "
                        f"template puts it {allowed} times: the rest came from the content",
                    )
                )
    found = placeholders.used(compiled.subject)
    if found:
        names = ", ".join(placeholders.token(n) for n in found)
        findings.append(
            Finding(
                "error",
                "placeholder-origin",
                f"the subject holds {names}: only the template places placeholders",
            )
        )
    return findings
