"""The Markdown source: a folder of ``.md`` files with YAML front matter, one post per file.

Front matter keys: title, date (required), url (required, absolute), updated, slug,
categories, tags, author, summary, image, image_alt. The file name is the slug unless ``slug``
is given. Unknown keys are errors, so a typo never silently drops a field.

A bad file does not stop the others: ``read_folder`` returns the good posts and one
ContentError per bad file (file, line, field, in the same plain words as issue files).
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, ValidationError, field_validator

from newsletter.content.html import sanitize, summarize
from newsletter.content.markdown_html import render_markdown
from newsletter.content.posts import PostData
from newsletter.errors import ContentError, gathered, plain

if TYPE_CHECKING:  # python-frontmatter and PyYAML are imported where a post file is read or
    import yaml  # written: a build renders Markdown from the store and reads no file

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FENCE = re.compile(r"^-{3}\s*$")
_UNQUOTED_COLON = re.compile(r"^(\w+):\s*([^\s\"'\[{|>].*?:(?:\s.*)?)\s*$")
_DATE_FORMS = "write 2016-10-27, or 2016-10-27T10:00:00+07:00 with the time"


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

    @field_validator("date", "updated", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> object:
        if isinstance(value, date | datetime) or value is None:
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{str(value)!r} is not a date: {_DATE_FORMS}") from None

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


def post_text(metadata: dict[str, Any], body: str) -> str:
    """A post file's text: the front matter (YAML, keys in the order given) and the body."""
    import frontmatter

    document = frontmatter.Post(body.strip() + "\n", **metadata)
    return str(frontmatter.dumps(document, sort_keys=False)) + "\n"


def read_document(text: str) -> tuple[dict[str, Any], str]:
    """A post file's front matter (as written) and body; ({}, text) when it has none."""
    import frontmatter
    import yaml

    try:
        document = frontmatter.loads(text)
    except yaml.YAMLError:
        return {}, text
    meta = document.metadata if isinstance(document.metadata, dict) else {}
    return dict(meta), document.content


def read_folder(
    folder: Path, *, zone: ZoneInfo, summary_length: int
) -> tuple[list[PostData], list[ContentError]]:
    """Every good post in ``folder``, and one ContentError per file that could not be read
    (each naming the file, the line and the field), so one run names every bad file."""
    if not folder.is_dir():
        raise ContentError(folder, "content folder does not exist")
    posts: list[PostData] = []
    problems: list[ContentError] = []
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            post = read_post(path, zone=zone, summary_length=summary_length)
        except ContentError as exc:
            problems.append(exc)
            continue
        if post.slug in files:
            problems.append(
                ContentError(
                    path,
                    f"{files[post.slug].name} has the same slug {post.slug!r}: "
                    "give one of them another 'slug:'",
                )
            )
            continue
        files[post.slug] = path
        posts.append(post)
    return posts, problems


def read_post(path: Path, *, zone: ZoneInfo, summary_length: int) -> PostData:
    import frontmatter
    import yaml

    text = _read_text(path)
    _check_header(path, text)
    try:
        document = frontmatter.loads(text)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(path, text, exc) from exc
    if not isinstance(document.metadata, dict) or not document.metadata:
        raise ContentError(path, "the header between the '---' lines is empty", line=1)
    try:
        meta = FrontMatter.model_validate(document.metadata)
    except ValidationError as exc:
        raise _validation_error(path, text, exc) from exc
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


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContentError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the file as UTF-8"
        raise ContentError(path, message, line=line) from exc


def _check_header(path: Path, text: str) -> None:
    """The header is a '---' line, the keys, and a closing '---' line: say which is missing."""
    lines = text.lstrip().splitlines()  # blank lines before the header are allowed
    if not lines or not _FENCE.match(lines[0]):
        raise ContentError(
            path,
            "no header: a post starts with a '---' line, then title, date and url, then '---'",
            line=1,
        )
    if not any(_FENCE.match(line) for line in lines[1:]):
        raise ContentError(
            path, "the header that starts on line 1 has no closing '---' line", line=1
        )


def _yaml_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> ContentError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 2 if mark else None  # +1 for counting from 1, +1 for the '---'
    message = f"the header is not valid YAML: {exc.problem or exc.context}"
    lines = text.splitlines()
    for number in (line, line - 1) if line else ():
        found = _UNQUOTED_COLON.match(lines[number - 1]) if 0 < number <= len(lines) else None
        if found:
            key, value = found.group(1), found.group(2).replace('"', '\\"')
            message += f' (a colon inside the value: quote the {key}: {key}: "{value}")'
            line = number
            break
    return ContentError(path, message, line=line, field=_key_on(lines, line))


def _key_on(lines: list[str], line: int | None) -> str | None:
    found = re.match(r"^(\w+)\s*:", lines[line - 1]) if line and 0 < line <= len(lines) else None
    return found.group(1) if found else None


def _validation_error(path: Path, text: str, exc: ValidationError) -> ContentError:
    """Every problem of the header, in plain words, one per key."""
    problems: dict[str, ContentError] = {}
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        if key not in problems:
            message = plain(error, FrontMatter.model_fields)
            line = _front_matter_line(text, key) if error["type"] != "missing" else 1
            problems[key] = ContentError(path, message, line=line, field=key or None)
    return gathered(list(problems.values()))


def _front_matter_line(text: str, key: Any) -> int | None:
    if not key:
        return None
    pattern = re.compile(rf"^{re.escape(str(key))}\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
