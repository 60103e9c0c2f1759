"""The WordPress source: posts read through the REST API (``/wp-json/wp/v2/posts``).

Category and tag slugs are resolved to ids through ``/wp-json/wp/v2/categories`` and ``/tags``;
posts come 100 a page with ``_embed`` (author, featured image, terms), following
``X-WP-TotalPages``. An incremental sync asks only for posts modified since the newest
modification seen last time (``modified_after``, WordPress 5.7+), less a margin of
``CURSOR_MARGIN`` because WordPress compares that date in the site's own time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from newsletter.content.fetch import Fetcher
from newsletter.content.html import plain_text, sanitize, strip_shortcodes, summarize
from newsletter.content.store import Fetched, PostData, make_slug
from newsletter.errors import SourceError

API = "/wp-json/wp/v2"
PER_PAGE = 100
MAX_PAGES = 1000
CURSOR_MARGIN = timedelta(hours=14)


class Rendered(BaseModel):
    rendered: str = ""
    protected: bool = False


class WPPost(BaseModel):
    """The fields of a WordPress REST post that a newsletter needs."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: int
    link: str
    slug: str = ""
    date_gmt: str | None = None
    modified_gmt: str | None = None
    title: Rendered = Rendered()
    excerpt: Rendered = Rendered()
    content: Rendered = Rendered()
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
    """Every post of ``site`` matching the filters (a SourceError when the site fails)."""
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
    items = _all_pages(fetcher, f"{site}{API}/posts", params)
    for item in items:
        post = _post(fetcher.source, item, fetched.warnings, summary_length)
        if post is not None:
            fetched.posts.append(post)
    # the cursor: the newest modification WordPress reported (never a made-up "now")
    modified = [m for m in (_gmt(item.get("modified_gmt")) for item in items) if m]
    fetched.newest_modified_at = max(modified, default=None)
    return fetched


def _all_pages(fetcher: Fetcher, url: str, params: dict[str, str | int]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= min(pages, MAX_PAGES):
        response = fetcher.get(
            url, params={**params, "page": page}, headers={"Accept": "application/json"}
        )
        body = fetcher.decode_json(response)
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            raise SourceError(fetcher.source, f"GET {url}: expected a list of posts")
        items.extend(body)
        pages = _total_pages(fetcher, response.headers.get("x-wp-totalpages"))
        page += 1
    return items


def _total_pages(fetcher: Fetcher, header: str | None) -> int:
    if header is None:
        return 1
    if not header.strip().isdigit():
        raise SourceError(fetcher.source, f"X-WP-TotalPages is not a number: {header!r}")
    return int(header)


def _term_ids(fetcher: Fetcher, site: str, taxonomy: str, slugs: Sequence[str]) -> str:
    """Comma-separated ids of the category or tag ``slugs``; an unknown slug is an error."""
    url = f"{site}{API}/{taxonomy}"
    terms = fetcher.get_json(url, params={"slug": ",".join(slugs), "per_page": PER_PAGE})
    if not isinstance(terms, list):
        raise SourceError(fetcher.source, f"GET {url}: expected a list of {taxonomy}")
    ids = {str(t.get("slug")): int(t["id"]) for t in terms if isinstance(t, dict) and "id" in t}
    missing = [s for s in slugs if s not in ids]
    if missing:
        raise SourceError(fetcher.source, f"{taxonomy} not found on {site}: {', '.join(missing)}")
    return ",".join(str(ids[s]) for s in slugs)


def _post(source: str, item: dict[str, Any], warnings: list[str], length: int) -> PostData | None:
    try:
        wp = WPPost.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        warnings.append(f"post {item.get('id', '?')} skipped: {where}: {error['msg']}")
        return None
    if not wp.link.startswith(("http://", "https://")):
        warnings.append(f"post {wp.id} skipped: its link {wp.link!r} is not an http(s) URL")
        return None
    if wp.content.protected:
        warnings.append(f"post {wp.id} skipped: it is password-protected")
        return None
    html = sanitize(strip_shortcodes(wp.content.rendered), base_url=wp.link)
    title = plain_text(wp.title.rendered)
    if not title:
        title = summarize(html, 60) or f"Post {wp.id}"
        warnings.append(f"post {wp.id} has no title; using {title!r}")
    published = _published(wp, warnings)
    excerpt = sanitize(strip_shortcodes(wp.excerpt.rendered), base_url=wp.link)
    image_url, image_alt = _featured_image(wp)
    categories, tags = _terms(wp)
    return PostData(
        source_id=str(wp.id),
        slug=make_slug(unquote(wp.slug), title, fallback=f"{source}-{wp.id}"),
        title=title,
        url=wp.link,
        published_at=published,
        updated_at=_gmt(wp.modified_gmt) or published,
        categories=categories,
        tags=tags,
        author=_author(wp),
        summary=summarize(excerpt, length) or summarize(html, length),
        html=html,
        image_url=image_url,
        image_alt=image_alt,
    )


def _gmt(value: object) -> datetime | None:
    """A ``*_gmt`` field (ISO 8601 without zone, in UTC), or None when it is not a date."""
    try:
        parsed = datetime.fromisoformat(str(value or ""))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _published(wp: WPPost, warnings: list[str]) -> datetime:
    published = _gmt(wp.date_gmt)
    if published is None:
        warnings.append(
            f"post {wp.id} date_gmt is not a date ({wp.date_gmt!r}); using the time of this sync"
        )
        published = datetime.now(UTC).replace(microsecond=0)
    return published


def _featured_image(wp: WPPost) -> tuple[str, str]:
    for media in wp.embedded.get("wp:featuredmedia") or []:
        if isinstance(media, dict) and str(media.get("source_url", "")).startswith("http"):
            return str(media["source_url"]), plain_text(str(media.get("alt_text") or ""))
    return "", ""


def _terms(wp: WPPost) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found: dict[str, list[str]] = {"category": [], "post_tag": []}
    for group in wp.embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and term.get("taxonomy") in found:
                found[str(term["taxonomy"])].append(unquote(str(term.get("slug", ""))).lower())
    return tuple(found["category"]), tuple(found["post_tag"])


def _author(wp: WPPost) -> str:
    for author in wp.embedded.get("author") or []:
        if isinstance(author, dict) and author.get("name"):
            return plain_text(str(author["name"]))
    return ""


def _wp_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
