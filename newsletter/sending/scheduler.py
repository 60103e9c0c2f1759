"""One pass over the issues that are due (`newsletter send-due`), for cron or a systemd timer.

No loop, no daemon: each run sends every issue whose time has come and that has not been sent,
resumes a live send that was interrupted, and refuses (once) an issue whose time is more than
``stale_after`` in the past, which is usually a mistake (a wrong year, a timer that was off).
Two runs at once are safe: the send ledger lets each recipient be claimed by one of them only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issues.file import load_issue, scheduled_send_at
from newsletter.models import Schedule, SendStatus, utcnow
from newsletter.sending.ledger import live_send
from newsletter.sending.sender import SendOptions, send_issue
from newsletter.transports.base import Transport


class Action(StrEnum):
    sent = "sent"
    not_due = "not due"
    already_sent = "already sent"
    refused = "refused: stale"
    skipped = "skipped: refused earlier as stale"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    slug: str
    send_at: datetime | None
    action: Action
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action in (Action.failed, Action.refused)


def schedule(engine: sa.Engine, slug: str, at: datetime) -> None:
    """Set (or move) when an issue is due; a new time clears an earlier stale refusal."""
    with Session(engine) as session:
        row = session.get(Schedule, slug) or Schedule(
            issue_slug=slug, send_at=at, updated_at=utcnow()
        )
        row.send_at, row.refused_at, row.updated_at = at, None, utcnow()
        session.add(row)
        session.commit()


def due_times(settings: Settings, engine: sa.Engine) -> dict[str, datetime]:
    """slug -> send time: `newsletter schedule` wins over ``send_at`` in the issue file."""
    times: dict[str, datetime] = {}
    if settings.issues_dir.is_dir():
        for path in sorted(settings.issues_dir.glob("*.toml")):
            at = scheduled_send_at(path, settings.zone)  # a broken draft blocks nothing
            if at is not None:
                times[path.stem] = at
    with Session(engine) as session:
        for row in session.exec(select(Schedule)):
            times[row.issue_slug] = row.send_at
    return {slug: at.astimezone(UTC) for slug, at in times.items()}


def send_due(
    settings: Settings,
    engine: sa.Engine,
    transport: Transport,
    *,
    now: datetime | None = None,
    force: bool = False,
    options: SendOptions | None = None,
) -> list[Outcome]:
    """Send what is due; one Outcome per scheduled issue. Never raises for one issue's failure."""
    now = now or utcnow()
    stale = timedelta(seconds=settings.stale_after)
    outcomes = []
    for slug, at in sorted(due_times(settings, engine).items(), key=lambda item: item[1]):
        with Session(engine) as session:
            send = live_send(session, slug)
            refused = session.get(Schedule, slug)
        if send is not None and send.status == SendStatus.finished:
            outcomes.append(Outcome(slug, at, Action.already_sent))
            continue
        if at > now:
            outcomes.append(Outcome(slug, at, Action.not_due, f"due in {_human(at - now)}"))
            continue
        if send is None and now - at > stale and not force:
            if refused is not None and refused.refused_at is not None and refused.send_at == at:
                outcomes.append(Outcome(slug, at, Action.skipped))
                continue
            _refuse(engine, slug, at, now)
            detail = (
                f"was due {_human(now - at)} ago, more than stale_after ({_human(stale)}); "
                "send it anyway with --force, or schedule it again"
            )
            outcomes.append(Outcome(slug, at, Action.refused, detail))
            continue
        outcomes.append(_send(settings, engine, transport, slug, at, options))
    return outcomes


def _send(
    settings: Settings,
    engine: sa.Engine,
    transport: Transport,
    slug: str,
    at: datetime,
    options: SendOptions | None,
) -> Outcome:
    try:
        load_issue(
            slug,
            issues_dir=settings.issues_dir,
            templates_dir=settings.templates_dir,
            default_zone=settings.timezone,
        )
        send, progress = send_issue(settings, engine, transport, slug, options)
    except NewsletterError as exc:
        return Outcome(slug, at, Action.failed, str(exc))
    detail = f"send {send.id}: {progress.accepted} accepted, {progress.failed} failed"
    if progress.uncertain:
        detail += f", {progress.uncertain} uncertain"
    action = Action.failed if progress.failed or progress.uncertain else Action.sent
    return Outcome(slug, at, action, detail)


def _refuse(engine: sa.Engine, slug: str, at: datetime, now: datetime) -> None:
    with Session(engine) as session:
        row = session.get(Schedule, slug) or Schedule(issue_slug=slug, send_at=at, updated_at=now)
        row.send_at, row.refused_at, row.updated_at = at, now, now
        session.add(row)
        session.commit()


def _human(delta: timedelta) -> str:
    """3 days, 5 h 12 min, or 40 s."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
