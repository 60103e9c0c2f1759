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


DRAFT = "draft"


def history(engine: sa.Engine, slug: str, *, limit: int = 200) -> list[IssueRevision]:
    """The revisions that reached the file, newest first (drafts aside)."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(IssueRevision)
                .where(IssueRevision.issue_slug == slug, IssueRevision.kind != DRAFT)
                .order_by(col(IssueRevision.at).desc(), col(IssueRevision.id).desc())
                .limit(limit)
            )
        )


def get(engine: sa.Engine, slug: str, revision_id: int) -> IssueRevision | None:
    """One revision of this issue (None for another issue's id)."""
    with Session(engine) as session:
        row = session.get(IssueRevision, revision_id)
    return row if row is not None and row.issue_slug == slug else None


def draft(engine: sa.Engine, slug: str, staff_id: int) -> IssueRevision | None:
    """This staff member's autosaved draft of the issue, if any."""
    with Session(engine) as session:
        return session.exec(
            select(IssueRevision).where(
                IssueRevision.issue_slug == slug,
                IssueRevision.kind == DRAFT,
                IssueRevision.staff_id == staff_id,
            )
        ).first()


def save_draft(
    engine: sa.Engine,
    slug: str,
    text: str,
    *,
    author: str,
    staff_id: int,
    base_hash: str,
    now: datetime | None = None,
) -> IssueRevision:
    """The autosave: one ``draft`` row per issue and staff member, updated in place; never the
    file."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(
            select(IssueRevision).where(
                IssueRevision.issue_slug == slug,
                IssueRevision.kind == DRAFT,
                IssueRevision.staff_id == staff_id,
            )
        ).first()
        if row is None:
            row = IssueRevision(
                issue_slug=slug, staff_id=staff_id, kind=DRAFT, text="", file_hash=""
            )
        row.at, row.author, row.text = now or utcnow(), author, text
        row.file_hash, row.base_hash = file_hash(text), base_hash
        session.add(row)
        session.commit()
    return row


def discard_draft(engine: sa.Engine, slug: str, staff_id: int) -> bool:
    """Forget this staff member's draft of the issue; whether there was one."""
    with Session(engine) as session:
        row = session.exec(
            select(IssueRevision).where(
                IssueRevision.issue_slug == slug,
                IssueRevision.kind == DRAFT,
                IssueRevision.staff_id == staff_id,
            )
        ).first()
        if row is None:
            return False
        session.delete(row)
        session.commit()
        return True
