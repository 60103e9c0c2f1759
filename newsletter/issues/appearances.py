"""In which issues a post appears: each issue file's selection (``selection.plan_sections``, the
rules ``newsletter build`` follows) read once, as a map from post slug to issue slugs.

An issue file that does not load (a syntax error, a template missing) counts as selecting
nothing; its own page says what is wrong. Read once per request: the dashboard's post list and
a post's page build one map and look every post up in it.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.content.reading import PostReader
from newsletter.errors import NewsletterError
from newsletter.issues.file import in_issues_dir, load_issue
from newsletter.issues.selection import plan_sections


def appearances(settings: Settings, engine: sa.Engine) -> dict[str, list[str]]:
    """Post slug -> the slugs of the issues whose selection has it (newest issue first)."""
    found: dict[str, list[str]] = defaultdict(list)
    folder = settings.issues_dir
    if not folder.is_dir():
        return {}
    paths = sorted((p for p in folder.glob("*.toml") if in_issues_dir(p, folder)), reverse=True)
    with PostReader.of_engine(engine) as posts:
        for path in paths:
            try:
                issue = load_issue(
                    path,
                    issues_dir=folder,
                    templates_dir=settings.templates_dir,
                    default_zone=settings.timezone,
                )
            except NewsletterError:
                continue
            for plan in plan_sections(posts, issue):
                for post in plan.chosen:
                    if issue.slug not in found[post.slug]:
                        found[post.slug].append(issue.slug)
    return dict(found)
