"""Admin pages: the staff layout around a template, and the answers of the gate (web/admin/auth).

Every admin answer is uncacheable and carries the admin Content-Security-Policy (set at the edge
for every /admin path: web/edge.py), so script runs only from our own files under /static/admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Denied, Staffer
from newsletter.web.deps import web_state

STATIC = "/static/admin"
ADMIN_PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("newsletter.web", "templates/admin"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# (path, label, permission): the navigation of every signed-in page, each entry shown to the
# roles that may open it
NAV: list[tuple[str, str, Permission]] = [
    ("/admin/", "Home", Permission.read),
    ("/admin/issues", "Issues", Permission.read),
    ("/admin/posts", "Posts", Permission.read),
    ("/admin/sources", "Sources", Permission.read),
    ("/admin/subscribers", "Subscribers", Permission.read_subscribers),
    ("/admin/activity", "Activity", Permission.read),
    ("/admin/staff", "Staff", Permission.manage_staff),
    ("/admin/settings", "Settings", Permission.manage_staff),
    ("/admin/account", "Your account", Permission.read),
]


def render(
    request: Request,
    staffer: Staffer | None,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` (under web/templates/admin/) inside the staff layout."""
    web = web_state(request)
    html = ADMIN_PAGES.get_template(template).render(
        staffer=staffer,
        csrf_token=staffer.csrf_token if staffer else "",
        org=web.org,
        nav=[(url, label) for url, label, need in NAV if staffer and staffer.can(need)],
        path=request.url.path,
        static=STATIC,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers.update(headers or {})
    return response


def when(value: datetime, zone: str) -> str:
    """A time in the organisation's zone, as staff read it: ``2026-07-01 09:30 CEST``."""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    if exc.status == 303:
        return RedirectResponse(exc.location, status_code=303)
    title = "Please sign in again" if exc.status == 401 else "Not allowed"
    staffer = getattr(request.state, "staffer", None) if exc.status == 403 else None
    return render(request, staffer, "message.html", status=exc.status, title=title, text=exc.reason)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Denied, denied)
