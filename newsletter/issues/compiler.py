"""Compile an issue: Jinja2 -> MJML -> HTML (mjml-python) -> inlined CSS (premailer) -> plain text.

One public function per output (``render_mjml``, ``mjml_to_html``, ``inline_css``, and
``plaintext.html_to_text``); ``compile_issue`` runs them in order and times each stage.

Per-recipient values are never rendered here: the email carries placeholders (``%%name%%``, see
``placeholders``) that the send step fills per recipient, so an issue is compiled once whatever
the audience size.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from newsletter.content.html import sanitize
from newsletter.content.markdown import render_markdown
from newsletter.errors import CompileError
from newsletter.issues import placeholders
from newsletter.issues.file import Issue
from newsletter.issues.plaintext import html_to_text
from newsletter.issues.selection import Section
from newsletter.models import Post

_ATTR_WHITESPACE = re.compile(r'="([^"]*[\t\r\n][^"]*)"')
_MJML_POSITION = re.compile(r"position (\d+)")
_DOCTYPE = "<!doctype html>"


@dataclass(frozen=True)
class CompiledIssue:
    slug: str
    subject: str
    preheader: str
    mjml: str
    html: str
    text: str
    placeholders: tuple[str, ...]
    empty_sections: tuple[str, ...] = ()
    post_count: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes of the HTML part, which is what Gmail measures before clipping."""
        return len(self.html.encode("utf-8"))

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.subject, self.preheader, self.html, self.text):
            digest.update(part.encode("utf-8") + b"\0")
        return digest.hexdigest()


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """The Jinja environment: autoescaping, and StrictUndefined so a typo fails the build."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = markdown_filter
    env.filters["date"] = date_filter
    return env


def markdown_filter(text: str) -> Markup:
    """Markdown written in an issue file, as sanitized, well-formed HTML."""
    return Markup(sanitize(render_markdown(text)))  # noqa: S704 (sanitized just above)


def date_filter(value: datetime, fmt: str = "%-d %B %Y") -> str:
    return value.strftime(fmt)


def render_mjml(env: jinja2.Environment, template: str, context: Mapping[str, Any]) -> str:
    """Jinja pass: the issue's template rendered to MJML source."""
    name = f"{template}.mjml.j2"
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(
            exc.filename or name, f"template syntax error: {exc.message}", line=exc.lineno
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise CompileError(name, f"template {exc.name!r} not found") from exc
    except jinja2.UndefinedError as exc:
        where, line = _template_frame(exc.__traceback__, name)
        raise CompileError(where, f"undefined variable: {exc.message}", line=line) from exc


def _template_frame(tb: TracebackType | None, default: str) -> tuple[str, int | None]:
    """The innermost template frame of a traceback Jinja rewrote to template lines."""
    where: tuple[str, int | None] = (default, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return where


def collapse_attribute_whitespace(source: str) -> str:
    """MRML writes a newline or tab inside an attribute as a literal ``\\n`` and loses the rest."""
    return _ATTR_WHITESPACE.sub(lambda m: '="' + " ".join(m.group(1).split()) + '"', source)


def mjml_to_html(source: str, *, name: str = "index.mjml") -> str:
    """MJML pass (mjml-python): responsive HTML with the CSS still in ``<style>``."""
    try:
        return str(
            mjml2html(collapse_attribute_whitespace(source), disable_comments=True, fonts={})
        )
    except ValueError as exc:
        found = _MJML_POSITION.search(str(exc))
        line = source.count("\n", 0, int(found.group(1))) + 1 if found else None
        raise CompileError(name, f"MJML rejected the template output: {exc}", line=line) from exc


def inline_css(html: str) -> str:
    """Inlining pass (premailer), configured against its measured faults.

    - ``allow_network=False``: never download ``<link>`` stylesheets;
    - ``strip_important=False`` and ``keep_style_tags=True``: the ``@media`` rules stay in a
      ``<style>`` with their ``!important``, or MJML's mobile layout breaks;
    - cssutils logging at CRITICAL: no warning per ``mso-*`` property;
    - the lower-case ``<!doctype html>`` MJML writes is dropped by premailer: put it back, or
      clients render in quirks mode.
    """
    transformed = Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=True,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    body = str(transformed)
    if not body.lstrip()[:9].lower().startswith("<!doctype"):
        body = f"{_DOCTYPE}\n{body}"
    return body


def issue_context(issue: Issue, sections: list[Section], org: Mapping[str, str]) -> dict[str, Any]:
    """Everything a template may use: ``issue``, ``org``, ``recipient`` (placeholders)."""
    spec = issue.spec
    return {
        "issue": {
            "slug": issue.slug,
            "title": spec.title,
            "subject": spec.subject,
            "preheader": spec.preheader,
            "period": issue.period_label,
            "intro": markdown_filter(spec.intro),
            "outro": markdown_filter(spec.outro),
            "sections": [
                {
                    "title": s.spec.title,
                    "intro": markdown_filter(s.spec.intro),
                    "display": s.spec.display,
                    "posts": [post_context(p, issue) for p in s.posts],
                }
                for s in sections
            ],
        },
        "org": dict(org),
        "recipient": {
            name: Markup(placeholders.token(name))  # noqa: S704 (a constant placeholder)
            for name in placeholders.NAMES
        },
    }


def post_context(post: Post, issue: Issue) -> dict[str, Any]:
    published = post.published_at.astimezone(issue.zone)
    return {
        "slug": post.slug,
        "title": post.title,
        "url": post.url,
        "published_at": published,
        "date": date_filter(published),
        "author": post.author,
        "summary": post.summary,
        "html": Markup(post.html),  # noqa: S704 (sanitized and re-serialised when stored)
        "image_url": post.image_url,
        "image_alt": post.image_alt,
        "categories": list(post.categories),
        "tags": list(post.tags),
    }


def compile_issue(
    env: jinja2.Environment, issue: Issue, sections: list[Section], org: Mapping[str, str]
) -> CompiledIssue:
    """The whole pipeline for one issue, with each stage's wall time in ``timings`` (seconds)."""
    timings: dict[str, float] = {}

    def timed(stage: str, fn: Callable[..., str], *args: Any) -> str:
        start = time.perf_counter()
        out = fn(*args)
        timings[stage] = time.perf_counter() - start
        return out

    context = issue_context(issue, sections, org)
    mjml = timed("jinja", render_mjml, env, issue.spec.template, context)
    html = timed("mjml", mjml_to_html, mjml)
    inlined = timed("inline", inline_css, html)
    text = timed("text", html_to_text, html)
    return CompiledIssue(
        slug=issue.slug,
        subject=issue.spec.subject,
        preheader=issue.spec.preheader,
        mjml=mjml,
        html=inlined,
        text=text,
        placeholders=placeholders.used(inlined, text),
        empty_sections=tuple(s.spec.title for s in sections if not s.posts),
        post_count=sum(len(s.posts) for s in sections),
        timings=timings,
    )


def compile_template(
    env: jinja2.Environment, template: str, context: Mapping[str, Any]
) -> tuple[str, str]:
    """Any other email (the signup confirmation) through the same pipeline: (html, text)."""
    html = mjml_to_html(render_mjml(env, template, context), name=f"{template}.mjml")
    return inline_css(html), html_to_text(html)
