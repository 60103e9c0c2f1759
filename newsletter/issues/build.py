"""Build an issue end to end: load its file, select its posts, compile, check, write the files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import DEFAULT_SOURCE_NAME, MarkdownSourceConfig, Settings
from newsletter.content.reading import PostReader, posts_of
from newsletter.errors import gathered
from newsletter.issues.checks import Finding, check_compiled
from newsletter.issues.compiler import CompiledIssue, compile_issue, make_environment
from newsletter.issues.file import Issue, load_issue
from newsletter.issues.selection import reference_problems, select_sections

if TYPE_CHECKING:
    import jinja2
    import sqlalchemy as sa

    from newsletter.content.store import SyncResult

MARKDOWN_SOURCE = DEFAULT_SOURCE_NAME


@dataclass(frozen=True)
class Build:
    issue: Issue
    compiled: CompiledIssue
    findings: list[Finding]


def org_context(settings: Settings) -> dict[str, str]:
    return {
        "name": settings.organisation_name,
        "website_url": settings.website_url,
        "logo_url": settings.logo_url,
        "postal_address": settings.postal_address,
        "from_name": settings.from_name,
        "from_email": settings.from_email,
    }


def sync_markdown(settings: Settings, engine: sa.Engine, *, prune: bool = False) -> SyncResult:
    """Sync the Markdown sources (by default the one reading ``content_dir``), each in one
    transaction; the result of the first. Used where only local files changed (``preview``).

    The good posts are stored even when some files are bad; then ContentError names them all.
    """
    # imported here: the sources bring httpx, feedparser and front matter, which a build
    # (posts already in the store) never uses
    from newsletter.content.sources import SyncRequest, sync_source
    from newsletter.content.store import SyncResult

    results = [
        sync_source(settings, engine, source, SyncRequest(prune=prune))
        for source in settings.content_sources()
        if isinstance(source, MarkdownSourceConfig)
    ]
    problems = [problem for result in results for problem in result.problems]
    if problems:
        raise gathered(problems)
    return results[0] if results else SyncResult(MARKDOWN_SOURCE)


def build_issue(
    settings: Settings,
    store: sa.Engine | PostReader,
    ref: str | Path,
    env: jinja2.Environment | None = None,
) -> Build:
    """Compile and check one issue (a slug or a path); raises on a bad file or template.

    ``store`` is the database's engine, or a reader on it (``content.reading``: what the
    command line uses on a SQLite file, so a build never imports the ORM). Pass the same
    ``env`` to repeated builds (preview, benchmarks) to reuse compiled templates; Jinja still
    reloads a template whose file changed.
    """
    with posts_of(store) as posts:
        issue = load_issue(
            ref,
            issues_dir=settings.issues_dir,
            templates_dir=settings.templates_dir,
            default_zone=settings.timezone,
            references=lambda sections: reference_problems(posts, sections),
        )
        sections = select_sections(posts, issue)
        env = env or make_environment(settings.templates_dir)
        compiled = compile_issue(env, issue, sections, org_context(settings))
    findings = check_compiled(compiled, postal_address=settings.postal_address)
    return Build(issue, compiled, findings)


def write_build(build: Build, out_dir: Path) -> dict[str, Path]:
    """index.html, index.txt, index.mjml and issue.json (what the send step needs to know)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    compiled = build.compiled
    files = {
        "html": out_dir / "index.html",
        "text": out_dir / "index.txt",
        "mjml": out_dir / "index.mjml",
        "meta": out_dir / "issue.json",
    }
    files["html"].write_text(compiled.html, encoding="utf-8")
    files["text"].write_text(compiled.text, encoding="utf-8")
    files["mjml"].write_text(compiled.mjml, encoding="utf-8")
    meta = {
        "slug": compiled.slug,
        "subject": compiled.subject,
        "preheader": compiled.preheader,
        "placeholders": list(compiled.placeholders),
        "content_hash": compiled.content_hash,
        "html_bytes": compiled.size,
        "send_at": build.issue.send_at.isoformat() if build.issue.send_at else None,
        "findings": [
            {"level": f.level, "code": f.code, "message": f.message} for f in build.findings
        ],
    }
    files["meta"].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return files
