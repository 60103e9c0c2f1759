"""One pass over the issues that are due (`newsletter send-due`), for cron or a systemd timer.

No loop, no daemon: each run sends every issue whose time has come and that has not been sent,
resumes a live send that was interrupted, and refuses (once) an issue whose time is more than
``stale_after`` in the past, which is usually a mistake (a wrong year, a timer that was off).
Two runs at once are safe: the send ledger lets each recipient be claimed by one of them only.

Every issue gets an Outcome; the ``quiet`` ones (not due, already sent, refused earlier, not
scheduled, another process sending it) are what a tick with nothing to do is made of, and
cron mails on any output, so ``send-due`` shows them only with ``--verbose``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.errors import NewsletterError, SendError
from newsletter.issues.file import in_issues_dir, load_issue, scheduled_send_at
from newsletter.models import Schedule, Send, SendStatus, utcnow
from newsletter.sending import summary
from newsletter.sending.ledger import live_send
from newsletter.sending.processes import send_issue
from newsletter.sending.sender import SendOptions
from newsletter.sending.summary import duration, local_time
from newsletter.transports.base import Transport


class Action(StrEnum):
    sent = "sent"
    not_due = "not due"
    already_sent = "already sent"
    refused = "refused: stale"
    skipped = "skipped: refused earlier as stale"
    failed = "failed"
    unscheduled = "not scheduled"
    elsewhere = "being sent by another process"
    stopped = "stopped on request"


QUIET = {
    Action.not_due,
    Action.already_sent,
    Action.skipped,
    Action.unscheduled,
    Action.elsewhere,
    Action.stopped,
}


@dataclass(frozen=True)
class Outcome:
    slug: str
    send_at: datetime | None
    action: Action
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action in (Action.failed, Action.refused)

    @property
    def quiet(self) -> bool:
        """Nothing happened and nothing needs doing: shown only with --verbose."""
        return self.action in QUIET


def schedulable(
    engine: sa.Engine, slug: str, at: datetime, *, zone: ZoneInfo, now: datetime
) -> None:
    """Refuse (SendError) a time that has passed, and an issue whose live send has started."""
    if at <= now:
        raise SendError(
            f"{local_time(at, zone)} is in the past (now {local_time(now, zone)}): give a time "
            f"to come, or send it now with: newsletter send {slug}"
        )
    with Session(engine) as session:
        send = live_send(session, slug)
    if send is not None:
        raise SendError(_sent_already(send, zone))


def schedule(
    engine: sa.Engine, slug: str, at: datetime, *, zone: ZoneInfo, now: datetime | None = None
) -> None:
    """Set (or move) when an issue is due; a new time clears an earlier stale refusal.
    Refused as ``schedulable`` says."""
    now = now or utcnow()
    schedulable(engine, slug, at, zone=zone, now=now)
    with Session(engine) as session:
        row = session.get(Schedule, slug) or Schedule(issue_slug=slug, send_at=at, updated_at=now)
        row.send_at, row.refused_at, row.updated_at = at, None, now
        session.add(row)
        session.commit()


def _sent_already(send: Send, zone: ZoneInfo) -> str:
    if send.status == SendStatus.finished and send.finished_at is not None:
        return (
            f"{send.issue_slug} was already sent (send {send.id}, finished "
            f"{local_time(send.finished_at, zone)}): an issue goes to the list once"
        )
    return (
        f"{send.issue_slug} is being sent already (send {send.id}, {send.status}, started "
        f"{local_time(send.started_at, zone)}): newsletter send {send.issue_slug} resumes it"
    )


def due_times(settings: Settings, engine: sa.Engine) -> dict[str, datetime | None]:
    """slug -> send time (None: an issue file without a send_at that can be read):
    `newsletter schedule` wins over ``send_at`` in the issue file."""
    times: dict[str, datetime | None] = {}
    if settings.issues_dir.is_dir():  # a broken draft blocks nothing: it is unscheduled
        for path in sorted(settings.issues_dir.glob("*.toml")):
            if in_issues_dir(path, settings.issues_dir):  # a symbolic link is never read
                times[path.stem] = scheduled_send_at(path, settings.zone)
    with Session(engine) as session:
        for row in session.exec(select(Schedule)):
            times[row.issue_slug] = row.send_at
    return {slug: at and at.astimezone(UTC) for slug, at in times.items()}


def send_due(
    settings: Settings,
    engine: sa.Engine,
    transport: Transport,
    *,
    now: datetime | None = None,
    force: bool = False,
    options: SendOptions | None = None,
    processes: int = 1,
) -> list[Outcome]:
    """Send what is due; one Outcome per issue, in the order they are due (unscheduled last),
    each send in ``processes`` processes. Never raises for one issue's failure."""
    now = now or utcnow()
    zone = settings.zone
    stale = timedelta(seconds=settings.stale_after)
    outcomes = []
    times = due_times(settings, engine)
    for slug in sorted(times, key=lambda s: (times[s] is None, times[s] or now, s)):
        at = times[slug]
        with Session(engine) as session:
            send = live_send(session, slug)
            refused = session.get(Schedule, slug)
        if send is not None and send.status == SendStatus.finished:
            detail = f"send {send.id}, finished {local_time(send.finished_at or now, zone)}"
            outcomes.append(Outcome(slug, at, Action.already_sent, detail))
            continue
        if send is not None and send.stop_requested_at is not None:
            detail = (
                f"send {send.id}, stop requested {local_time(send.stop_requested_at, zone)}; "
                f"newsletter send {slug} (or Resume in the dashboard) resumes it"
            )
            outcomes.append(Outcome(slug, at, Action.stopped, detail))
            continue
        if at is None:
            outcomes.append(Outcome(slug, at, Action.unscheduled, _NO_TIME))
            continue
        due = local_time(at, zone)
        if at > now:
            detail = f"due {due}, in {duration(at - now)}"
            outcomes.append(Outcome(slug, at, Action.not_due, detail))
            continue
        if send is None and now - at > stale and not force:
            if refused is not None and refused.refused_at is not None and refused.send_at == at:
                detail = (
                    f"was due {due}, refused {local_time(refused.refused_at, zone)}; "
                    "send it anyway with --force, or schedule it again"
                )
                outcomes.append(Outcome(slug, at, Action.skipped, detail))
                continue
            _refuse(engine, slug, at, now)
            detail = (
                f"was due {duration(now - at)} ago, {due}, more than stale_after "
                f"({duration(stale)}); send it anyway with --force, or schedule it again"
            )
            outcomes.append(Outcome(slug, at, Action.refused, detail))
            continue
        outcomes.append(_send(settings, engine, transport, slug, at, options, processes))
    return outcomes


