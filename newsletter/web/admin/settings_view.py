"""/admin/settings (admin): every setting in effect and where its value came from, read-only.

Settings stay where the operator keeps them (the settings file and the environment:
docs/settings.md); this page only shows them, secrets as set / not set (``config/provenance``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.config import provenance
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Staffer, require
from newsletter.web.admin.render import render
from newsletter.web.deps import web_state

router = APIRouter()
Admin = Annotated[Staffer, Depends(require(Permission.manage_staff))]


@router.get("/admin/settings")
def settings_page(request: Request, staffer: Admin) -> Response:
    path, exists, named = provenance.file_in_use()
    rows = provenance.origins(web_state(request).settings)
    counts = {
        source: sum(1 for row in rows if row.source == source)
        for source in (provenance.ENVIRONMENT, provenance.FILE, provenance.DEFAULT)
    }
    return render(
        request, staffer, "settings.html", title="Settings", rows=rows, file=path,
        file_exists=exists, file_named=named, counts=counts,
    )  # fmt: skip
