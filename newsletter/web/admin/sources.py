"""``/admin/sources``: each configured source with its kind, address, last sync, last error and
post count; **Sync now** per source and for all (``Permission.edit``), run in a thread of the
server (web/source_syncs.py) under the source's claim, so never two syncs of one source at once,
even beside a cron ``newsletter content sync``; its progress is in the database, so any web
process answers the poll. The table polls its own fragment while a sync
runs (htmx); without JavaScript, a Refresh link. Each start and end is in the activity log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.config import MarkdownSourceConfig, SourceConfig
from newsletter.content import listing
from newsletter.content.sync_lock import states
from newsletter.models import utcnow
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Editor, Reader, Staffer
from newsletter.web.admin.render import ADMIN_PAGES, render, when
from newsletter.web.deps import Web, web_state
from newsletter.web.source_syncs import Job, SourceSyncs

router = APIRouter()
PATH = "/admin/sources"


@dataclass(frozen=True)
class SourceRow:
    name: str
    kind: str
    where: str
    last_sync: str
    last_error: str
    last_error_at: str
    claimed_by: str  # another process's sync holding the source now ('' when none)
    posts: int
    job: Job | None


def syncs(request: Request) -> SourceSyncs:
    """The app's Sync now jobs (one registry per app)."""
    state = request.app.state
    if not hasattr(state, "source_syncs"):
        web = web_state(request)
        state.source_syncs = SourceSyncs(web.settings, web.engine)
    registry: SourceSyncs = state.source_syncs
    return registry


def _where(web: Web, source: SourceConfig) -> str:
    if isinstance(source, MarkdownSourceConfig):
        return str(source.path or web.settings.content_dir)
    return source.url


def source_rows(request: Request) -> list[SourceRow]:
    web = web_state(request)
    known = states(web.engine)
    counts = listing.source_counts(web.engine)
    jobs, now = syncs(request).jobs(), utcnow()
    zone = web.settings.timezone

    def shown(at: datetime | None) -> str:
        return when(at, zone) if at else ""

    rows = []
    for source in web.settings.content_sources():
        state = known.get(source.name)
        held = state is not None and state.sync_until is not None and state.sync_until > now
        rows.append(
            SourceRow(
                name=source.name,
                kind=source.type,
                where=_where(web, source),
                last_sync=shown(state.last_synced_at if state else None) or "never",
                last_error=state.last_error if state else "",
                last_error_at=shown(state.last_error_at if state else None),
                claimed_by=state.sync_owner if state and held else "",
                posts=counts.get(source.name, 0),
                job=jobs.get(source.name),
            )
        )
    return rows


def _context(request: Request, staffer: Staffer) -> dict[str, Any]:
    rows = source_rows(request)
    return {
        "sources": rows,
        "polling": any(r.job is not None and r.job.running for r in rows),
        "can_sync": staffer.can(Permission.edit),
    }


@router.get(PATH)
def sources_page(request: Request, staffer: Reader) -> Response:
    return render(request, staffer, "sources.html", title="Sources", **_context(request, staffer))


@router.get(f"{PATH}/progress")
def progress(request: Request, staffer: Reader) -> Response:
    """The sources table alone: what htmx polls while a sync runs."""
    html = ADMIN_PAGES.get_template("sources_table.html").render(
        csrf_token=staffer.csrf_token, **_context(request, staffer)
    )
    return HTMLResponse(html)


@router.post(f"{PATH}/sync")
async def sync_now(request: Request, staffer: Editor) -> Response:
    """Sync now: the source named in the form, or every source (``source`` is ``*``)."""
    web = web_state(request)
    form = await request.form()
    wanted = str(form.get("source", ""))[:100]
    chosen = [s for s in web.settings.content_sources() if wanted in ("*", s.name)]
    if not chosen:
        raise HTTPException(404, "No such source: reload the page.")
    registry = syncs(request)

    def ended(job: Job) -> None:
        action = "sync_failed" if job.error else "sync_end"
        staffer.log(web.engine, action, job.source, job.summary())

    def begun(job: Job) -> None:
        staffer.log(web.engine, "sync_start", job.source)

    for source in chosen:
        registry.start(source, staffer.label, ended, begun)
    return RedirectResponse(PATH, status_code=303)
