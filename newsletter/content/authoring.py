"""Markdown posts written from the dashboard: a form becomes the same front-matter file the
``markdown`` source reads, checked by that reader before it is written (so the messages are
``newsletter content sync``'s, naming the real file), and written whole (files.replace_text).

Only the keys the form has are replaced: others in an existing file (author, updated, slug)
are kept as they were. A file that changed since the form was opened is not overwritten.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from newsletter.config import MarkdownSourceConfig, Settings
from newsletter.content.markdown import post_text, read_document, read_post
from newsletter.content.posts import PostData
from newsletter.content.store import make_slug
from newsletter.errors import ContentError, gathered
from newsletter.files import replace_text

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LISTS = ("categories", "tags")
OPTIONAL = ("summary", "image", "image_alt")


@dataclass(frozen=True)
class PostForm:
    """The fields of the dashboard's post form, as typed (lists comma-separated)."""

    title: str = ""
    date: str = ""
    url: str = ""
    categories: str = ""
    tags: str = ""
    summary: str = ""
    image: str = ""
    image_alt: str = ""
    body: str = ""

    @classmethod
    def of(cls, values: dict[str, str]) -> PostForm:
        return cls(**{f.name: values.get(f.name, "")[:100_000] for f in fields(cls)})


def markdown_sources(settings: Settings) -> list[MarkdownSourceConfig]:
    return [s for s in settings.content_sources() if isinstance(s, MarkdownSourceConfig)]


def folder_of(settings: Settings, source: MarkdownSourceConfig) -> Path:
    return source.path or settings.content_dir


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_file(folder: Path, slug: str) -> Path | None:
    """The file of the post ``slug`` in ``folder``: ``<slug>.md``, or the one whose ``slug:``
    says so; None when there is none (never a path outside the folder)."""
    if not SLUG.fullmatch(slug) or not folder.is_dir():
        return None
    named = folder / f"{slug}.md"
    if named.is_file() and not named.is_symlink():
        return named
    for path in sorted(folder.glob("*.md")):
        if path.is_symlink():
            continue
        meta, _ = read_document(path.read_text(encoding="utf-8", errors="replace"))
        if meta.get("slug") == slug:
            return path
    return None


def form_of(text: str) -> PostForm:
    """An existing file's fields for the form."""
    meta, body = read_document(text)

    def shown(key: str) -> str:
        value = meta.get(key)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        return "" if value is None else str(value)

    names = [f.name for f in fields(PostForm) if f.name != "body"]
    return PostForm(**{name: shown(name) for name in names}, body=body)


def compose(form: PostForm, kept: dict[str, Any] | None = None) -> str:
    """The file's text: ``kept`` (an existing file's front matter) with the form's keys."""
    meta: dict[str, Any] = dict(kept or {})
    meta["title"] = form.title.strip()
    meta["date"] = _date(form.date.strip())
    meta["url"] = form.url.strip()
    for key in LISTS:
        meta[key] = [v.strip() for v in getattr(form, key).split(",") if v.strip()]
    for key in OPTIONAL:
        value = getattr(form, key).strip()
        if value:
            meta[key] = value
        else:
            meta.pop(key, None)
    order = ["title", "date", "url", "updated", "slug", "author", *LISTS, *OPTIONAL]
    ordered = {k: meta[k] for k in order if k in meta}
    ordered.update({k: v for k, v in meta.items() if k not in ordered})
    return post_text(ordered, form.body.replace("\r\n", "\n"))


def _date(typed: str) -> object:
    """A date or time as YAML would read it unquoted; anything else as typed (the reader then
    says what a date looks like)."""
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(typed)
        except ValueError:
            continue
    return typed


def check(path: Path, text: str, settings: Settings) -> PostData:
    """``text`` read as ``path`` by the Markdown source's reader; ContentError naming ``path``."""
    with tempfile.TemporaryDirectory(prefix="newsletter-post-") as folder:
        candidate = Path(folder) / path.name
        candidate.write_text(text, encoding="utf-8")
        try:
            return read_post(candidate, zone=settings.zone, summary_length=settings.summary_length)
        except ContentError as exc:
            problems = [exc, *exc.also]
            raise gathered(
                [ContentError(path, p.message, line=p.line, field=p.field) for p in problems]
            ) from None


def new_path(folder: Path, form: PostForm, slug: str) -> Path:
    """Where a new post goes: ``<slug>.md`` (the slug typed, or made from the title)."""
    slug = slug.strip() or make_slug(form.title, fallback="post")
    path = folder / f"{slug}.md"
    if not SLUG.fullmatch(slug):
        raise ContentError(path, "a slug is lower-case letters, digits and single hyphens")
    if path.exists():
        raise ContentError(path, f"a post file {path.name} exists already: choose another slug")
    return path


def write_post(
    settings: Settings, path: Path, form: PostForm, *, base_hash: str | None = None
) -> PostData:
    """Write the form to ``path`` (a new file when ``base_hash`` is None, else the file as it
    was when the form was opened): checked first, then written whole. Returns what the source
    will read from it."""
    kept: dict[str, Any] = {}
    if base_hash is not None:
        current = path.read_text(encoding="utf-8")
        if text_hash(current) != base_hash:
            raise ContentError(
                path, "the file changed since you opened it: open the post again and redo your edit"
            )
        kept = read_document(current)[0]
    text = compose(form, kept)
    post = check(path, text, settings)
    replace_text(path, text)
    return post
