"""Where each issue stands, for the dashboard: draft, approved, scheduled, due, stale (refused or
about to be), sending, stopping, stopped, sent; with its time, progress, figures, approval, quarter
and last editor. One pass of queries for every issue file, not a few per issue.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issues.file import in_issues_dir, read_source
from newsletter.issues.filetext import content_hash
from newsletter.models import (
    Approval,
    DeliveryStatus,
    IssueRevision,
    Schedule,
    SendStatus,
    delivery_table,
    send_table,
    utcnow,
)
from newsletter.sending import approval
from newsletter.sending.report import COUNTED
from newsletter.sending.scheduler import due_times
from newsletter.sending.summary import HANDED, duration

RATE_WINDOW = timedelta(seconds=60)


class State(StrEnum):
    draft = "draft"
    approved = "approved"
    scheduled = "scheduled"
    due = "due"  # its time has come: the next due-send pass sends it
    stale = "stale"  # due more than stale_after ago: send-due refuses it (or has)
    sending = "sending"
    stopping = "stopping"  # a stop was asked for; the batch in flight ends first
    stopped = "stopped"
    sent = "sent"


ACTIVE = frozenset({State.due, State.sending, State.stopping})  # worth watching live


@dataclass(frozen=True)
class LiveSend:
    """The head of an issue's live send (not its HTML) and its rows counted by status."""

    id: int
    status: str
    audience: int
    started_at: datetime
    finished_at: datetime | None
    started_by: str
    stop_requested_at: datetime | None
    transport: str
    last_error: str
    counts: dict[str, int]
    rate: float = 0.0  # accepted per second over the last minute

    def n(self, *statuses: str) -> int:
        return sum(self.counts.get(s, 0) for s in statuses)

    @property
    def accepted(self) -> int:
        return self.n(*HANDED)

    @property
    def done(self) -> int:
        return self.audience - self.n(DeliveryStatus.pending, DeliveryStatus.in_flight)

    @property
    def percent(self) -> int:
        return 100 if not self.audience else int(100 * self.done / self.audience)


@dataclass(frozen=True)
class IssueState:
    slug: str
    state: State
    subject: str
    quarter: str
    send_at: datetime | None
    countdown: str
    send: LiveSend | None
    standing: approval.Standing
    content_hash: str
    last_editor: str
    last_edited_at: datetime | None
    problem: str = ""  # the file cannot be read


def issue_states(
    settings: Settings, engine: sa.Engine, *, only: str | None = None, now: datetime | None = None
) -> list[IssueState]:
    """Every issue file's state (or only one's), newest file name first."""
    now = now or utcnow()
    times = due_times(settings, engine)
    links = {name.removesuffix(".toml") for name in linked_files(settings)}
    wanted = (s for s in times if (only is None or s == only) and s not in links)
    slugs = sorted(wanted, reverse=True)
    with Session(engine, expire_on_commit=False) as session:
        sends = _live_sends(session, slugs, now)
        approvals: dict[str, Approval] = {}
        for given in session.exec(
            select(Approval)
            .where(col(Approval.issue_slug).in_(slugs))
            .order_by(col(Approval.at), col(Approval.id))
        ):
            approvals[given.issue_slug] = given
        editors: dict[str, tuple[str, datetime]] = {}
        for slug, author, at in session.execute(
            sa.select(IssueRevision.issue_slug, IssueRevision.author, IssueRevision.at)  # type: ignore[call-overload]
            .where(col(IssueRevision.issue_slug).in_(slugs), IssueRevision.kind != "draft")
            .order_by(col(IssueRevision.at), col(IssueRevision.id))
        ):
            editors[slug] = (author, at)
        refused = {
            row.issue_slug: row
            for row in session.exec(select(Schedule).where(col(Schedule.issue_slug).in_(slugs)))
        }
    stale = timedelta(seconds=settings.stale_after)
    found = []
    for slug in slugs:
        path = settings.issues_dir / f"{slug}.toml"
        subject, quarter, digest, problem = _read(path)
        standing = approval.standing(approvals.get(slug), digest, settings.zone)
        at, send = times.get(slug), sends.get(slug)
        row = refused.get(slug)
        was_refused = row is not None and row.refused_at is not None and row.send_at == at
        state = _state(send, at, now, stale, was_refused, standing.approved)
        editor, edited = editors.get(slug, ("", None))
        found.append(
            IssueState(
                slug=slug,
                state=state,
                subject=subject,
                quarter=quarter,
                send_at=at,
                countdown=countdown(at, now) if state in (State.scheduled, State.due) else "",
                send=send,
                standing=standing,
                content_hash=digest,
                last_editor=editor,
                last_edited_at=edited,
                problem=problem,
            )
        )
    return found


