"""The content store: upsert a source's posts, query them by date, category, tag and slug."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from newsletter.content.posts import PostData
from newsletter.errors import ContentError
from newsletter.models import Post, utcnow


@dataclass
class Fetched:
    """What a remote source answered: its posts, and what to remember for the next sync.

    ``complete`` says the posts are every post the source has (so pruning is safe);
    ``not_modified`` that a conditional request found nothing new.
    """

    posts: list[PostData] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    not_modified: bool = False
    problems: list[ContentError] = field(default_factory=list)  # files skipped, and why
    etag: str = ""
    last_modified: str = ""
    newest_modified_at: datetime | None = None


@dataclass
class SyncResult:
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_modified: bool = False
    problems: list[ContentError] = field(default_factory=list)  # files skipped: exit 1


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NO_DECOMPOSITION = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss"})
MAX_SLUG = 80


def make_slug(*candidates: str, fallback: str) -> str:
    """The first candidate that makes an ASCII slug (accents dropped), else ``fallback``.

    Thai, Khmer or Chinese titles make no ASCII slug, so such posts get ``fallback``
    (the source name and the post's id), which stays stable across syncs.
    """
    for candidate in candidates:
        decomposed = unicodedata.normalize("NFKD", candidate.translate(_NO_DECOMPOSITION))
        ascii_text = decomposed.encode("ascii", "ignore").decode()
        slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:MAX_SLUG].strip("-")
        if len(slug) >= 3 and len(slug) * 2 >= len(candidate.strip()):
            return slug
    return _NOT_SLUG.sub("-", fallback.lower()).strip("-")[:MAX_SLUG]


def upsert_posts(
    session: Session, source: str, posts: Iterable[PostData], *, prune: bool = False
) -> SyncResult:
    """Store a source's posts: new ones are added, changed ones updated, none duplicated.

    Posts are matched by (source, source_id), then by URL. A post whose URL another source
    stored first stays with that source (a warning says so). The caller's session commits, so a
    sync is all or nothing per source. The matching posts and the slugs in use are read in a few
    queries up front, so a sync of thousands of posts does not cost a query per post.
    """
    batch = list(posts)
    result = SyncResult(source)
    existing = {p.source_id: p for p in session.exec(select(Post).where(Post.source == source))}
    by_url = _posts_by_url(session, {d.url for d in batch if d.source_id not in existing})
    slugs = set(session.exec(select(Post.slug)))
    kept: set[int] = set()
    elsewhere: list[str] = []
    for data in batch:
        post = existing.get(data.source_id) or by_url.get(data.url)
        if post is not None and post.source != source:
            elsewhere.append(post.slug)  # the source that stored it first keeps it
            continue
        post = _store(session, source, data, post, slugs, result)
        existing[data.source_id] = by_url[data.url] = post
        kept.add(id(post))
    session.flush()
    if elsewhere:
        result.warnings.append(
            f"{len(elsewhere)} posts have the URL of a post stored from another source and were "
            f"left to it: {', '.join(elsewhere[:5])}" + (", ..." if len(elsewhere) > 5 else "")
        )
    if prune:
        for post in {id(p): p for p in existing.values()}.values():
            if id(post) not in kept:
                result.pruned.append(post.slug)
                session.delete(post)
    return result


def _store(
    session: Session,
    source: str,
    data: PostData,
    post: Post | None,
    slugs: set[str],
    result: SyncResult,
) -> Post:
    """Add ``data`` as a new post, or update ``post`` with it when its content changed."""
    if data.undated and post is not None:
        data = replace(data, published_at=post.published_at, updated_at=post.updated_at)
    digest = data.content_hash()
    if post is not None and post.content_hash == digest:
        post.source_id = data.source_id  # the same post under a new id (a feed's guid changed)
        result.unchanged.append(post.slug)
        return post
    if post is None:
        post = Post(slug=_free_slug(slugs, data.slug), source=source, **_columns(data))
        slugs.add(post.slug)
        result.created.append(post.slug)
    else:
        for name, value in _columns(data).items():
            setattr(post, name, value)
        result.updated.append(post.slug)
    post.source_id, post.content_hash, post.synced_at = data.source_id, digest, utcnow()
    session.add(post)
    return post


def _columns(data: PostData) -> dict[str, Any]:
    return {
        "title": data.title,
        "url": data.url,
        "published_at": data.published_at,
        "updated_at": data.updated_at,
        "categories": list(data.categories),
        "tags": list(data.tags),
        "author": data.author,
        "summary": data.summary,
        "html": data.html,
        "image_url": data.image_url,
        "image_alt": data.image_alt,
    }


def _posts_by_url(session: Session, urls: set[str], chunk: int = 500) -> dict[str, Post]:
    wanted = sorted(u for u in urls if u)
    found: dict[str, Post] = {}
    for i in range(0, len(wanted), chunk):
        statement = select(Post).where(col(Post.url).in_(wanted[i : i + chunk]))
        found.update((p.url, p) for p in session.exec(statement))
    return found


def _free_slug(taken: set[str], slug: str) -> str:
    """``slug``, or ``slug-2``, ``slug-3``... when another post already has it."""
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    return candidate


# A post's date must fall between these (a year-1 or year-9999 date is a broken source, and
# breaks arithmetic and time-zone display later); see ``plausible_date``.
EARLIEST_POST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_POST = datetime(2200, 1, 1, tzinfo=UTC)


def plausible_date(moment: datetime) -> bool:
    """Whether ``moment`` (aware) is a date a post can have: years 1900 to 2199."""
    return EARLIEST_POST <= moment < LATEST_POST
