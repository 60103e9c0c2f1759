"""The content store as the dashboard lists it: filtered (title or slug, quarter, category, tag,
source), newest first, a page at a time by keyset (published_at, id): "Older" and "Newer"
pages start after the last row seen, never with OFFSET, so a page stays the same while posts
are added elsewhere.

Categories and tags are JSON lists; a filter matches the JSON text of the list against the
value as JSON (``"news"``, quotes included), so the query is the same SQL on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, func, or_, select

from newsletter.models import Post

QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
QUERY_MAX = 100


@dataclass(frozen=True)
class Filters:
    query: str = ""
    quarter: str = ""  # YYYY-Qn, in the organisation's zone
    category: str = ""
    tag: str = ""
    source: str = ""

    def active(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class Cursor:
    """A row's place in the order: its date and id (``2016-10-27T03:00:00+00:00~12``)."""

    at: datetime
    id: int

    def text(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat()}~{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        at, _, ident = text.partition("~")
        if not ident.isdigit() or len(ident) > 18:
            return None
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        return cls(moment.astimezone(UTC), int(ident))


@dataclass(frozen=True)
class Page:
    posts: list[Post]
    older: Cursor | None  # where the next older page starts, if there is one
    newer: Cursor | None  # where the next newer page starts, if this is not the first
    matching: int
    total: int


def quarter_range(quarter: str, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    found = QUARTER.fullmatch(quarter)
    if not found:
        return None
    year, n = int(found.group(1)), int(found.group(2))
    start = datetime(year, 3 * n - 2, 1, tzinfo=zone)
    end = datetime(year + (n == 4), 1 if n == 4 else 3 * n + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _like(value: str) -> str:
    text = json.dumps(value)
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conditions(filters: Filters, zone: ZoneInfo) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    query = filters.query.strip()[:QUERY_MAX]
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                col(Post.title).ilike(pattern, escape="\\"),
                col(Post.slug).ilike(pattern, escape="\\"),
            )
        )
    period = quarter_range(filters.quarter, zone)
    if period:
        where += [col(Post.published_at) >= period[0], col(Post.published_at) < period[1]]
    for column, value in ((Post.categories, filters.category), (Post.tags, filters.tag)):
        if value:
            text = sa.cast(col(column), sa.Text)
            where.append(text.like(_like(value), escape="\\"))
    if filters.source:
        where.append(col(Post.source) == filters.source)
    return where


def page(
    engine: sa.Engine,
    filters: Filters,
    zone: ZoneInfo,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = 50,
) -> Page:
    """One page of matching posts, newest first: the first, the one older than ``after`` or
    the one newer than ``before``."""
    where = _conditions(filters, zone)
    at, ident = col(Post.published_at), col(Post.id)
    statement = select(Post).where(*where)
    if after is not None:
        statement = statement.where(
            or_(at < after.at, sa.and_(at == after.at, ident < after.id))
        ).order_by(at.desc(), ident.desc())
    elif before is not None:
        statement = statement.where(
            or_(at > before.at, sa.and_(at == before.at, ident > before.id))
        ).order_by(at.asc(), ident.asc())
    else:
        statement = statement.order_by(at.desc(), ident.desc())
    with Session(engine) as session:
        rows = list(session.exec(statement.limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        if before is not None:
            rows.reverse()
        matching = session.exec(select(func.count()).select_from(Post).where(*where)).one()
        total = session.exec(select(func.count()).select_from(Post)).one()
    older = newer = None
    if rows:
        first, last = rows[0], rows[-1]
        if (before is None and more) or before is not None:
            older = Cursor(last.published_at, last.id or 0)
        if after is not None or (before is not None and more):
            newer = Cursor(first.published_at, first.id or 0)
    return Page(rows, older, newer, matching, total)


def choices(engine: sa.Engine, zone: ZoneInfo) -> dict[str, list[str]]:
    """What the filters offer: every category, tag, source and quarter the store has."""
    categories: set[str] = set()
    tags: set[str] = set()
    sources: set[str] = set()
    quarters: set[str] = set()
    with Session(engine) as session:
        rows = session.exec(select(Post.categories, Post.tags, Post.source, Post.published_at))
        for cats, tag_list, source, at in rows:
            categories.update(cats)
            tags.update(tag_list)
            sources.add(source)
            local = at.astimezone(zone)
            quarters.add(f"{local.year}-Q{(local.month - 1) // 3 + 1}")
    return {
        "category": sorted(categories),
        "tag": sorted(tags),
        "source": sorted(sources),
        "quarter": sorted(quarters, reverse=True),
    }


def source_counts(engine: sa.Engine) -> dict[str, int]:
    """How many posts each source has stored."""
    with Session(engine) as session:
        rows = session.exec(select(Post.source, func.count()).group_by(col(Post.source)))
        return dict(rows.all())