def linked_files(settings: Settings) -> list[str]:
    """The names of ``*.toml`` entries of the issues folder that are not regular files of it
    (symbolic links, or resolving elsewhere): never read, listed apart with a warning."""
    folder = settings.issues_dir
    if not folder.is_dir():
        return []
    found = folder.glob("*.toml")
    return sorted(p.name for p in found if p.is_symlink() or not in_issues_dir(p, folder))


def countdown(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    return f"in {duration(at - now)}" if at > now else "due now: the next due-send pass sends it"


def _state(
    send: LiveSend | None,
    at: datetime | None,
    now: datetime,
    stale: timedelta,
    refused: bool,
    approved: bool,
) -> State:
    if send is not None:
        if send.status == SendStatus.finished:
            return State.sent
        if send.status == SendStatus.stopped:
            return State.stopped
        return State.stopping if send.stop_requested_at is not None else State.sending
    if at is not None:
        if refused or now - at > stale:
            return State.stale
        return State.scheduled if at > now else State.due
    return State.approved if approved else State.draft


def _read(path: Path) -> tuple[str, str, str, str]:
    """subject, quarter (or from – until), content hash, problem."""
    if path.exists() and not in_issues_dir(path, path.parent):
        return "", "", "", f"{path.name}: not read (a symbolic link or not a regular file)"
    try:
        text = read_source(path)
    except NewsletterError as exc:
        return "", "", "", str(exc)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return "", "", content_hash(text), f"not valid TOML: {exc}"
    quarter = data.get("quarter") or f"{data.get('from', '?')} – {data.get('until', '?')}"
    return str(data.get("subject", "")), str(quarter), content_hash(text), ""


def _live_sends(session: Session, slugs: list[str], now: datetime) -> dict[str, LiveSend]:
    s = send_table.c
    heads = session.execute(
        sa.select(
            s.id, s.live_slug, s.status, s.audience, s.started_at, s.finished_at,
            s.started_by, s.stop_requested_at, s.transport, s.last_error,
        ).where(s.live_slug.in_(slugs))
    ).all()  # fmt: skip
    ids = [h.id for h in heads]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    d = delivery_table.c
    for send_id, status, n in session.execute(
        sa.select(d.send_id, d.status, sa.func.count())
        .where(d.send_id.in_(ids))
        .group_by(d.send_id, d.status)
    ):
        counts[send_id][str(status)] = int(n)
    running = [h.id for h in heads if h.status != SendStatus.finished.value]
    recent: dict[int, int] = {}
    if running:
        recent = dict(
            session.execute(
                sa.select(d.send_id, sa.func.count())
                .where(
                    d.send_id.in_(running),
                    d.status.in_(HANDED),
                    d.updated_at >= now - RATE_WINDOW,
                )
                .group_by(d.send_id)
            ).all()
        )
    window = RATE_WINDOW.total_seconds()
    return {
        h.live_slug: LiveSend(
            id=h.id,
            status=str(h.status),
            audience=h.audience,
            started_at=h.started_at,
            finished_at=h.finished_at,
            started_by=h.started_by,
            stop_requested_at=h.stop_requested_at,
            transport=h.transport,
            last_error=h.last_error,
            counts={k: v for k, v in counts[h.id].items() if k in COUNTED},
            rate=recent.get(h.id, 0) / window,
        )
        for h in heads
    }
