"""The editor's post picker: for each section of an unsaved issue, the posts its filters select
in the issue's period, in order, marked pinned, chosen, below the limit, excluded or taken by
an earlier section; and a search over every post, to pin one from outside the filters.

The choosing is ``selection.plan_sections``'s (the rules ``newsletter build`` follows); this
module only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from newsletter.content.posts import StoredPost
from newsletter.content.reading import PostReader
from newsletter.issues.file import Issue
from newsletter.issues.selection import plan_sections
from newsletter.models import Post

SEARCH_LIMIT = 20
QUERY_MAX = 100
Mark = Literal["pinned", "chosen", "below_limit", "excluded", "elsewhere"]


@dataclass(frozen=True)
class Row:
    slug: str
    title: str
    published_at: datetime
    mark: Mark
    position: int | None = None  # in the issue's order, for the chosen (pinned included)

    @property
    def goes_out(self) -> bool:
        return self.mark in ("pinned", "chosen")


@dataclass(frozen=True)
class Found:
    slug: str
    title: str
    published_at: datetime


def picker_rows(engine: sa.Engine, issue: Issue) -> list[list[Row]]:
    """Per section, its posts: what goes out first (in order), then what falls below the
    limit, then the excluded and those an earlier section took."""
    with PostReader.of_engine(engine) as posts:
        plans = plan_sections(posts, issue)
    out = []
    for plan in plans:
        chosen = {p.slug for p in plan.chosen}
        pinned = {p.slug for p in plan.pinned}
        rows = [
            _row(post, "pinned" if post.slug in pinned else "chosen", index)
            for index, post in enumerate(plan.chosen)
        ]
        rows += [_row(post, "below_limit") for post in plan.rest if post.slug not in chosen]
        rows += [_row(post, "excluded") for post in plan.excluded]
        rows += [_row(post, "elsewhere") for post in plan.elsewhere]
        out.append(rows)
    return out


def search(engine: sa.Engine, query: str, *, limit: int = SEARCH_LIMIT) -> list[Found]:
    """Posts whose title or slug contains ``query`` (any letter case), newest first."""
    query = query.strip()[:QUERY_MAX]
    if not query:
        return []
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    statement = (
        select(Post.slug, Post.title, Post.published_at)
        .where(
            or_(
                col(Post.title).ilike(pattern, escape="\\"),
                col(Post.slug).ilike(pattern, escape="\\"),
            )
        )
        .order_by(col(Post.published_at).desc(), col(Post.slug))
        .limit(limit)
    )
    with Session(engine) as session:
        return [Found(slug, title, at) for slug, title, at in session.exec(statement)]


def moved(order: list[str], slug: str, step: int) -> list[str] | None:
    """The pins that put ``slug`` one place up (``step`` -1) or down (+1) in ``order`` (what
    goes out): the posts down to the lower of the two places, pinned in the new order, so the
    posts after them keep following the section's own order. None when it cannot move."""
    if slug not in order:
        return None
    here = order.index(slug)
    there = here + step
    if not 0 <= there < len(order):
        return None
    new = list(order)
    new[here], new[there] = new[there], new[here]
    return new[: max(here, there) + 1]


def _row(post: StoredPost, mark: Mark, position: int | None = None) -> Row:
    return Row(post.slug, post.title, post.published_at, mark, position)
