"""When an issue goes out, set from the dashboard: ``send_at`` written into the issue FILE.

The file stays the truth: scheduling writes ``send_at`` (tomlkit: comments and layout kept,
written whole), records a revision (``scheduled`` / ``unscheduled``) and removes any
``newsletter schedule`` row of the issue, so the file and ``send-due`` agree. The time is read in
the issue's own ``timezone`` or the organisation's. **Send now** starts the live send (its
audience fixed now, ``started_by`` the person) and makes the issue due now, so the same due-send
pass (the server's, or cron's ``send-due``) delivers it.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.errors import NewsletterError, SendError
from newsletter.files import replace_text
from newsletter.issues import revisions
from newsletter.issues.file import read_source, resolve_path, scheduled_send_at
from newsletter.issues.filetext import file_hash, set_send_at
from newsletter.models import Schedule, Send, SendStatus, utcnow
from newsletter.sending import approval, ledger, scheduler, summary
from newsletter.sending.sender import checked_build, content_of

LOCAL_FORMS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def zone_of(settings: Settings, slug: str) -> ZoneInfo:
    """The zone an issue's times are entered in: its own ``timezone``, else the setting's."""
    try:
        text = read_source(resolve_path(slug, settings.issues_dir))
    except NewsletterError:
        return settings.zone
    try:
        own = tomllib.loads(text).get("timezone")
        return ZoneInfo(own) if isinstance(own, str) else settings.zone
    except (tomllib.TOMLDecodeError, ValueError, KeyError):
        return settings.zone


def parse_local(value: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` form value read in ``zone``; SendError when it is not a time, or is
    a time the clocks skip (the hour a daylight-saving change jumps over)."""
    value = value.strip()
    for form in LOCAL_FORMS:
        try:
            naive = datetime.strptime(value, form)
        except ValueError:
            continue
        at = naive.replace(tzinfo=zone)
        if at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise SendError(
                f"{value.replace('T', ' ')} does not exist in {zone.key}: the clocks skip it "
                "(daylight saving time); choose another time"
            )
        return at
    raise SendError("give a date and time, such as 2026-12-01T09:00")


def _write(
    settings: Settings,
    engine: sa.Engine,
    slug: str,
    at: datetime | None,
    *,
    author: str,
    staff_id: int | None,
) -> None:
    path = resolve_path(slug, settings.issues_dir)
    text = read_source(path)
    changed = set_send_at(text, at, name=str(path))
    replace_text(path, changed)
    kind = "unscheduled" if at is None else "scheduled"
    revisions.record(
        engine,
        slug,
        changed,
        kind=kind,
        author=author,
        staff_id=staff_id,
        base_hash=file_hash(text),
    )
    with Session(engine) as session:  # the file wins: no `newsletter schedule` row overrides it
        row = session.get(Schedule, slug)
        if row is not None:
            session.delete(row)
            session.commit()


def schedule(
    settings: Settings,
    engine: sa.Engine,
    slug: str,
    at: datetime,
    *,
    author: str,
    staff_id: int | None = None,
    now: datetime | None = None,
) -> datetime:
    """Write ``send_at = at`` into the issue file. Refused (SendError) as ``newsletter schedule``
    refuses: a past time, an issue already sent, failing checks, no approval when required."""
    now = now or utcnow()
    zone = zone_of(settings, slug)
    scheduler.schedulable(engine, slug, at, zone=zone, now=now)
    build = checked_build(settings, engine, slug)
    approval.require(
        settings, engine, slug, compiled=build.compiled.content_hash, doing="scheduled"
    )
    _write(settings, engine, slug, at.astimezone(zone), author=author, staff_id=staff_id)
    return at


def unschedule(
    settings: Settings, engine: sa.Engine, slug: str, *, author: str, staff_id: int | None = None
) -> bool:
    """Remove ``send_at`` from the file (and any schedule row); False when it had none."""
    path = resolve_path(slug, settings.issues_dir)
    with Session(engine) as session:
        row = session.get(Schedule, slug)
    if scheduled_send_at(path, settings.zone) is None and row is None:
        return False
    with Session(engine) as session:
        send = ledger.live_send(session, slug)
    if send is not None and send.status == SendStatus.finished:
        raise SendError(f"{slug} was already sent (send {send.id}): there is nothing to cancel")
    _write(settings, engine, slug, None, author=author, staff_id=staff_id)
    return True


def send_now(
    settings: Settings,
    engine: sa.Engine,
    slug: str,
    *,
    author: str,
    staff_id: int | None = None,
    now: datetime | None = None,
) -> Send:
    """Start (or resume) the issue's live send now: checks, approval when required, the send
    row with its audience, ``send_at`` = now in the file; the due-send pass delivers it."""
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session:
        existing = ledger.live_send(session, slug)
    if existing is not None and existing.status == SendStatus.finished:
        raise SendError(
            f"{slug} was already sent (send {existing.id}): an issue goes to the list once"
        )
    build = checked_build(settings, engine, slug)
    approval.require(settings, engine, slug, compiled=build.compiled.content_hash)
    path = resolve_path(slug, settings.issues_dir)
    due = scheduled_send_at(path, settings.zone)
    if due is None or due > now:
        at = now.astimezone(zone_of(settings, slug))
        _write(settings, engine, slug, at, author=author, staff_id=staff_id)
    with Session(engine) as session:  # a time already due in the file stays; no stale row
        row = session.get(Schedule, slug)
        if row is not None:
            session.delete(row)
            session.commit()
    return ledger.start_live(
        engine,
        content_of(build.compiled),
        transport=summary.transport_label(settings),
        started_by=author,
    )
