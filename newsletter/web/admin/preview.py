"""The editor's preview (docs/dashboard.md, "Preview"): the unsaved form compiled by the same
build as ``newsletter build``, beside the editor.

``POST /admin/issues/{slug}/preview`` builds the draft (for a role that may edit; a viewer's
preview is of the saved file, whatever the form sent) and answers the preview panel (an htmx
fragment; a full editor page without JavaScript). The compiled HTML is never put in an admin
page (the admin CSP forbids inline styles, and it is content from outside): it is kept here, in
a small in-memory store (a random id, per staff member, a few minutes), and shown in
``<iframe sandbox src=".../preview/{id}.html">``, served with a policy of its own: no script,
framed only by our own pages.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.errors import IssueFileError, LocatedError, NewsletterError
from newsletter.issues import editing, placeholders
from newsletter.issues.build import Build, build_issue
from newsletter.issues.checks import CLIP_BYTES, Finding
from newsletter.issues.compiler import make_environment
from newsletter.issues.editing import IssueForm
from newsletter.issues.saving import candidate_file, current_text, issue_path, relocated
from newsletter.models import SubscriberStatus
from newsletter.staff.roles import Permission
from newsletter.subscribers.store import find
from newsletter.transports.base import substitute
from newsletter.web.admin.auth import Reader, Staffer
from newsletter.web.admin.editing_state import (
    candidate,
    editor_page,
    form_fields,
    known_slug,
)
from newsletter.web.admin.render import ADMIN_PAGES
from newsletter.web.deps import Web

router = APIRouter()
# The email HTML's own policy (web/edge.py's EMAIL_POLICY, framed by our pages only)
FRAME_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "font-src https:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
FRAME_HEADERS = {
    "Content-Security-Policy": FRAME_POLICY,
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
}
SAMPLE = {"email": "reader@example.org", "name": "Sample Reader"}
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Kept:
    staff_id: int
    slug: str
    html: str
    expires: float


class PreviewStore:
    """Compiled previews by random id: at most ``per_staff`` per person and ``size`` in all,
    each for ``ttl`` seconds; a person sees only their own."""

    def __init__(self, *, size: int = 200, per_staff: int = 6, ttl: float = 900) -> None:
        self.size, self.per_staff, self.ttl = size, per_staff, ttl
        self._items: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, staff_id: int, slug: str, html: str) -> str:
        key = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            mine = [k for k, v in self._items.items() if v.staff_id == staff_id]
            for old in mine[: max(0, len(mine) - self.per_staff + 1)]:
                del self._items[old]
            while len(self._items) >= self.size:
                self._items.popitem(last=False)
            self._items[key] = Kept(staff_id, slug, html, now + self.ttl)
        return key

    def get(self, staff_id: int, slug: str, key: str) -> str | None:
        with self._lock:
            self._drop_expired(time.monotonic())
            kept = self._items.get(key)
        if kept is None or kept.staff_id != staff_id or kept.slug != slug:
            return None
        return kept.html

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, v in self._items.items() if v.expires <= now]:
            del self._items[key]


@dataclass(frozen=True)
class Parts:
    """What the preview panel shows."""

    frame_id: str = ""
    text: str = ""
    findings: tuple[Finding, ...] = ()
    size: int = 0
    error: str = ""
    errors: tuple[str, ...] = ()
    who: str = ""

    @property
    def clip(self) -> int:
        return CLIP_BYTES

    @property
    def blocked(self) -> bool:
        return bool(self.error) or any(f.level == "error" for f in self.findings)


def _store(request: Request) -> PreviewStore:
    state = request.app.state
    if not hasattr(state, "admin_previews"):
        state.admin_previews = PreviewStore()
    store: PreviewStore = state.admin_previews
    return store


def _environment(request: Request, web: Web) -> jinja2.Environment:
    """One Jinja environment per app, so a refresh reuses the compiled templates."""
    state = request.app.state
    if not hasattr(state, "admin_preview_env"):
        state.admin_preview_env = make_environment(web.settings.templates_dir)
    env: jinja2.Environment = state.admin_preview_env
    return env


def build_draft(web: Web, env: jinja2.Environment, slug: str, text: str) -> Build:
    """``text`` built as ``newsletter build`` builds the file (LocatedError names the file)."""
    with candidate_file(slug, text) as path:
        try:
            return build_issue(web.settings, web.engine, path, env)
        except LocatedError as exc:
            if exc.path == path:
                raise relocated(exc, issue_path(web.settings, slug)) from None
            raise


def recipient_values(
    web: Web, staffer: Staffer, slug: str, address: str
) -> tuple[dict[str, str], str]:
    """The placeholders' values for "preview as": a confirmed subscriber's own for a role that
    may read subscribers, else sample values (the typed address as the email either way), so
    the answer says nothing about who subscribes to anyone who may not know. The links are
    harmless stand-ins: a preview is not a send."""
    base = web.settings.base_url
    values = {
        **SAMPLE,
        "unsubscribe_url": f"{base}/unsubscribe/preview-only",
        "view_url": f"{base}/archive/{slug}",
    }
    address = address.strip()[:320]
    if not address:
        return values, "sample values"
    values["email"] = address
    if staffer.can(Permission.read_subscribers):
        with Session(web.engine) as session:
            found = find(session, address)
        if found is not None and found.status == SubscriberStatus.confirmed:
            values["name"] = found.name
            return values, f"{address} (a confirmed subscriber)"
        return values, f"{address}: no confirmed subscriber, so sample values"
    return values, f"{address}, with sample values for the rest"


def preview_parts(request: Request, staffer: Staffer, slug: str, text: str, address: str) -> Parts:
    web: Web = request.app.state.web
    try:
        build = build_draft(web, _environment(request, web), slug, text)
    except LocatedError as exc:
        return Parts(error="The draft does not build yet.", errors=tuple(exc.lines()))
    except NewsletterError as exc:
        return Parts(error="The draft does not build yet.", errors=(str(exc),))
    compiled = build.compiled
    values, who = recipient_values(web, staffer, slug, address)
    filled = placeholders.substitutions(values, compiled.placeholders)
    html = substitute(placeholders.with_html_twins(compiled.html), filled)
    key = _store(request).put(staffer.id, slug, html)
    return Parts(
        frame_id=key,
        text=substitute(compiled.text, filled),
        findings=tuple(build.findings),
        size=compiled.size,
        who=who,
    )


def saved_file(web: Web, slug: str) -> tuple[str, IssueForm | None]:
    """The issue file as it is (and its form, None when it is not TOML): what a role without
    ``Permission.edit`` previews."""
    try:
        text = current_text(web.settings, slug)
    except IssueFileError as exc:
        raise HTTPException(404, "No such issue.") from exc
    try:
        return text, editing.read_form(text)
    except IssueFileError:
        return text, None


@router.post("/admin/issues/{slug}/preview")
async def preview(request: Request, staffer: Reader, slug: str) -> Response:
    web: Web = request.app.state.web
    known_slug(web, slug)
    fields = await form_fields(request)
    if staffer.can(Permission.edit):
        text, form = candidate(web, slug, fields)
    else:  # a viewer reads: the saved file, whatever was submitted
        text, form = saved_file(web, slug)
    parts = preview_parts(request, staffer, slug, text, fields.get("preview_as", ""))
    if request.headers.get("hx-request") == "true":
        html = ADMIN_PAGES.get_template("preview_panel.html").render(
            slug=slug, preview=parts, preview_as=fields.get("preview_as", "")
        )
        return HTMLResponse(html)
    return editor_page(
        request,
        staffer,
        slug,
        text=text,
        base_hash=fields.get("base_hash", ""),
        form=form,
        preview=parts,
        preview_as=fields.get("preview_as", ""),
        notice="Preview of your unsaved changes."
        if staffer.can(Permission.edit)
        else "Preview of the saved issue.",
    )


@router.get("/admin/issues/{slug}/preview/{key}.html")
def frame(request: Request, staffer: Reader, slug: str, key: str) -> Response:
    html = _store(request).get(staffer.id, slug, key) if _ID.fullmatch(key) else None
    if html is None:
        raise HTTPException(404, "This preview has expired: refresh the preview.")
    return HTMLResponse(html, headers=FRAME_HEADERS)
