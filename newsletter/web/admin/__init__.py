"""The staff area at /admin: sign-in, the issue workflow, the activity log (docs/dashboard.md).

``install(app)`` adds every admin router, the gate's answers and the admin's static files
(htmx, the stylesheet, our one script) under /static/admin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from newsletter.web.admin import editor, history, preview, render

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ROUTERS: list[APIRouter] = []
ROUTERS += [editor.router, preview.router, history.router]  # the issue editor (wt12-edit)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    render.install(app)
    app.mount(render.STATIC, StaticFiles(directory=STATIC_DIR), name="admin-static")