_NO_TIME = "no send_at in its file that can be read, and no newsletter schedule"


def _send(
    settings: Settings,
    engine: sa.Engine,
    transport: Transport,
    slug: str,
    at: datetime,
    options: SendOptions | None,
    processes: int,
) -> Outcome:
    try:
        load_issue(
            slug,
            issues_dir=settings.issues_dir,
            templates_dir=settings.templates_dir,
            default_zone=settings.timezone,
        )
        chosen = options or SendOptions.from_settings(settings)
        chosen = replace(chosen, started_by=chosen.started_by or "scheduler", clear_stop=False)
        send, progress = send_issue(settings, engine, transport, slug, chosen, processes=processes)
    except NewsletterError as exc:
        return Outcome(slug, at, Action.failed, str(exc))
    assert send.id is not None
    totals = summary.totals(engine, send.id, send.audience)
    detail = f"send {send.id} ({send.transport}): {totals.words()}"
    if note := summary.not_delivered(send.transport, totals.accepted, settings.outbox_dir):
        detail += f"; {note}"
    if progress.stopped:
        return Outcome(slug, at, Action.stopped, detail)
    if not progress.batches and totals.open:  # another process has every batch left
        return Outcome(slug, at, Action.elsewhere, detail)
    action = Action.failed if totals.failed or totals.uncertain else Action.sent
    return Outcome(slug, at, action, detail)


def _refuse(engine: sa.Engine, slug: str, at: datetime, now: datetime) -> None:
    with Session(engine) as session:
        row = session.get(Schedule, slug) or Schedule(issue_slug=slug, send_at=at, updated_at=now)
        row.send_at, row.refused_at, row.updated_at = at, now, now
        session.add(row)
        session.commit()
