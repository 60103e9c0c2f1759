"""Post selection: each section of an issue takes its posts from the content store.

What a section names must exist in the store: a pinned or excluded slug that no post has, or a
category or tag no post carries, is an error (with the closest existing name), never a silent
no-op that lets the wrong post go out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.content.posts import StoredPost
from newsletter.content.reading import PostReader, matching
from newsletter.errors import did_you_mean, gathered
from newsletter.issues.file import Issue, Problem, SectionSpec

LISTED = 30  # at most this many existing categories or tags are listed in a message


@dataclass(frozen=True)
class Section:
    spec: SectionSpec
    posts: list[StoredPost]


def select_sections(posts: PostReader, issue: Issue) -> list[Section]:
    """Each section's posts: pinned first, then the period's matches; no post twice in an issue.

    Raises IssueFileError listing every slug, category or tag the store does not have.
    """
    problems = reference_problems(posts, [s.model_dump() for s in issue.spec.sections])
    if problems:
        raise gathered([issue.error_at(problem) for problem in problems])
    return [Section(plan.spec, plan.chosen) for plan in plan_sections(posts, issue)]


@dataclass(frozen=True)
class Plan:
    """How one section chooses: ``pinned`` (in pin order, none an earlier section took),
    ``rest`` (the period's matches that are not pinned, excluded or taken, in the section's
    order), ``excluded`` and ``elsewhere`` (matches an earlier section took). ``chosen`` is
    what goes out; the editor's post picker shows all of it."""

    spec: SectionSpec
    pinned: list[StoredPost]
    rest: list[StoredPost]
    excluded: list[StoredPost]
    elsewhere: list[StoredPost]

    @property
    def chosen(self) -> list[StoredPost]:
        return (self.pinned + self.rest)[: max(self.spec.limit, len(self.pinned))]


def plan_sections(posts: PostReader, issue: Issue) -> list[Plan]:
    """Each section's plan, in order; an earlier section's choice is taken from later ones.
    Names the store lacks are skipped here (``select_sections`` refuses them first)."""
    known = posts.by_slug(slug for s in issue.spec.sections for slug in s.pin)
    period = posts.published(since=issue.since, until=issue.until)
    used: set[str] = set()
    plans = []
    for spec in issue.spec.sections:
        candidates = matching(period, categories=spec.categories, tags=spec.tags)
        excluded, pins = set(spec.exclude), set(spec.pin)
        skip = used | excluded | pins
        rest = _ordered([p for p in candidates if p.slug not in skip], spec.order)
        pinned = [known[slug] for slug in spec.pin if slug not in used and slug in known]
        plan = Plan(
            spec,
            pinned,
            rest,
            excluded=[p for p in candidates if p.slug in excluded and p.slug not in pins],
            elsewhere=[p for p in candidates if p.slug in used and p.slug not in pins | excluded],
        )
        used.update(p.slug for p in plan.chosen)
        plans.append(plan)
    return plans


def reference_problems(posts: PostReader, sections: Sequence[object]) -> list[Problem]:
    """What the sections (as the file has them, possibly malformed) name that the store lacks:
    pinned and excluded slugs, categories and tags, each with its closest existing name."""
    named = [
        (index, key, value)
        for index, section in enumerate(sections)
        if isinstance(section, dict)
        for key in ("pin", "exclude", "categories", "tags")
        if isinstance(section.get(key), list)
        for value in section[key]
        if isinstance(value, str)
    ]
    if not named:
        return []
    rows = posts.names()
    if not rows:
        return [
            Problem(
                ("sections",),
                "the content store has no posts yet: run `newsletter content sync` first",
            )
        ]
    slugs = {slug for slug, _, _ in rows}
    kinds = {
        "categories": sorted({c for _, categories, _ in rows for c in categories or []}),
        "tags": sorted({t for _, _, tags in rows for t in tags or []}),
    }
    problems = []
    for index, key, value in named:
        loc = ("sections", index, key)
        if key in ("pin", "exclude") and value not in slugs:
            problems.append(Problem(loc, _unknown_slug(key, value, slugs), value))
        elif key in kinds and value not in kinds[key]:
            problems.append(Problem(loc, _unknown_name(key, value, kinds), value))
    return problems


def _unknown_slug(key: str, slug: str, slugs: set[str]) -> str:
    what = "pinned" if key == "pin" else "excluded"
    guess = did_you_mean(slug, sorted(slugs))
    hint = (
        f"did you mean {guess!r}?"
        if guess
        else "a typo, or run `newsletter content sync` first? `newsletter content list` shows "
        "the slugs"
    )
    return f"{what} post {slug!r} is not in the content store ({hint})"


def _unknown_name(key: str, name: str, kinds: dict[str, list[str]]) -> str:
    kind = "category" if key == "categories" else "tag"
    other_key = "tags" if key == "categories" else "categories"
    known = kinds[key]
    message = f"no post in the content store has the {kind} {name!r}"
    guess = did_you_mean(name, known)
    if name in kinds[other_key]:
        message += f" ({name!r} is a {'tag' if kind == 'category' else 'category'}: "
        message += f"put it in {other_key})"
    elif guess and guess.casefold() == name.casefold():
        message += f" (did you mean {guess!r}? names are matched exactly, letter case included)"
    elif guess:
        message += f" (did you mean {guess!r}?)"
    listed = ", ".join(known[:LISTED]) + (", ..." if len(known) > LISTED else "")
    plural = "categories" if kind == "category" else "tags"
    return message + (f"; the {plural} are: {listed}" if known else f"; no post has any {kind}")


def _ordered(posts: list[StoredPost], order: str) -> list[StoredPost]:
    if order == "oldest":
        return sorted(posts, key=lambda p: (p.published_at, p.slug))
    if order == "title":
        return sorted(posts, key=lambda p: p.title.casefold())
    return sorted(posts, key=lambda p: (p.published_at, p.slug), reverse=True)
