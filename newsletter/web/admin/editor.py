"""The issue editor (docs/dashboard.md, "The editor"): open, save, autosave, start the next
quarter.

- ``GET /admin/issues/{slug}``: the form (read-only for viewers and while the issue is
  scheduled or sending), its post pickers, and an offer to restore an autosaved draft.
- ``POST /admin/issues/{slug}``: the form's buttons. ``action=save`` validates and writes the
  file (``issues/saving.py``); a save over a changed file answers 409 with the diff and your
  text; the picker's buttons (pin, exclude, move, search, add or remove a section) change the
  unsaved form only and show the editor again, with or without JavaScript.
- ``POST /admin/issues/{slug}/autosave``: htmx, every few seconds of typing: the form kept as
  this person's draft revision, never the file.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.errors import IssueFileError
from newsletter.issues import editing, picker, revisions
from newsletter.issues.next_quarter import create_next
from newsletter.issues.saving import Conflict, current_text, save
from newsletter.web.admin.auth import Editor, Reader, Staffer
from newsletter.web.admin.editing_state import (
    apply_action,
    candidate,
    editor_page,
    form_fields,
    hash_of,
    known_slug,
    lock_reason,
    newer_draft,
    saved_notice,
)
from newsletter.web.admin.render import render
from newsletter.web.deps import WebState

router = APIRouter()


@router.post("/admin/issues/next-quarter")
def next_quarter(request: Request, w: WebState, staffer: Editor) -> Response:
    try:
        created = create_next(
            w.settings.issues_dir, w.engine, author=staffer.label, staff_id=staffer.id
        )
    except IssueFileError as exc:
        return render(
            request, staffer, "message.html", status=409, title="Not started", text=exc.message
        )
    staffer.log(w.engine, "create", created.slug, "started the next quarter")
    return RedirectResponse(f"/admin/issues/{created.slug}", status_code=303)


@router.get("/admin/issues/{slug}")
def open_editor(
    request: Request, w: WebState, staffer: Reader, slug: str, draft: str = ""
) -> Response:
    known_slug(w, slug)
    try:
        text = current_text(w.settings, slug)
    except IssueFileError as exc:
        return render(request, staffer, "message.html", status=422, title=slug, text=str(exc))
    base_hash, notice = hash_of(text), ""
    kept = newer_draft(w, slug, staffer, text)
    if kept is not None and draft == "restore":
        text, base_hash, kept = kept.text, kept.base_hash, None
        notice = "Your unsaved changes are back. Save them to write the file."
    return editor_page(
        request,
        staffer,
        slug,
        text=text,
        base_hash=base_hash,
        form=_form_of(text),
        draft=kept,
        notice=notice or saved_notice(request, "Saved." if "saved" in request.query_params else ""),
    )


@router.post("/admin/issues/{slug}")
async def submit(request: Request, w: WebState, staffer: Editor, slug: str) -> Response:
    known_slug(w, slug)
    fields = await form_fields(request)
    base_hash = fields.get("base_hash", "")
    lock = lock_reason(w, slug)
    if lock:
        return render(request, staffer, "message.html", status=423, title="Locked", text=lock)
    text, form = candidate(w, slug, fields)
    action = fields.get("action", "save")
    if action != "save" and form is not None:
        return _picker_action(request, staffer, slug, fields, form, action, text)
    try:
        outcome = save(
            w.settings,
            w.engine,
            slug,
            text,
            base_hash=base_hash,
            author=staffer.label,
            staff_id=staffer.id,
        )
    except IssueFileError as exc:
        by_field = "the fields marked below" if form is not None else "the text"
        notice = f"Not saved: fix {by_field} first ({len(exc.lines())} problems)."
        if exc.field == "timezone":  # refused before the loader ran: say why here
            notice = f"Not saved: {exc.message}."
        return editor_page(
            request,
            staffer,
            slug,
            text=text,
            base_hash=base_hash,
            form=form,
            status=422,
            notice=notice,
        )
    if isinstance(outcome, Conflict):
        return conflict_page(request, w, staffer, slug, outcome)
    if outcome.revision is not None:
        staffer.log(w.engine, "save", slug, f"revision {outcome.revision.id}")
    kept = "&kept=send_at" if outcome.kept_send_at else ""
    return RedirectResponse(f"/admin/issues/{slug}?saved=1{kept}", status_code=303)


def conflict_page(
    request: Request, w: WebState, staffer: Staffer, slug: str, conflict: Conflict
) -> HTMLResponse:
    """409: the file changed since this person opened it. Their text is kept as their draft
    and shown whole, to merge by hand and save over the version now on disk."""
    revisions.save_draft(
        w.engine,
        slug,
        conflict.yours,
        author=staffer.label,
        staff_id=staffer.id,
        base_hash=conflict.their_hash,
    )
    return render(
        request,
        staffer,
        "conflict.html",
        status=409,
        title=f"{slug} changed while you edited it",
        slug=slug,
        tab="edit",
        conflict=conflict,
    )


@router.post("/admin/issues/{slug}/autosave")
async def autosave(request: Request, w: WebState, staffer: Editor, slug: str) -> Response:
    known_slug(w, slug)
    fields = await form_fields(request)
    if lock_reason(w, slug):
        return _status("Locked: nothing kept.")
    text, _ = candidate(w, slug, fields)
    if text == current_text(w.settings, slug):
        revisions.discard_draft(w.engine, slug, staffer.id)
        return _status("No unsaved changes.")
    row = revisions.save_draft(
        w.engine,
        slug,
        text,
        author=staffer.label,
        staff_id=staffer.id,
        base_hash=fields.get("base_hash", ""),
    )
    return _status(f"Unsaved changes kept as your draft at {row.at:%H:%M:%S} UTC (not saved).")


@router.post("/admin/issues/{slug}/draft/discard")
def discard(w: WebState, staffer: Editor, slug: str) -> Response:
    known_slug(w, slug)
    revisions.discard_draft(w.engine, slug, staffer.id)
    return RedirectResponse(f"/admin/issues/{slug}", status_code=303)


def _picker_action(
    request: Request,
    staffer: Staffer,
    slug: str,
    fields: dict[str, str],
    form: editing.IssueForm,
    action: str,
    text: str,
) -> Response:
    """A button that changes the unsaved form: the editor again, with the change (not saved)."""
    w = request.app.state.web
    searches: dict[int, list[picker.Found]] = {}
    verb, _, index = action.partition(":")
    if verb == "search" and index.isdigit():
        query = fields.get(f"sections[{index}].search", "")
        searches[int(index)] = picker.search(w.engine, query)
    else:
        form = apply_action(w, slug, form, action, text)
        text = editing.apply_form(current_text(w.settings, slug), form)
    return editor_page(
        request,
        staffer,
        slug,
        text=text,
        base_hash=fields.get("base_hash", ""),
        form=form,
        searches=searches,
        queries={k: v for k, v in fields.items() if k.endswith(".search")},
        notice="Changed, not saved yet.",
    )


def _form_of(text: str) -> editing.IssueForm | None:
    try:
        return editing.read_form(text)
    except IssueFileError:
        return None


def _status(message: str) -> HTMLResponse:
    return HTMLResponse(f'<span role="status">{message}</span>')
