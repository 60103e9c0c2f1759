"""What the editor routes share: the submitted form read into an issue's text, the picker's
buttons applied, whether the issue is locked, the editor page put together, and the activity log
entry of an editor action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.errors import IssueFileError, LocatedError
from newsletter.issues import editing, picker, revisions
from newsletter.issues.editing import IssueForm, SectionForm
from newsletter.issues.file import SLUG, in_issues_dir
from newsletter.issues.filetext import file_hash
from newsletter.issues.saving import current_text, issue_path, load_candidate
from newsletter.models import utcnow
from newsletter.sending.ledger import live_send
from newsletter.sending.scheduler import due_times
from newsletter.sending.summary import local_time
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Staffer
from newsletter.web.admin.render import render
from newsletter.web.deps import Web, web_state

KEPT_SEND_AT = "send_at is set on the sending page by a publisher; kept as it was."


def saved_notice(request: Request, done: str) -> str:
    """``done`` ("Saved.", "Restored."; "" for none), and the send_at note when the redirect
    says so."""
    if not done:
        return ""
    kept = request.query_params.get("kept") == "send_at"
    return f"{done} {KEPT_SEND_AT}" if kept else done


def known_slug(web: Web, slug: str) -> str:
    """The slug of an existing issue file, else 404."""
    path = issue_path(web.settings, slug) if SLUG.fullmatch(slug) else None
    if path is None or not in_issues_dir(path, web.settings.issues_dir):
        raise HTTPException(404, f"There is no issue {slug[:60]!r}.")
    return slug


def lock_reason(web: Web, slug: str) -> str:
    """Why the issue cannot be edited now ("" when it can): scheduled, or its send exists."""
    with Session(web.engine) as session:
        send = live_send(session, slug)
    if send is not None:
        return (
            f"Its send has started ({send.status}), so it can no longer be edited: what "
            "subscribers get must stay what the report describes."
        )
    at = due_times(web.settings, web.engine).get(slug)
    stale = utcnow() - timedelta(seconds=web.settings.stale_after)
    if at is not None and at > stale:  # a stale time is refused by send-due: nothing goes out
        return (
            f"It is scheduled to go out {local_time(at, web.settings.zone)}: unschedule it on the "
            "sending page to edit it."
        )
    return ""


async def form_fields(request: Request) -> dict[str, str]:
    """The submitted form's text fields (files and repeated keys aside: the first value)."""
    fields: dict[str, str] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str) and key not in fields:
            fields[key] = value
    return fields


def candidate(web: Web, slug: str, fields: Mapping[str, str]) -> tuple[str, IssueForm | None]:
    """The text the submission stands for, applied onto the file as it is now (the raw ``text``
    of a hand merge, or the form's fields), and the form (None for raw text)."""
    if "text" in fields and "sections" not in fields:
        return fields["text"].replace("\r\n", "\n"), None
    form = editing.from_fields(fields)
    return editing.apply_form(current_text(web.settings, slug), form), form


def apply_action(web: Web, slug: str, form: IssueForm, action: str, text: str) -> IssueForm:
    """The post picker's and the sections' buttons, on the unsaved form."""
    verb, _, rest = action.partition(":")
    index_text, _, post = rest.partition(":")
    if verb == "add_section":
        return replace(form, sections=[*form.sections, SectionForm(title="New section")])
    if not index_text.isdigit() or int(index_text) >= len(form.sections):
        return form
    index = int(index_text)
    section = form.section(index)
    if verb == "remove_section" and len(form.sections) > 1:
        return replace(form, sections=form.sections[:index] + form.sections[index + 1 :])
    changes: dict[str, list[str]] = {}
    if verb == "pin" and post not in section.pin:
        changes = {"pin": [*section.pin, post], "exclude": _without(section.exclude, post)}
    elif verb == "unpin":
        changes = {"pin": _without(section.pin, post)}
    elif verb == "exclude" and post not in section.exclude:
        changes = {"exclude": [*section.exclude, post], "pin": _without(section.pin, post)}
    elif verb == "include":
        changes = {"exclude": _without(section.exclude, post)}
    elif verb in ("up", "down"):
        order = _going_out(web, slug, text, index)
        pins = picker.moved(order, post, -1 if verb == "up" else 1)
        if pins is not None:
            changes = {"pin": pins}
    return editing.with_section_change(form, index, **changes) if changes else form


def _going_out(web: Web, slug: str, text: str, index: int) -> list[str]:
    try:
        issue = load_candidate(web.settings, web.engine, slug, text)
    except IssueFileError:
        return []
    rows = picker.picker_rows(web.engine, issue)
    return [row.slug for row in rows[index] if row.goes_out] if index < len(rows) else []


def _without(names: list[str], name: str) -> list[str]:
    return [n for n in names if n != name]


def field_errors(exc: LocatedError | None) -> tuple[dict[str, list[str]], list[str]]:
    """The loader's problems by form field (``sections[1].limit``), and those of no field on
    the form, as the CLI prints them."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in [exc, *exc.also] if exc is not None else []:
        name = problem.field or ""
        if name in editing.TOP_FIELDS or (name.startswith("sections[") and "." in name):
            by_field.setdefault(name, []).append(problem.message)
        general.append(problem.one_line())
    return by_field, general


def editor_page(
    request: Request,
    staffer: Staffer,
    slug: str,
    *,
    text: str,
    base_hash: str,
    form: IssueForm | None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The editor: the form (or the raw text when the file is not TOML), the picker, the
    preview panel; read-only for a viewer or when the issue is locked."""
    web = web_state(request)
    lock = lock_reason(web, slug)
    error: LocatedError | None = None
    rows: list[list[picker.Row]] = []
    try:
        issue = load_candidate(web.settings, web.engine, slug, text)
        rows = picker.picker_rows(web.engine, issue)
    except IssueFileError as exc:
        error = exc
    errors, general = field_errors(error)
    searches = extra.pop("searches", {})
    return render(
        request,
        staffer,
        "editor.html",
        status=status,
        title=f"Edit {slug}",
        slug=slug,
        tab="edit",
        form=form,
        text=text,
        base_hash=base_hash,
        rows=rows,
        errors=errors,
        general=general,
        lock=lock,
        writable=staffer.can(Permission.edit) and not lock,
        searches=searches,
        draft=extra.pop("draft", None),
        notice=extra.pop("notice", ""),
        preview=extra.pop("preview", None),
        **extra,
    )


def newer_draft(web: Web, slug: str, staffer: Staffer, text: str) -> Any:
    """This person's autosaved draft when it is newer than the file and differs from it."""
    if not staffer.can(Permission.edit):
        return None
    row = revisions.draft(web.engine, slug, staffer.id)
    if row is None or row.text == text:
        return None
    changed = datetime.fromtimestamp(issue_path(web.settings, slug).stat().st_mtime, UTC)
    return row if row.at > changed else None


def hash_of(text: str) -> str:
    return file_hash(text)
