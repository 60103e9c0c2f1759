"""/admin/activity: the activity log, newest first, filtered by person, action and subject
(an issue slug or a staff address), a page at a time ("Older" links: keyset by id). A plain
GET form and links: it works without JavaScript."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.staff import activity
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.render import render, when
from newsletter.web.deps import web_state

router = APIRouter()
PAGE = 50
PATH = "/admin/activity"


def _text(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()[:320]


@router.get(PATH)
def activity_page(request: Request, staffer: Reader) -> Response:
    web = web_state(request)
    filters = {name: _text(request, name) for name in ("actor", "action", "subject")}
    before_text = _text(request, "before")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    found = activity.entries(
        web.engine,
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        subject=filters["subject"] or None,
        before_id=before,
        limit=PAGE,
    )
    rows = [
        {
            "when": when(entry.at, web.settings.timezone),
            "iso": entry.at.isoformat(),
            "actor": entry.actor,
            "action": entry.action,
            "says": activity.ACTIONS.get(entry.action, entry.action.replace("_", " ")),
            "subject": entry.subject,
            "detail": entry.detail,
            "ip": entry.ip,
        }
        for entry in found
    ]
    kept = {name: value for name, value in filters.items() if value}
    older = (
        f"{PATH}?{urlencode({**kept, 'before': found[-1].id})}"
        if len(found) == PAGE and found[-1].id is not None
        else ""
    )
    newest = f"{PATH}?{urlencode(kept)}" if before is not None else ""
    actors, actions = activity.choices(web.engine)
    return render(
        request,
        staffer,
        "activity.html",
        title="Activity",
        rows=rows,
        filters=filters,
        actors=actors,
        actions=actions,
        older=older,
        newest=newest,
    )
