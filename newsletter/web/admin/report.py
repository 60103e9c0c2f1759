"""``/admin/issues/{slug}/report``: what ``newsletter report`` says, for the browser: audience,
accepted, delivered, bounced with reasons, complaints, unsubscribes, uncertain rows settled and
remaining, engagement when counted; and a chart of delivery events over time (inline SVG, a
table beside it for screen readers and for anyone who prefers numbers).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.sending import report as reporting
from newsletter.sending.summary import local_time, not_delivered
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.chart import chart
from newsletter.web.admin.issues import issue_path, when
from newsletter.web.admin.render import render
from newsletter.web.deps import WebState

router = APIRouter()


@router.get("/admin/issues/{slug}/report", response_class=HTMLResponse)
def report_page(request: Request, staffer: Reader, w: WebState, slug: str) -> HTMLResponse:
    issue_path(w.settings, slug)
    with Session(w.engine) as session:
        rows = reporting.report(session, slug, engagement=w.settings.track_engagement)
    live = next((r for r in reversed(rows) if r["kind"] == "live"), None)
    tests = [r for r in rows if r["kind"] == "test"]
    drawn = chart(w.engine, live["send_id"]) if live else None
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
