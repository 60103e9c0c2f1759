"""The feed source: an RSS 2.0 or Atom feed, fetched with a conditional GET, parsed by feedparser.

The request carries the ETag and Last-Modified of the previous answer, so an unchanged feed is
a 304 and costs nothing. feedparser's own sanitizing and relative-URL resolution are turned off:
the body is cleaned like every other source's (nh3), with links made absolute against the
post's own URL. An entry with a bad date or without a title is kept, with a warning.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax import SAXException

import feedparser

from newsletter.content.fetch import Fetcher
from newsletter.content.html import plain_text, sanitize, strip_shortcodes, summarize
from newsletter.content.posts import PostData
from newsletter.content.store import Fetched, make_slug, plausible_date
from newsletter.errors import SourceError

_TERM = re.compile(r"[\s_/]+")
_IMAGE_TYPES = ("image/",)


def read_feed(
    fetcher: Fetcher,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    categories: Sequence[str] = (),
    summary_length: int = 280,
) -> Fetched:
    """The feed's entries (or ``not_modified`` when the validators still match)."""
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = fetcher.get(url, headers=headers)
    if response.status_code == 304:
        return Fetched(not_modified=True, etag=etag, last_modified=last_modified)
    parsed = _parse(fetcher.source, url, response.content, response.headers.get("content-type"))
    fetched = Fetched(
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
    )
    wanted = {term_slug(c) for c in categories}
    for number, entry in enumerate(parsed.entries, start=1):
        link = str(entry.get("link") or "")
        if not link.startswith(("http://", "https://")):
            fetched.warnings.append(f"entry {number} skipped: it has no http(s) link")
            continue
        post = _post(fetcher.source, entry, number, fetched.warnings, summary_length)
        if not wanted or wanted & set(post.categories):
            fetched.posts.append(post)
    return fetched


def _parse(source: str, url: str, body: bytes, content_type: str | None) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    problem = parsed.get("bozo_exception")
    if isinstance(problem, SAXException) or not parsed.get("version"):
        reason = " ".join(str(problem).split()) if problem else "no RSS or Atom element"
        raise SourceError(source, f"{url}: not a well-formed RSS or Atom feed ({reason})")
    return parsed


def term_slug(term: str) -> str:
    """A feed category ("Human Trafficking") as the slug WordPress gives it."""
    return _TERM.sub("-", term.strip().lower()).strip("-")


def _post(source: str, entry: Any, number: int, warnings: list[str], length: int) -> PostData:
    link = base = str(entry["link"])
    source_id = str(entry.get("id") or link)
    label = f"entry {number} ({link})"
    body = entry.get("content", [{}])[0].get("value", "") if entry.get("content") else ""
    summary_html = sanitize(strip_shortcodes(str(entry.get("summary") or "")), base_url=base)
    html = sanitize(strip_shortcodes(body), base_url=base) if body else summary_html
    title = plain_text(str(entry.get("title") or ""))
    if not title:
        title = summarize(html, 60) or "Untitled"
        warnings.append(f"{label} has no title; using {title!r}")
    published = _when(entry, ("published", "updated"), label, warnings)
    undated = published is None
    published = published or _now()
    updated = _moment(dict.get(entry, "updated_parsed")) or published
    image_url, image_alt = _image(entry, base)
    return PostData(
        source_id=source_id[:500],
        slug=make_slug(_last_segment(link), title, fallback=f"{source}-{_short(source_id)}"),
        title=title,
        url=link,
        published_at=published,
        updated_at=updated,
        categories=tuple(term_slug(str(t.get("term") or "")) for t in entry.get("tags") or [] if t),
        author=plain_text(str(entry.get("author") or "")),
        summary=summarize(summary_html if body else "", length) or summarize(html, length),
        html=html,
        image_url=image_url,
        image_alt=image_alt,
        undated=undated,
    )


def _when(entry: Any, keys: tuple[str, ...], label: str, warnings: list[str]) -> datetime | None:
    """The entry's date, or None (with a warning) when it has none we can use: the store then
    dates it when it is first seen and keeps that date on later syncs."""
    for key in keys:
        # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning
        parsed: time.struct_time | None = dict.get(entry, f"{key}_parsed")
        moment = _moment(parsed)
        if moment is not None:
            return moment
        if parsed is not None:
            shown = str(dict.get(entry, key) or "")[:60]
            warnings.append(
                f"{label}: date {shown!r} is out of range (years 1900 to 2199); "
                "dated when first seen"
            )
            return None
    shown = str(dict.get(entry, keys[0]) or "missing")[:60]
    warnings.append(f"{label}: date {shown!r} is not a date; dated when first seen")
    return None


def _moment(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's parsed date as an aware datetime; None when absent or out of range."""
    if parsed is None:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None
    return moment if plausible_date(moment) else None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _image(entry: Any, base: str) -> tuple[str, str]:
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        url = str(media.get("url") or "")
        if url and (media.get("medium") in (None, "image") or "thumbnail" in str(media)):
            return _absolute_image(url, base), ""
    for enclosure in entry.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith(_IMAGE_TYPES) and enclosure.get("href"):
            return _absolute_image(str(enclosure["href"]), base), ""
    return "", ""


def _absolute_image(url: str, base: str) -> str:
    absolute = urljoin(base, url.strip())
    return absolute if absolute.startswith(("http://", "https://")) else ""


def _last_segment(link: str) -> str:
    return unquote(urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1])


def _short(source_id: str) -> str:
    return hashlib.sha256(source_id.encode()).hexdigest()[:10]
