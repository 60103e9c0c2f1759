"""The public archive: `/archive` lists the issues sent to the list, `/archive/{slug}` one.

"Sent" means the issue has a live send in the send ledger (finished, or still going); the page
is the exact HTML that went out, stored with the send, with the per-recipient placeholders
neutralised: the unsubscribe link says "Subscribe" and goes to the signup page, view-in-browser
goes to this page, name and address become empty. The site header (the organisation, Subscribe,
Past issues: ``templates/header.html``) is put at the top of the email's ``<body>`` with its own
scoped, inline CSS: one document, so the email keeps its layout and the page its sandbox (no
frame, no second request). Test proofs never appear here. The page passes the exit check
(``issues/exit_check.py``) on every request, header included, so a send stored by an older
version, before that check existed, cannot run a script on this origin either.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from newsletter.issues.exit_check import make_safe
from newsletter.issues.placeholders import neutralise
from newsletter.models import Send, SendKind
from newsletter.web.deps import ARCHIVE, PAGES, SUBSCRIBE, Web, WebState
from newsletter.web.edge import CSP, EMAIL_POLICY

router = APIRouter()
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_BODY = re.compile(r"<body\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def _not_found(w: Web) -> HTMLResponse:
    link = {"url": w.url("/archive"), "label": "See all past issues"}
    return w.message("Issue not found", "There is no published issue here.", status=404, link=link)


@router.get("/archive", response_class=HTMLResponse)
def archive_list(w: WebState) -> HTMLResponse:
    zone = w.settings.zone
    with Session(w.engine) as session:
        sends = session.exec(
            select(Send).where(Send.kind == SendKind.live).order_by(col(Send.started_at).desc())
        ).all()
    issues = [
        {
            "url": w.url(f"/archive/{send.issue_slug}"),
            "subject": send.subject,
            "date": f"{send.started_at.astimezone(zone):%-d %B %Y}",
        }
        for send in sends
    ]
    return w.page(
        "archive.html", title="Past issues", issues=issues, subscribe_url=w.url("/subscribe")
    )


@router.get("/archive/{slug}", response_class=HTMLResponse)
def archive_issue(w: WebState, slug: str) -> HTMLResponse:
    if not SLUG.fullmatch(slug):
        return _not_found(w)
    with Session(w.engine) as session:
        send = session.exec(select(Send).where(Send.live_slug == slug)).first()
    if send is None:
        return _not_found(w)
    values = {"unsubscribe_url": w.url(SUBSCRIBE), "view_url": w.url(f"{ARCHIVE}/{slug}")}
    public = neutralise(send.html, values, labels={"unsubscribe_url": "Subscribe"})
    # the email's own HTML under our header, exit-checked again (sends stored before the check
    # existed), under a policy that lets its inlined CSS and images show and runs nothing
    safe = make_safe(with_site_header(w, public)).html
    return HTMLResponse(safe, headers={CSP: EMAIL_POLICY})


def with_site_header(w: Web, html: str) -> str:
    """``html`` with the site header first in its ``<body>`` (or first of all, after the
    doctype, for a document without one)."""
    header = PAGES.get_template("archive_header.html").render(**w.site())
    found = _BODY.search(html) or _DOCTYPE.match(html)
    at = found.end() if found else 0
    return f"{html[:at]}\n{header}{html[at:]}"
