"""The Markdown source: a folder of ``.md`` files with YAML front matter, one post per file.

Front matter keys: title, date (required), url (required, absolute), updated, slug,
categories, tags, author, summary, image, image_alt. The file name is the slug unless ``slug``
is given. Unknown keys are errors, so a typo never silently drops a field.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import frontmatter
import yaml
from markdown_it import MarkdownIt
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, ValidationError, field_validator

from newsletter.content.html import sanitize, summarize
from newsletter.content.store import PostData
from newsletter.errors import ContentError

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MARKDOWN = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    date: dt.datetime | dt.date
    url: AnyHttpUrl
    updated: dt.datetime | dt.date | None = None
    slug: str | None = None
    categories: list[str] = []
    tags: list[str] = []
    author: str = ""
    summary: str = ""
    image: AnyHttpUrl | None = None
    image_alt: str = ""

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, value: str | None) -> str | None:
        if value is not None and not _SLUG.match(value):
            raise ValueError("a slug is lower-case letters, digits and single hyphens")
        return value

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def render_markdown(text: str) -> str:
    """Markdown to HTML (CommonMark + tables); the caller sanitizes."""
    return str(_MARKDOWN.render(text))


def read_folder(folder: Path, *, zone: ZoneInfo, summary_length: int) -> list[PostData]:
    """Every post in ``folder``; the first malformed file raises ContentError naming it."""
    if not folder.is_dir():
        raise ContentError(folder, "content folder does not exist")
    return [
        read_post(path, zone=zone, summary_length=summary_length)
        for path in sorted(folder.glob("*.md"))
    ]


def read_post(path: Path, *, zone: ZoneInfo, summary_length: int) -> PostData:
    text = path.read_text(encoding="utf-8")
    try:
        document = frontmatter.loads(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else None  # +1 for '---'
        raise ContentError(
            path, f"front matter is not valid YAML: {exc.problem}", line=line
        ) from exc
    try:
        meta = FrontMatter.model_validate(document.metadata)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else None
        raise ContentError(
            path, error["msg"], line=_front_matter_line(text, key), field=key
        ) from exc
    slug = meta.slug or path.stem
    if not _SLUG.match(slug):
        raise ContentError(path, f"file name {path.stem!r} is not a slug; add a 'slug:' key")
    url = str(meta.url)
    html = sanitize(render_markdown(document.content), base_url=url)
    published = _aware(meta.date, zone)
    return PostData(
        source_id=slug,
        slug=slug,
        title=meta.title,
        url=url,
        published_at=published,
        updated_at=_aware(meta.updated, zone) if meta.updated else published,
        categories=tuple(c.strip().lower() for c in meta.categories),
        tags=tuple(t.strip().lower() for t in meta.tags),
        author=meta.author,
        summary=meta.summary.strip() or summarize(html, summary_length),
        html=html,
        image_url=str(meta.image) if meta.image else "",
        image_alt=meta.image_alt,
    )


def _aware(value: datetime | date, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _front_matter_line(text: str, key: Any) -> int | None:
    if not key:
        return None
    pattern = re.compile(rf"^{re.escape(str(key))}\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
