"""The public archive: ``/archive`` lists published issues, ``/archive/{slug}`` shows one.

Until the send ledger exists, "published" means: built (``build_dir/<slug>/index.html`` and
``issue.json``) and its ``send_at`` has passed. The email's per-recipient placeholders are
neutralised: unsubscribe goes to the signup page, view-in-browser to this page, name and
address become empty.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from newsletter.compiler import PLACEHOLDER
from newsletter.web.app import Web, web

router = APIRouter()
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Archived:
    slug: str
    subject: str
    sent: datetime
    folder: Path


def published(build_dir: Path, now: datetime) -> list[Archived]:
    """Built issues whose send_at has passed, newest first."""
    found = []
    for meta in sorted(build_dir.glob("*/issue.json")):
        folder = meta.parent
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            sent = datetime.fromisoformat(data["send_at"]).astimezone(UTC)
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if sent <= now and (folder / "index.html").is_file() and SLUG.fullmatch(folder.name):
            found.append(Archived(folder.name, str(data.get("subject", folder.name)), sent, folder))
    return sorted(found, key=lambda a: a.sent, reverse=True)


def neutralise(html: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: html_lib.escape(values.get(m.group(1), ""), quote=True), html)


def _not_found(w: Web) -> HTMLResponse:
    link = {"url": w.url("/archive"), "label": "See all past issues"}
    return w.message("Issue not found", "There is no published issue here.", status=404, link=link)


@router.get("/archive", response_class=HTMLResponse)
def archive_list(request: Request) -> HTMLResponse:
    w = web(request)
    zone = w.settings.zone
    issues = [
        {
            "url": w.url(f"/archive/{item.slug}"),
            "subject": item.subject,
            "date": f"{item.sent.astimezone(zone):%-d %B %Y}",
        }
        for item in published(w.settings.build_dir, datetime.now(UTC))
    ]
    return w.page(
        "archive.html", title="Past issues", issues=issues, subscribe_url=w.url("/subscribe")
    )


@router.get("/archive/{slug}", response_class=HTMLResponse)
def archive_issue(request: Request, slug: str) -> HTMLResponse:
    w = web(request)
    if not SLUG.fullmatch(slug):
        return _not_found(w)
    match = [a for a in published(w.settings.build_dir, datetime.now(UTC)) if a.slug == slug]
    if not match:
        return _not_found(w)
    html = (match[0].folder / "index.html").read_text(encoding="utf-8")
    values = {
        "unsubscribe_url": w.url("/subscribe"),
        "view_url": w.url(f"/archive/{slug}"),
        "name": "",
        "email": "",
    }
    return HTMLResponse(neutralise(html, values))
