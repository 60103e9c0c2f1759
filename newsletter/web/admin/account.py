"""/admin/account: your sessions (started, last seen, IP, browser), signing out of the others
or everywhere."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.staff import sessions
from newsletter.web.admin.auth import SIGN_IN, Reader, clear_cookie, lifetimes
from newsletter.web.admin.render import render, when
from newsletter.web.deps import web_state

router = APIRouter()
ACCOUNT = "/admin/account"
_BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
]
_SYSTEMS = [("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux")]  # fmt: skip
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def browser(user_agent: str) -> str:
    """A short name for a User-Agent: "Firefox on Linux"; the string itself if unknown."""
    name = next((label for key, label in _BROWSERS if key in user_agent), "")
    system = next((label for key, label in _SYSTEMS if key in user_agent), "")
    if name and system:
        return f"{name} on {system}"
    return name or system or _UNPRINTABLE.sub("?", user_agent[:60]) or "unknown"


@router.get(ACCOUNT)
def account(request: Request, staffer: Reader) -> Response:
    web = web_state(request)
    zone = web.settings.timezone
    rows = [
        {
            "id": row.id,
            "current": row.id == staffer.session_id,
            "started": when(row.created_at, zone),
            "last_seen": when(row.last_seen_at, zone),
            "ip": row.ip or "unknown",
            "browser": browser(row.user_agent),
        }
        for row in sessions.live(web.engine, staffer.id, lifetimes(web.settings))
    ]
    done = {
        "others": "You are signed out of your other sessions.",
        "one": "That session has ended.",
        "totp_off": "Two-factor sign-in is off.",
    }.get(request.query_params.get("done", ""), "")
    return render(request, staffer, "account.html", title="Your account", rows=rows, done=done)


@router.post(ACCOUNT + "/sessions/others")
def sign_out_others(request: Request, staffer: Reader) -> Response:
    web = web_state(request)
    ended = sessions.revoke_all(web.engine, staffer.id, keep=staffer.session_id)
    staffer.log(
        web.engine, "signout_others", detail=f"{ended} session{'' if ended == 1 else 's'} ended"
    )
    return RedirectResponse(f"{ACCOUNT}?done=others", status_code=303)


@router.post(ACCOUNT + "/sessions/everywhere")
def sign_out_everywhere(request: Request, staffer: Reader) -> Response:
    web = web_state(request)
    ended = sessions.revoke_all(web.engine, staffer.id)
    staffer.log(
        web.engine, "signout_everywhere", detail=f"{ended} session{'' if ended == 1 else 's'} ended"
    )
    response = RedirectResponse(f"{SIGN_IN}?signed_out=1", status_code=303)
    clear_cookie(response, web.settings)
    return response


@router.post(ACCOUNT + "/sessions/{session_id}/end")
def end_one(request: Request, staffer: Reader, session_id: int) -> Response:
    """End one of your own sessions (another's id, or an ended one: nothing happens)."""
    web = web_state(request)
    mine = {row.id for row in sessions.live(web.engine, staffer.id, lifetimes(web.settings))}
    if session_id not in mine:
        return RedirectResponse(ACCOUNT, status_code=303)
    sessions.revoke(web.engine, session_id)
    staffer.log(web.engine, "session_ended" if session_id != staffer.session_id else "signout")
    if session_id == staffer.session_id:
        response = RedirectResponse(f"{SIGN_IN}?signed_out=1", status_code=303)
        clear_cookie(response, web.settings)
        return response
    return RedirectResponse(f"{ACCOUNT}?done=one", status_code=303)
