"""The WordPress source: posts read through the REST API (``/wp-json/wp/v2/posts``).

Category and tag slugs are resolved to ids through ``/wp-json/wp/v2/categories`` and ``/tags``;
posts come 100 a page with ``_embed`` (author, featured image, terms), following
``X-WP-TotalPages``. An incremental sync asks only for posts modified since the newest
modification seen last time (``modified_after``, WordPress 5.7+), less a margin of
``CURSOR_MARGIN`` because WordPress compares that date in the site's own time zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from newsletter.content.fetch import Fetcher
from newsletter.content.html import plain_text, sanitize, strip_shortcodes, summarize
from newsletter.content.posts import PostData
from newsletter.content.store import Fetched, make_slug, plausible_date
from newsletter.errors import SourceError

API = "/wp-json/wp/v2"
PER_PAGE = 100
MAX_PAGES = 1000
CURSOR_MARGIN = timedelta(hours=14)
# WordPress's own "no date" (an unpublished post); any other value must be a real date
NO_DATE = (None, "", "0000-00-00 00:00:00", "0000-00-00T00:00:00")


class Malformed(ValueError):
    """A post WordPress would never send: a wrong type, a missing key, an impossible date."""


class Rendered(BaseModel):
    model_config = ConfigDict(strict=True)

    rendered: str
    protected: bool = False


class WPPost(BaseModel):
    """The fields of a WordPress REST post that a newsletter needs, with the types WordPress
    gives them (strict: ``"12"`` is not an id, ``true`` is not a number)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    id: int
    link: str
    slug: str = ""
    date_gmt: str | None
    modified_gmt: str | None = None
    title: Rendered
    excerpt: Rendered = Rendered(rendered="")
    content: Rendered
    embedded: dict[str, Any] = Field(default_factory=dict, alias="_embedded")


def read_site(
    fetcher: Fetcher,
    site: str,
    *,
    categories: Sequence[str] = (),
    tags: Sequence[str] = (),
    modified_after: datetime | None = None,
    published_after: datetime | None = None,
    summary_length: int = 280,
) -> Fetched:
    """Every post of ``site`` matching the filters (a SourceError when the site fails or
    answers anything but WordPress's shape: the page and the post are named)."""
    params: dict[str, str | int] = {"per_page": PER_PAGE, "_embed": 1, "orderby": "id"}
    if categories:
        params["categories"] = _term_ids(fetcher, site, "categories", categories)
    if tags:
        params["tags"] = _term_ids(fetcher, site, "tags", tags)
    if modified_after:
        params["modified_after"] = _wp_date(modified_after - CURSOR_MARGIN)
    if published_after:
        params["after"] = _wp_date(published_after)
    fetched = Fetched(complete=modified_after is None and published_after is None)
    modified: list[datetime] = []
    url = f"{site}{API}/posts"
    for page, items in _pages(fetcher, url, params):
        for number, item in enumerate(items, start=1):
            try:
                post = _post(fetcher.source, item, fetched.warnings, summary_length)
                stamp = _date(item.get("modified_gmt"), "modified_gmt")
            except Malformed as exc:
                where = f"post {_shown_id(item)} (item {number})"
                raise SourceError(fetcher.source, f"GET {url} page {page}: {where}: {exc}") from exc
            if post is not None:
                fetched.posts.append(post)
            if stamp is not None:
                modified.append(stamp)
    # the cursor: the newest modification WordPress reported (never a made-up "now")
    fetched.newest_modified_at = max(modified, default=None)
    return fetched


def _pages(
    fetcher: Fetcher, url: str, params: dict[str, str | int]
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    page, pages = 1, 1
    while page <= min(pages, MAX_PAGES):
        response = fetcher.get(
            url, params={**params, "page": page}, headers={"Accept": "application/json"}
        )
        body = fetcher.decode_json(response)
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            raise SourceError(
                fetcher.source,
                f"GET {url} page {page}: expected a list of posts, got {_kind(body)}",
            )
        pages = _total_pages(fetcher, response.headers.get("x-wp-totalpages"))
        yield page, body
        page += 1


def _kind(body: object) -> str:
    if isinstance(body, list):
        odd = next(i for i in body if not isinstance(i, dict))
        return f"a list holding {_type_name(odd)}"
    return _type_name(body)


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}
    return "null" if value is None else names.get(type(value), "a number")


def _shown_id(item: dict[str, Any]) -> str:
    value = item.get("id")
    return str(value) if type(value) is int else "without an id"


def _total_pages(fetcher: Fetcher, header: str | None) -> int:
    if header is None:
        return 1
    if not header.strip().isdigit():
        raise SourceError(fetcher.source, f"X-WP-TotalPages is not a number: {header[:40]!r}")
    return int(header)


