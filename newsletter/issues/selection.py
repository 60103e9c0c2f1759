"""Post selection: each section of an issue takes its posts from the content store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from newsletter.content.store import posts_by_slug, query_posts
from newsletter.issues.file import Issue, SectionSpec
from newsletter.models import Post


@dataclass(frozen=True)
class Section:
    spec: SectionSpec
    posts: list[Post]


def select_sections(session: Session, issue: Issue) -> list[Section]:
    """Each section's posts: pinned first, then the period's matches; no post twice in an issue."""
    pinned_all = [slug for s in issue.spec.sections for slug in s.pin]
    known = posts_by_slug(session, pinned_all)
    for index, spec in enumerate(issue.spec.sections):
        for slug in spec.pin:
            if slug not in known:
                raise issue.error(
                    f"pinned post {slug!r} is not in the content store "
                    "(a typo, or run `newsletter content sync` first?)",
                    "sections",
                    index,
                    "pin",
                )
    used: set[str] = set()
    sections = []
    for spec in issue.spec.sections:
        candidates = query_posts(
            session,
            since=issue.since,
            until=issue.until,
            categories=spec.categories,
            tags=spec.tags,
        )
        skip = used | set(spec.exclude) | set(spec.pin)
        rest = _ordered([p for p in candidates if p.slug not in skip], spec.order)
        pinned = [known[slug] for slug in spec.pin if slug not in used]
        chosen = (pinned + rest)[: max(spec.limit, len(pinned))]
        used.update(p.slug for p in chosen)
        sections.append(Section(spec, chosen))
    return sections


def _ordered(posts: list[Post], order: str) -> list[Post]:
    if order == "oldest":
        return sorted(posts, key=lambda p: (p.published_at, p.slug))
    if order == "title":
        return sorted(posts, key=lambda p: p.title.casefold())
    return sorted(posts, key=lambda p: (p.published_at, p.slug), reverse=True)
