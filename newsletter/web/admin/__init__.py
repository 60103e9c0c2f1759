"""The staff area at /admin: sign-in, the issue workflow, the activity log (docs/dashboard.md).

``install(app)`` adds every admin router, the gate's answers and the admin's static files
(htmx, the stylesheet, our one script) under /static/admin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from newsletter.subscribers import directory
from newsletter.web.admin import (
    account,
    activity_log,
    editor,
    history,
    home,
    issues,
    post_writing,
    posts,
    preview,
    render,
    report,
    settings_view,
    signin,
    signin_code,
    sources,
    staff_accounts,
    subscriber_import,
    subscribers,
    twofactor,
    workflow,
)
from newsletter.web.ratelimit import ProofLimit, SignInThrottle

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# next-quarter (editor) is declared before the /admin/issues/{slug} routes it would match
ROUTERS: list[APIRouter] = [
    signin.router,
    account.router,
    home.router,
    activity_log.router,
    issues.router,
    editor.router,
    preview.router,
    history.router,
    workflow.router,
    report.router,
    subscriber_import.router,  # /admin/subscribers/export before the person's page
    subscribers.router,
    signin_code.router,
    twofactor.router,
    staff_accounts.router,
    settings_view.router,
    post_writing.router,  # /admin/posts/new before /admin/posts/{slug}
    posts.router,
    sources.router,
]


def install(app: FastAPI) -> None:
    settings, counters = app.state.web.settings, app.state.rate_limit_counters
    app.state.signin_throttle = SignInThrottle(
        settings.signin_rate_limit, settings.signin_ip_rate_limit, counters=counters
    )
    app.state.proof_limit = ProofLimit(counters=counters)
    app.state.subscriber_counts = directory.Counts()
    for router in ROUTERS:
        app.include_router(router)
    render.install(app)
    app.mount(render.STATIC, StaticFiles(directory=STATIC_DIR), name="admin-static")