def _term_ids(fetcher: Fetcher, site: str, taxonomy: str, slugs: Sequence[str]) -> str:
    """Comma-separated ids of the category or tag ``slugs``; an unknown slug is an error."""
    url = f"{site}{API}/{taxonomy}"
    terms = fetcher.get_json(url, params={"slug": ",".join(slugs), "per_page": PER_PAGE})
    if not isinstance(terms, list):
        raise SourceError(fetcher.source, f"GET {url}: expected a list of {taxonomy}")
    ids = {
        str(t.get("slug")): t["id"]
        for t in terms
        if isinstance(t, dict) and type(t.get("id")) is int  # not "3", not true
    }
    missing = [s for s in slugs if s not in ids]
    if missing:
        raise SourceError(fetcher.source, f"{taxonomy} not found on {site}: {', '.join(missing)}")
    return ",".join(str(ids[s]) for s in slugs)


def _post(source: str, item: dict[str, Any], warnings: list[str], length: int) -> PostData | None:
    try:
        wp = WPPost.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "the post"
        raise Malformed(f"{where}: {error['msg']}") from None
    if not wp.link.startswith(("http://", "https://")):
        warnings.append(f"post {wp.id} skipped: its link {wp.link[:80]!r} is not an http(s) URL")
        return None
    if wp.content.protected:
        warnings.append(f"post {wp.id} skipped: it is password-protected")
        return None
    html = sanitize(strip_shortcodes(wp.content.rendered), base_url=wp.link)
    title = plain_text(wp.title.rendered)
    if not title:
        title = summarize(html, 60) or f"Post {wp.id}"
        warnings.append(f"post {wp.id} has no title; using {title!r}")
    published = _date(wp.date_gmt, "date_gmt")
    if published is None:
        warnings.append(
            f"post {wp.id} date_gmt is not a date ({wp.date_gmt!r}); dated when first seen"
        )
    excerpt = sanitize(strip_shortcodes(wp.excerpt.rendered), base_url=wp.link)
    image_url, image_alt = _featured_image(wp)
    categories, tags = _terms(wp)
    return PostData(
        source_id=str(wp.id),
        slug=make_slug(unquote(wp.slug), title, fallback=f"{source}-{wp.id}"),
        title=title,
        url=wp.link,
        published_at=published or _now(),
        updated_at=_date(wp.modified_gmt, "modified_gmt") or published or _now(),
        categories=categories,
        tags=tags,
        author=_author(wp),
        summary=summarize(excerpt, length) or summarize(html, length),
        html=html,
        image_url=image_url,
        image_alt=image_alt,
        undated=published is None,
    )


def _date(value: object, field: str) -> datetime | None:
    """A ``*_gmt`` field (ISO 8601 without zone, in UTC); None for WordPress's "no date"."""
    if value in NO_DATE:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{field} is {_type_name(value)}, not a date")
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Malformed(f"{field} {value[:40]!r} is not a date") from None
    if not plausible_date(parsed):
        raise Malformed(f"{field} {value[:40]!r} is out of range (years 1900 to 2199)")
    return parsed


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _featured_image(wp: WPPost) -> tuple[str, str]:
    for media in _list(wp.embedded, "wp:featuredmedia"):
        url = media.get("source_url") if isinstance(media, dict) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url, plain_text(_text(media, "alt_text", "wp:featuredmedia"))
    return "", ""


def _terms(wp: WPPost) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found: dict[str, list[str]] = {"category": [], "post_tag": []}
    for group in _list(wp.embedded, "wp:term"):
        if not isinstance(group, list):
            raise Malformed(f"_embedded.wp:term holds {_type_name(group)}, not a list of terms")
        for term in group:
            if isinstance(term, dict) and term.get("taxonomy") in found:
                slug = _text(term, "slug", "wp:term")
                found[str(term["taxonomy"])].append(unquote(slug).lower())
    return tuple(found["category"]), tuple(found["post_tag"])


def _author(wp: WPPost) -> str:
    for author in _list(wp.embedded, "author"):
        if isinstance(author, dict) and author.get("name"):
            return plain_text(_text(author, "name", "author"))
    return ""


def _list(embedded: dict[str, Any], key: str) -> list[Any]:
    value = embedded.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"_embedded.{key} is {_type_name(value)}, not a list")
    return value


def _text(thing: dict[str, Any], key: str, where: str) -> str:
    value = thing.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"_embedded.{where}: {key} is {_type_name(value)}, not a string")
    return value


def _wp_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
