"""``/admin/issues/{slug}/report``: what ``newsletter report`` says, for the browser: audience,
accepted, delivered, bounced with reasons, complaints, unsubscribes, uncertain rows settled and
remaining, engagement when counted; and a chart of delivery events over time (inline SVG, a
table beside it for screen readers and for anyone who prefers numbers).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.models import delivery_table, send_table, status_event_table
from newsletter.sending import report as reporting
from newsletter.sending.summary import local_time, not_delivered
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.chart import Chart, chart
from newsletter.web.admin.issues import issue_path, when
from newsletter.web.admin.render import render
from newsletter.web.deps import WebState

router = APIRouter()
Figures = tuple[list[dict[str, Any]], Chart | None]
_KEPT: OrderedDict[tuple[Any, ...], Figures] = OrderedDict()
_KEPT_LOCK = threading.Lock()
KEEP = 32  # reports kept in memory


def _figures(engine: sa.Engine, slug: str, *, engagement: bool) -> Figures:
    """The report's figures and chart, computed once per version of what they count: a new
    delivery event, a send's change or a subscriber's status change makes a new version. A
    version costs two small queries; the figures, a scan of every delivery of the send."""
    version = _version(engine, slug, engagement)
    with _KEPT_LOCK:
        if version in _KEPT:
            _KEPT.move_to_end(version)
            return _KEPT[version]
    with Session(engine) as session:
        rows = reporting.report(session, slug, engagement=engagement)
    live = next((r for r in reversed(rows) if r["kind"] == "live"), None)
    figures = rows, chart(engine, live["send_id"]) if live else None
    with _KEPT_LOCK:
        _KEPT[version] = figures
        while len(_KEPT) > KEEP:
            _KEPT.popitem(last=False)
    return figures


def _version(engine: sa.Engine, slug: str, engagement: bool) -> tuple[Any, ...]:
    s, d = send_table.c, delivery_table.c
    with engine.connect() as connection:
        sends = connection.execute(
            sa.select(s.id, s.status, s.opens, s.machine_opens, s.clicks, s.finished_at)
            .where(s.issue_slug == slug)
            .order_by(s.id)
        ).all()
        deliveries = connection.execute(
            sa.select(d.send_id, sa.func.count(), sa.func.max(d.updated_at))
            .where(d.send_id.in_([row.id for row in sends]))
            .group_by(d.send_id)
            .order_by(d.send_id)
        ).all()
        changes = connection.execute(sa.select(sa.func.max(status_event_table.c.id))).scalar()
    rows = tuple(tuple(row) for row in (*sends, *deliveries))
    return (str(engine.url), slug, engagement, rows, changes)


@router.get("/admin/issues/{slug}/report", response_class=HTMLResponse)
def report_page(request: Request, staffer: Reader, w: WebState, slug: str) -> HTMLResponse:
    issue_path(w.settings, slug)
    rows, drawn = _figures(w.engine, slug, engagement=w.settings.track_engagement)
    live = next((r for r in reversed(rows) if r["kind"] == "live"), None)
    tests = [r for r in rows if r["kind"] == "test"]
    note = not_delivered(live["transport"], live["accepted"], w.settings.outbox_dir) if live else ""
    return render(
        request,
        staffer,
        "issue_report.html",
        title=f"Report on {slug}",
        slug=slug,
        tab="report",
        live=live,
        tests=tests,
        chart=drawn,
        note=note,
        when=when(w.settings.zone),
        iso=lambda text: local_time(datetime.fromisoformat(text), w.settings.zone) if text else "-",
        engagement=w.settings.track_engagement,
    )
