"""An issue's history (docs/dashboard.md, "History"): every version the file had through the
dashboard, with who, when, what kind, and a diff against the version before; restoring one is
a save of its text (validated, refused over a changed file, recorded as ``restored``)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.errors import IssueFileError
from newsletter.issues import revisions
from newsletter.issues.saving import Conflict, current_text, save
from newsletter.models import IssueRevision
from newsletter.sending.summary import local_time
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Editor, Reader
from newsletter.web.admin.editing_state import (
    hash_of,
    known_slug,
    lock_reason,
    saved_notice,
)
from newsletter.web.admin.editor import conflict_page
from newsletter.web.admin.render import render
from newsletter.web.deps import WebState

router = APIRouter()
SHOWN = 50
KINDS = {
    "created": "created (next quarter)",
    "saved": "saved",
    "restored": "restored an older version",
    "external": "changed outside the dashboard",
    "scheduled": "scheduled",
    "unscheduled": "unscheduled",
}


@dataclass(frozen=True)
class Entry:
    revision: IssueRevision
    when: str
    kind: str
    diff: str
    current: bool


@router.get("/admin/issues/{slug}/history")
def history(request: Request, w: WebState, staffer: Reader, slug: str) -> Response:
    known_slug(w, slug)
    rows = revisions.history(w.engine, slug, limit=SHOWN + 1)
    try:
        text = current_text(w.settings, slug)
    except IssueFileError:
        text = ""
    entries = []
    for index, row in enumerate(rows[:SHOWN]):
        before = rows[index + 1].text if index + 1 < len(rows) else ""
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                row.text.splitlines(keepends=True),
                fromfile="the version before" if before else "(nothing before)",
                tofile=f"revision {row.id}",
            )
        )
        entries.append(
            Entry(
                row,
                local_time(row.at, w.settings.zone),
                KINDS.get(row.kind, row.kind),
                diff,
                current=row.file_hash == hash_of(text),
            )
        )
    return render(
        request,
        staffer,
        "history.html",
        title=f"History of {slug}",
        slug=slug,
        tab="history",
        entries=entries,
        more=len(rows) > SHOWN,
        base_hash=hash_of(text),
        writable=staffer.can(Permission.edit) and not lock_reason(w, slug),
        notice=saved_notice(request, "Restored." if request.query_params.get("restored") else ""),
    )


@router.post("/admin/issues/{slug}/history/{revision_id}/restore")
async def restore(
    request: Request, w: WebState, staffer: Editor, slug: str, revision_id: int
) -> Response:
    known_slug(w, slug)
    row = revisions.get(w.engine, slug, revision_id)
    if row is None or row.kind == revisions.DRAFT:
        raise HTTPException(404, "There is no such revision of this issue.")
    lock = lock_reason(w, slug)
    if lock:
        return render(request, staffer, "message.html", status=423, title="Locked", text=lock)
    form = await request.form()
    base_hash = form.get("base_hash", "")
    try:
        outcome = save(
            w.settings,
            w.engine,
            slug,
            row.text,
            base_hash=base_hash if isinstance(base_hash, str) else "",
            author=staffer.label,
            staff_id=staffer.id,
            kind="restored",
        )
    except IssueFileError as exc:
        text = str(exc)
        if exc.field != "timezone":
            text = "This version is no longer a valid issue (the content changed since): " + text
        return render(request, staffer, "message.html", status=422, title="Not restored", text=text)
    if isinstance(outcome, Conflict):
        return conflict_page(request, w, staffer, slug, outcome)
    staffer.log(w.engine, "restore", slug, f"revision {revision_id}")
    kept = "&kept=send_at" if outcome.kept_send_at else ""
    return RedirectResponse(f"/admin/issues/{slug}/history?restored=1{kept}", status_code=303)
