"""``/admin/`` (and ``/admin``): the home page, what needs attention first: the next scheduled
issue with its countdown and approval, the last live sends with their headline figures,
subscribers per status with the growth chart (web/admin/growth.py), posts this quarter per
source, and the set-up warnings (web/admin/setup_warnings.py). Every reader may open it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from newsletter.config import Settings
from newsletter.models import (
    SourceState,
    SubscriberStatus,
    delivery_table,
    post_table,
    send_table,
    subscriber_table,
    utcnow,
)
from newsletter.sending import states
from newsletter.sending.scheduler import due_times
from newsletter.sending.summary import HANDED, local_time
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.growth import growth
from newsletter.web.admin.issues import when
from newsletter.web.admin.render import render
from newsletter.web.admin.setup_warnings import setup_warnings
from newsletter.web.deps import WebState

router = APIRouter()
LAST_SENDS = 5
UPCOMING = (states.State.scheduled, states.State.due)
MISSED_SHOWN = 3


@dataclass(frozen=True)
class SendFigures:
    slug: str
    subject: str
    status: str
    transport: str
    started_at: datetime
    audience: int
    accepted: int
    delivered: int
    bounced: int  # bounced or dropped
    failed: int
    uncertain: int
    opens: int
    clicks: int


@dataclass(frozen=True)
class Upcoming:
    """The next issue to go out, and the issues whose time passed without a send."""

    next: states.IssueState | None  # scheduled or due, the earliest
    missed: list[states.IssueState]  # stale (send-due refuses them), the most recent first


def upcoming_issues(settings: Settings, engine: sa.Engine, now: datetime) -> Upcoming:
    """The issues with a send time and no live send, in time order: the ones before the first
    scheduled or due one are missed (stale: more than ``stale_after`` late, so the scheduler will
    not send them), and that first one is next. Only the states up to it are worked out."""
    times = due_times(settings, engine)
    with engine.connect() as connection:
        sent = set(
            connection.execute(
                sa.select(send_table.c.live_slug).where(send_table.c.live_slug.in_(list(times)))
            ).scalars()
        )
    waiting = sorted((at, slug) for slug, at in times.items() if at and slug not in sent)
    missed: list[states.IssueState] = []
    for _, slug in waiting:
        found = states.issue_states(settings, engine, only=slug, now=now)
        if not found:
            continue
        if found[0].state in UPCOMING:
            return Upcoming(found[0], missed[::-1])
        if found[0].state == states.State.stale:
            missed.append(found[0])
    return Upcoming(None, missed[::-1])


def last_sends(engine: sa.Engine, limit: int = LAST_SENDS) -> list[SendFigures]:
    """The newest live sends, their deliveries counted by status in one GROUP BY."""
    s, d = send_table.c, delivery_table.c
    with engine.connect() as connection:
        heads = connection.execute(
            sa.select(s.id, s.issue_slug, s.subject, s.status, s.transport, s.started_at,
                      s.audience, s.opens, s.clicks)
            .where(s.kind == "live")
            .order_by(s.started_at.desc(), s.id.desc())
            .limit(limit)
        ).all()  # fmt: skip
        counts: dict[int, dict[str, int]] = {h.id: {} for h in heads}
        for send_id, status, number in connection.execute(
            sa.select(d.send_id, d.status, sa.func.count())
            .where(d.send_id.in_(list(counts)))
            .group_by(d.send_id, d.status)
        ):
            counts[send_id][str(status)] = int(number)

    def n(send_id: int, *statuses: str) -> int:
        return sum(counts[send_id].get(x, 0) for x in statuses)

    return [
        SendFigures(
            slug=h.issue_slug, subject=h.subject, status=str(h.status), transport=h.transport,
            started_at=h.started_at, audience=h.audience, accepted=n(h.id, *HANDED),
            delivered=n(h.id, "delivered"), bounced=n(h.id, "bounced", "dropped"),
            failed=n(h.id, "failed"), uncertain=n(h.id, "uncertain"), opens=h.opens,
            clicks=h.clicks,
        )
        for h in heads
    ]  # fmt: skip


def per_status(engine: sa.Engine) -> dict[str, int]:
    """Subscribers per status (every status, 0 when none): one GROUP BY."""
    c = subscriber_table.c
    with engine.connect() as connection:
        found: dict[str, int] = dict(
            connection.execute(sa.select(c.status, sa.func.count()).group_by(c.status)).all()
        )
    return {str(s): int(found.get(s.value, 0)) for s in SubscriberStatus}


def quarter_of(day: date) -> tuple[str, date, date]:
    """``2026-Q4`` with its first day and the first day of the next quarter."""
    number = (day.month - 1) // 3 + 1
    first = date(day.year, 3 * number - 2, 1)
    after = date(day.year + 1, 1, 1) if number == 4 else date(day.year, 3 * number + 1, 1)
    return f"{day.year}-Q{number}", first, after


def posts_this_quarter(
    engine: sa.Engine, settings: Settings, now: datetime
) -> tuple[str, list[dict[str, Any]]]:
    """The current quarter (in the organisation's zone) and its posts counted per source, with
    each configured source's last sync; sources with no post this quarter count 0."""
    zone = settings.zone
    label, first, after = quarter_of(now.astimezone(zone).date())
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
    p = post_table.c
    synced = SourceState.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as connection:
        counts: dict[str, int] = dict(
            connection.execute(
                sa.select(p.source, sa.func.count())
                .where(p.published_at >= start, p.published_at < end)
                .group_by(p.source)
            ).all()
        )
        last: dict[str, datetime | None] = dict(
            connection.execute(sa.select(synced.name, synced.last_synced_at)).all()
        )
    names = [source.name for source in settings.content_sources()]
    names += sorted(set(counts) - set(names))
    return label, [
        {"source": name, "posts": int(counts.get(name, 0)), "synced": last.get(name)}
        for name in names
    ]


@router.get("/admin", response_class=HTMLResponse)
@router.get("/admin/", response_class=HTMLResponse)
def home(request: Request, staffer: Reader, w: WebState) -> HTMLResponse:
    now = utcnow()
    statuses = per_status(w.engine)
    quarter, sources = posts_this_quarter(w.engine, w.settings, now)
    zone = w.settings.zone
    return render(
        request,
        staffer,
        "home.html",
        title="Home",
        upcoming=upcoming_issues(w.settings, w.engine, now),
        missed_shown=MISSED_SHOWN,
        sends=last_sends(w.engine),
        statuses=statuses,
        total=sum(statuses.values()),
        chart=growth(w.engine, now),
        quarter=quarter,
        sources=sources,
        warnings=setup_warnings(w.settings, w.engine, sum(statuses.values())),
        when=when(zone),
        week=lambda at: at.astimezone(UTC).strftime("%Y-%m-%d"),
        now=local_time(now, zone),
    )
