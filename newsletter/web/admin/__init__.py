"""The staff area at /admin: sign-in, the issue workflow, the activity log (docs/dashboard.md).

``install(app)`` adds every admin router, the gate's answers and the admin's static files
(htmx, the stylesheet, our one script) under /static/admin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from newsletter.web.admin import editor, history, issues, preview, render, report, workflow

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# next-quarter (editor) is declared before the /admin/issues/{slug} routes it would match
ROUTERS: list[APIRouter] = [
    issues.router,
    editor.router,
    preview.router,
    history.router,
    workflow.router,
    report.router,
]


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    render.install(app)
    app.mount(render.STATIC, StaticFiles(directory=STATIC_DIR), name="admin-static")
