"""Issue revisions: every version of an issue file that the dashboard wrote, with who and when.

The file stays the truth (the CLI, cron and git read it); this table is its history, so a
history page can show what changed and restore an older version.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.issues.filetext import file_hash
from newsletter.models import IssueRevision, utcnow


def record(
    engine: sa.Engine,
    slug: str,
    text: str,
    *,
    kind: str,
    author: str,
    staff_id: int | None = None,
    base_hash: str = "",
    now: datetime | None = None,
) -> IssueRevision:
    """Store one revision (``kind``: created, saved, restored, scheduled, unscheduled)."""
    row = IssueRevision(
        issue_slug=slug,
        at=now or utcnow(),
        staff_id=staff_id,
        author=author,
        kind=kind,
        text=text,
        file_hash=file_hash(text),
        base_hash=base_hash,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row


def last_saved(engine: sa.Engine, slug: str) -> IssueRevision | None:
    """The newest revision that reached the file (autosaved drafts aside)."""
    with Session(engine) as session:
        return session.exec(
            select(IssueRevision)
            .where(IssueRevision.issue_slug == slug, IssueRevision.kind != "draft")
            .order_by(col(IssueRevision.at).desc(), col(IssueRevision.id).desc())
            .limit(1)
        ).first()
