"""``/admin/issues``: every issue file with its state (draft, approved, scheduled with its
countdown, sending with its progress, sent with its figures, stopped), quarter and last editor.

Also what the issue pages of this package share: ``issue_path`` (a slug from the URL, checked),
``when`` (a time in the organisation's zone with UTC beside).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from newsletter.config import Settings
from newsletter.issues.file import SLUG, in_issues_dir
from newsletter.models import utcnow
from newsletter.sending import states
from newsletter.sending.summary import local_time
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.render import render
from newsletter.web.deps import WebState

router = APIRouter()


def issue_path(settings: Settings, slug: str) -> Path:
    """The issue file a URL names; 404 for anything else (no path ever built from raw input)."""
    if not SLUG.fullmatch(slug):
        raise HTTPException(404, "No such issue.")
    path = settings.issues_dir / f"{slug}.toml"
    if not in_issues_dir(path, settings.issues_dir):  # missing, or a link: never followed
        raise HTTPException(404, "No such issue.")
    return path


def when(zone: ZoneInfo) -> object:
    """A template function: an aware datetime (or None) in ``zone``, UTC beside."""

    def shown(at: datetime | None) -> str:
        return "" if at is None else local_time(at, zone)

    return shown


@router.get("/admin/issues", response_class=HTMLResponse)
def issue_list(request: Request, staffer: Reader, w: WebState) -> HTMLResponse:
    rows = states.issue_states(w.settings, w.engine)
    polling = any(r.state in states.ACTIVE for r in rows)
    return render(
        request,
        staffer,
        "issues.html",
        title="Issues",
        rows=rows,
        linked=states.linked_files(w.settings),
        polling=polling,
        when=when(w.settings.zone),
        now=local_time(utcnow(), w.settings.zone),
        can_edit=staffer.can(Permission.edit),
    )
