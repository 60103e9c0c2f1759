"""Approval: a publisher's yes to an issue's content, bound to two hashes.

``content_hash`` is the issue file without its ``send_at`` (``issues/filetext.py``), so
scheduling keeps an approval and any other change to the file voids it. ``compiled_hash`` is the
email as built (``CompiledIssue.content_hash``, the very hash the send ledger keeps in
``Send.content_hash``: subject, preheader, HTML and text before personalisation), so a synced post
or a template that changes after approval voids it too; an approval without one (given before
migration 0009) counts as void. With ``require_approval = true`` every live send (``newsletter
send``, ``send-due``, the dashboard) and every scheduling needs an approval of both (``require``),
by a publisher who did not make the last edit; proofs never need one. Off (the default),
approving is still possible and shown, but nothing waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.errors import CheckFailed, SendError
from newsletter.issues.build import build_issue
from newsletter.issues.file import read_source, resolve_path
from newsletter.issues.filetext import content_hash
from newsletter.models import Approval, IssueRevision, utcnow
from newsletter.sending.summary import local_time

EDITS = ("created", "saved", "restored")  # revisions that change what readers get
EMAIL_CHANGED = "the email changed since it was approved (posts or template); approve it again"
NO_EMAIL_HASH = "approved before approvals covered the email itself; approve it again"


@dataclass(frozen=True)
class Standing:
    """The approval valid for the file's content now (or None), and why there is none."""

    approval: Approval | None
    why_not: str = ""
    last: Approval | None = None  # the newest approval, valid or not

    @property
    def approved(self) -> bool:
        return self.approval is not None


def file_text(settings: Settings, slug: str) -> str:
    """The issue file's text (IssueFileError when there is no such file or it is not UTF-8)."""
    return read_source(resolve_path(slug, settings.issues_dir))


def last_edit(engine: sa.Engine, slug: str, text: str) -> IssueRevision | None:
    """The dashboard revision that made the file's current content, or None when the content
    was written outside the dashboard (a text editor, git) or never saved there."""
    with Session(engine) as session:
        revision = session.exec(
            select(IssueRevision)
            .where(IssueRevision.issue_slug == slug, col(IssueRevision.kind).in_(EDITS))
            .order_by(col(IssueRevision.at).desc(), col(IssueRevision.id).desc())
            .limit(1)
        ).first()
    if revision is None or content_hash(revision.text) != content_hash(text):
        return None
    return revision


def _newest(session: Session, slug: str) -> Approval | None:
    return session.exec(
        select(Approval)
        .where(Approval.issue_slug == slug)
        .order_by(col(Approval.at).desc(), col(Approval.id).desc())
        .limit(1)
    ).first()


def current(
    engine: sa.Engine,
    slug: str,
    text: str,
    zone: ZoneInfo | None = None,
    compiled: str | None = None,
) -> Standing:
    """The approval valid for ``text`` (the file as it is now) and, when given, for the email
    built from it (``compiled``: ``CompiledIssue.content_hash``), or None and why not."""
    with Session(engine, expire_on_commit=False) as session:
        newest = _newest(session, slug)
    return standing(newest, content_hash(text), zone, compiled)


def standing(
    newest: Approval | None,
    digest: str,
    zone: ZoneInfo | None = None,
    compiled: str | None = None,
) -> Standing:
    """``current`` from an approval already read (the issues list reads them all at once and
    builds none: it passes no ``compiled``, so only the file and the approval's age count)."""
    if newest is None:
        return Standing(None, "not approved yet")
    when = _when(newest.at, zone)
    if newest.withdrawn_at is not None:
        withdrawn = _when(newest.withdrawn_at, zone)
        return Standing(None, f"approval by {newest.approver} withdrawn {withdrawn}", newest)
    if newest.content_hash != digest:
        return Standing(None, f"changed since it was approved by {newest.approver} {when}", newest)
    if newest.compiled_hash is None:
        return Standing(None, NO_EMAIL_HASH, newest)
    if compiled is not None and newest.compiled_hash != compiled:
        return Standing(None, EMAIL_CHANGED, newest)
    return Standing(newest, "", newest)


def _when(at: datetime, zone: ZoneInfo | None) -> str:
    return "at " + local_time(at, zone or ZoneInfo("UTC"))


def approve(
    settings: Settings,
    engine: sa.Engine,
    slug: str,
    seen_hash: str,
    *,
    staff_id: int | None,
    approver: str,
    seen_compiled: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Approve the content whose hash the approver saw (``seen_hash``) and the email built from
    it now (its hash is recorded; ``seen_compiled``, when given, must be the one the approver
    saw). SendError when the file or the email changed since, when it fails its pre-send checks,
    or, with ``require_approval``, when the approver made the last edit (someone else must look
    at it)."""
    text = file_text(settings, slug)
    digest = content_hash(text)
    if seen_hash != digest:
        raise SendError(
            f"{slug} has changed since you opened it: reload the page and look again before "
            "approving"
        )
    if settings.require_approval:
        edit = last_edit(engine, slug, text)
        if edit is not None and staff_id is not None and edit.staff_id == staff_id:
            raise SendError(
                f"you made the last edit of {slug} ({local_time(edit.at, settings.zone)}): "
                "another publisher must approve it"
            )
    build = build_issue(settings, engine, slug)
    errors = [f.message for f in build.findings if f.level == "error"]
    if errors:  # as sender.checked_build, which needs this module (no import cycle)
        raise CheckFailed(f"{slug} fails its pre-send checks: " + "; ".join(errors))
    compiled = build.compiled.content_hash  # = sender.content_of(...).content_hash, the ledger's
    if seen_compiled is not None and seen_compiled != compiled:
        raise SendError(
            f"the email of {slug} has changed since you opened it (posts or template): reload "
            "the page and look again before approving"
        )
    row = Approval(
        issue_slug=slug,
        content_hash=digest,
        compiled_hash=compiled,
        staff_id=staff_id,
        approver=approver,
        at=now or utcnow(),
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row


def withdraw(engine: sa.Engine, slug: str, *, now: datetime | None = None) -> int:
    """Take back every approval of the issue still standing; how many there were."""
    with engine.begin() as connection:
        table = Approval.__table__  # type: ignore[attr-defined]
        result = connection.execute(
            sa.update(table)
            .where(table.c.issue_slug == slug, table.c.withdrawn_at.is_(None))
            .values(withdrawn_at=now or utcnow())
        )
    return int(result.rowcount)


def require(
    settings: Settings, engine: sa.Engine, slug: str, *, compiled: str, doing: str = "sent"
) -> None:
    """With ``require_approval``: SendError unless the file's current content and the email
    about to go out (``compiled``: ``CompiledIssue.content_hash`` of the build being sent or
    scheduled) are the ones approved."""
    if not settings.require_approval:
        return
    found = current(engine, slug, file_text(settings, slug), settings.zone, compiled)
    if found.why_not in (EMAIL_CHANGED, NO_EMAIL_HASH):
        raise SendError(f"{slug} cannot be {doing}: {found.why_not}")
    if found.approval is None:
        raise SendError(
            f"{slug} cannot be {doing} ({found.why_not}): require_approval is on, so a publisher "
            "who did not make the last edit must approve its current content in the dashboard"
        )
