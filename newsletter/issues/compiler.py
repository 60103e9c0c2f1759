"""Compile an issue: Jinja2 -> MJML -> HTML (mjml-python) -> inlined CSS (premailer) -> plain text.

One public function per output (``render_mjml``, ``mjml_to_html``, ``inline_css``, and
``plaintext.html_to_text``); ``compile_issue`` runs them in order and times each stage.

Per-recipient values are never rendered here: the email carries placeholders (``%%name%%``, see
``placeholders``) that the send step fills per recipient, so an issue is compiled once whatever
the audience size. Only the template's ``recipient.*`` values become placeholders: every other
value is data (``placeholders.as_data``), and post HTML is sanitized again and written so MJML
cannot re-quote its attributes. The last pass, ``exit_check.make_safe``, removes anything that
could run from the final HTML and reports it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import cssutils
import jinja2
from markupsafe import Markup
from mjml import mjml2html

from newsletter.deferred import deferred

with deferred("requests"):  # premailer's, for <link> stylesheets: never with allow_network=False
    from premailer import Premailer

from newsletter.content.html import sanitize, well_formed
from newsletter.content.markdown_html import render_markdown
from newsletter.content.posts import StoredPost
from newsletter.errors import CompileError
from newsletter.issues import placeholders
from newsletter.issues.exit_check import make_safe
from newsletter.issues.file import Issue
from newsletter.issues.plaintext import html_to_text
from newsletter.issues.selection import Section

_ATTR_WHITESPACE = re.compile(r'="([^"]*[\t\r\n][^"]*)"')
_MJML_POSITION = re.compile(r"position (\d+)")
_DOCTYPE = "<!doctype html>"
T = TypeVar("T")


def _without_css_validation() -> None:
    """Stop cssutils validating property values: premailer's first transform gets ~4x faster.

    premailer validates every inline ``style`` against cssutils' CSS profiles even with
    ``disable_validation=True`` (its ``merge_styles`` parses them with the default,
    ``validate=True``). Validating only logs (at CRITICAL here: nothing) and answers
    ``Property.valid``, which neither premailer nor we read; but the first time a property is
    seen, cssutils compiles that property's regular expression from its macros: about 150 ms
    of a cold build on an idle machine, more on a busy one (bench/startup.py). Without profiles
    cssutils knows no property name and ``validate`` returns at once. The HTML is byte for byte
    the same (tests/test_golden.py). cssutils is only premailer's, so this process-wide switch
    touches nothing else.
    """
    cssutils.profile.removeProfile(all=True)


_without_css_validation()


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
    # how many times the template's recipient.* values put each placeholder in the issue
    template_placeholders: Mapping[str, int] = field(default_factory=dict)
    # what the exit check removed from the HTML (each one is a pre-send error)
    removed: tuple[str, ...] = ()

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
    - ``disable_basic_attributes=["width"]``: premailer overwrites MJML's ``width="552"`` on an
      image with ``width="100%"`` (copied from its CSS), which Outlook desktop shows at full size;
    - the lower-case ``<!doctype html>`` MJML writes is dropped by premailer: put it back, or
      clients render in quirks mode.
    """
    transformed = Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=True,
        disable_validation=True,
        disable_basic_attributes=["width"],
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    body = str(transformed)
    if not body.lstrip()[:9].lower().startswith("<!doctype"):
        body = f"{_DOCTYPE}\n{body}"
    return body


def issue_context(
    issue: Issue,
    sections: list[Section],
    org: Mapping[str, str],
    recipient: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a template may use: ``issue``, ``org`` (data, see ``as_data``) and
    ``recipient``: the placeholders, or the strings given for them."""
    spec = issue.spec
    data = {
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
    }
    values = recipient or {name: placeholders.token(name) for name in placeholders.NAMES}
    return {
        **as_data(data),
        "recipient": {name: Markup(values[name]) for name in placeholders.NAMES},  # noqa: S704
    }


def post_context(post: StoredPost, issue: Issue) -> dict[str, Any]:
    published = post.published_at.astimezone(issue.zone)
    return {
        "slug": post.slug,
        "title": post.title,
        "url": post.url,
        "published_at": published,
        "date": date_filter(published),
        "author": post.author,
        "summary": post.summary,
        # sanitized when stored, and again here: a row from an older version, or written by
        # hand, is held to today's rules
        "html": Markup(sanitize(post.html)),  # noqa: S704
        "image_url": post.image_url,
        "image_alt": post.image_alt,
        "categories": list(post.categories),
        "tags": list(post.tags),
    }


def as_data(value: Any) -> Any:
    """Every string in ``value`` as data: no ``%`` left to make a placeholder of; HTML
    (``Markup``) re-serialised node by node so entities such as ``&#37;`` count too."""
    if isinstance(value, Markup):
        return Markup(well_formed(str(value), text=placeholders.as_data))  # noqa: S704
    if isinstance(value, str):
        return placeholders.as_data(value)
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    return value


def compile_issue(
    env: jinja2.Environment, issue: Issue, sections: list[Section], org: Mapping[str, str]
) -> CompiledIssue:
    """The whole pipeline for one issue, with each stage's wall time in ``timings`` (seconds)."""
    timings: dict[str, float] = {}

    def timed(stage: str, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        out = fn(*args)
        timings[stage] = time.perf_counter() - start
        return out

    # the template's placeholders, by a mark no data can hold, so they can be counted
    marks = {name: f"{secrets.token_hex(8)}{name}" for name in placeholders.NAMES}
    context = issue_context(issue, sections, org, recipient=marks)
    marked = timed("jinja", render_mjml, env, issue.spec.template, context)
    counts = {name: marked.count(mark) for name, mark in marks.items() if mark in marked}
    mjml = marked
    for name, mark in marks.items():
        mjml = mjml.replace(mark, placeholders.token(name))
    html = timed("mjml", mjml_to_html, mjml)
    inlined = timed("inline", inline_css, html)
    checked = timed("exit", make_safe, inlined)
    text = placeholders.finish_text(timed("text", html_to_text, html))
    final = placeholders.finish_html(checked.html)
    return CompiledIssue(
        slug=issue.slug,
        subject=issue.spec.subject,
        preheader=issue.spec.preheader,
        mjml=placeholders.finish_html(mjml),
        html=final,
        text=text,
        placeholders=placeholders.used(final, text),
        empty_sections=tuple(s.spec.title for s in sections if not s.posts),
        post_count=sum(len(s.posts) for s in sections),
        timings=timings,
        template_placeholders=counts,
        removed=checked.removed,
    )


def compile_template(
    env: jinja2.Environment, template: str, context: Mapping[str, Any]
) -> tuple[str, str]:
    """Any other email (the signup confirmation) through the same pipeline: (html, text)."""
    html = mjml_to_html(render_mjml(env, template, context), name=f"{template}.mjml")
    return make_safe(inline_css(html)).html, html_to_text(html)
