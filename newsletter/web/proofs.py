"""The links of a [TEST] proof: ``/proof/{token}`` shows the proof as it was sent, and
``/proof/{token}/unsubscribe`` says what the real issue's unsubscribe link does.

The token is the proof's send id, signed (``subscribers/tokens.py``): nobody can list or guess
other proofs. Neither page changes anything: a proof goes to staff, subscribed or not, and
following its links must not unsubscribe them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.errors import TokenError
from newsletter.issues.exit_check import make_safe
from newsletter.issues.placeholders import neutralise
from newsletter.models import Send, SendKind
from newsletter.web.deps import Web, WebState
from newsletter.web.edge import CSP, EMAIL_POLICY

router = APIRouter()


def _proof(w: Web, token: str) -> Send | None:
    try:
        send_id = w.tokens.read_proof(token)
    except TokenError:
        return None
    with Session(w.engine) as session:
        send = session.get(Send, send_id)
    return send if send is not None and send.kind == SendKind.test else None


def _not_found(w: Web) -> HTMLResponse:
    return w.message(
        "Proof not found",
        "This test proof link is not valid (or the proof was deleted).",
        status=404,
    )


@router.get("/proof/{token}", response_class=HTMLResponse)
def proof_view(w: WebState, token: str) -> HTMLResponse:
    send = _proof(w, token)
    if send is None:
        return _not_found(w)
    values = {
        "unsubscribe_url": w.url(f"/proof/{token}/unsubscribe"),
        "view_url": w.url(f"/proof/{token}"),
    }
    # as in the archive: the stored HTML, exit-checked again, under the email's policy
    safe = make_safe(neutralise(send.html, values)).html
    return HTMLResponse(safe, headers={CSP: EMAIL_POLICY, "X-Robots-Tag": "noindex"})


@router.get("/proof/{token}/unsubscribe", response_class=HTMLResponse)
@router.post("/proof/{token}/unsubscribe", response_class=HTMLResponse)  # mail clients' one-click
def proof_unsubscribe(w: WebState, token: str) -> HTMLResponse:
    send = _proof(w, token)
    if send is None:
        return _not_found(w)
    return w.message(
        "This is a test proof",
        f"You followed the unsubscribe link of a test proof of {send.issue_slug}: nothing "
        "changed, nobody was unsubscribed.",
        "In the real issue this link is personal: it unsubscribes the reader it was sent to, "
        "in one click, with no login.",
        link={"url": w.url(f"/proof/{token}"), "label": "View the proof"},
    )
