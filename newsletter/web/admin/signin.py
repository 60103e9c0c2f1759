"""Signing in and out: /admin/login, /admin/logout, and /admin/link/{token} where a one-time
link lets a person set their password.

These are the only /admin pages without the gate (tests/admin/test_route_walk.py keeps the
list). Their own protections:
- sign-in answers "That email and password do not match" for an unknown address, a wrong
  password and a disabled account alike (``accounts.authenticate`` does the same work for
  each), and is throttled per (address, IP), per IP and, at a much higher ceiling, per address
  from every IP (``web/ratelimit.py``), counting failures;
- a form posted from another site (``Origin``, ``Sec-Fetch-Site``), or with neither header
  (no browser posts a form so), is refused;
- signing in ends the session the browser had before (a new token each time);
- a sign-in link that is used, expired or unknown gets one page that does not say which;
- with two-factor sign-in on, a correct password leads only to the code form
  (``signin_code.py``): a short-lived server-side step, its token in a cookie of its own.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.errors import InvalidAddress, WeakPassword
from newsletter.models import Staff, utcnow
from newsletter.staff import accounts, activity, links, passwords, sessions, totp
from newsletter.subscribers.address import key_of, parse
from newsletter.web.admin.auth import (
    SIGN_IN,
    Staffer,
    check_csrf,
    check_form_origin,
    clear_cookie,
    client_ip,
    cookie_name,
    current,
    lifetimes,
    set_cookie,
)
from newsletter.web.admin.render import render
from newsletter.web.deps import web_state
from newsletter.web.ratelimit import SignInThrottle

router = APIRouter()
HOME = "/admin/issues"
CODE_PAGE = "/admin/login/code"
NO_MATCH = "That email and password do not match."
BAD_LINK = (
    "This sign-in link does not work: it may have been used already, be more than 24 hours "
    "old, or be incomplete. Ask an admin for a new one (newsletter staff reset EMAIL)."
)
Field = Annotated[str, Form()]


def safe_next(value: str) -> str:
    """Where to go after signing in: a path of the staff area on this site, else the issues."""
    if (
        len(value) > 500
        or not (value == "/admin" or value.startswith(("/admin/", "/admin?")))
        or "\\" in value
        or "//" in value
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
        or value.startswith((SIGN_IN, "/admin/logout", links.PATH))
    ):
        return HOME
    return value


def throttle(request: Request) -> SignInThrottle:
    found: SignInThrottle = request.app.state.signin_throttle
    return found


def _account_key(email: str) -> str:
    return key_of(email.strip()[:320])


def _typed(email: str) -> str:
    """What the activity log names for a failed sign-in: the address if it is one."""
    try:
        return parse(email[:320]).email
    except InvalidAddress:
        return "(not an email address)"


def _login_page(
    request: Request, *, next_: str, email: str = "", error: str = "", status: int = 200
) -> Response:
    notice = "You are signed out." if request.query_params.get("signed_out") else ""
    if request.query_params.get("expired"):
        notice = "Signing in took too long, or the code step ended: sign in again."
    return render(
        request,
        None,
        "login.html",
        status=status,
        title="Sign in",
        next=next_,
        email=email,
        error=error,
        notice=notice,
    )


def throttled_page(request: Request, seconds: int) -> Response:
    minutes = max(1, math.ceil(seconds / 60))
    at = (utcnow() + timedelta(seconds=seconds)).strftime("%H:%M UTC")
    text = (
        f"Too many failed sign-ins. Please try again in {minutes} minute"
        f"{'' if minutes == 1 else 's'} (at {at}), or ask an admin to reset your password."
    )
    return render(
        request,
        None,
        "message.html",
        status=429,
        headers={"Retry-After": str(seconds)},
        title="Too many attempts",
        text=text,
    )


def start_session(request: Request, staff: Staff, target: str) -> Response:
    """Start a session for ``staff`` (ending the one this browser had) and go to ``target``."""
    web = web_state(request)
    assert staff.id is not None
    old = request.cookies.get(cookie_name(web.settings), "")
    if old:
        found = sessions.find(web.engine, old, lifetimes(web.settings))
        if found is not None and found[0].id is not None:
            sessions.revoke(web.engine, found[0].id)
    token, _ = sessions.start(
        web.engine,
        staff.id,
        lifetimes(web.settings),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, web.settings, token)
    return response


@router.get("/admin/login")
async def login_form(
    request: Request, next_: Annotated[str, Query(alias="next")] = HOME
) -> Response:
    target = safe_next(next_)
    if await current(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, next_=target)


@router.post("/admin/login")
def login(
    request: Request,
    email: Field = "",
    password: Field = "",
    next_: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    check_form_origin(request)
    web = web_state(request)
    target = safe_next(next_)
    key, ip = _account_key(email), client_ip(request)
    wait = throttle(request).wait(key, ip)
    if wait:
        return throttled_page(request, wait)
    staff = accounts.authenticate(web.engine, email, password)
    if staff is None:
        throttle(request).failed(key, ip)
        known = accounts.find(web.engine, email)
        activity.record(
            web.engine,
            actor=known.email if known else _typed(email),
            action="signin_failed",
            staff_id=known.id if known else None,
            ip=ip,
        )
        return _login_page(request, next_=target, email=email[:320], error=NO_MATCH, status=401)
    throttle(request).succeeded(key, ip)
    if totp.enabled(staff):
        return _second_step(request, staff, target)
    activity.record(web.engine, actor=staff.email, action="signin", staff_id=staff.id, ip=ip)
    return start_session(request, staff, target)


def pending_cookie(request: Request) -> str:
    return ("__Host-" if web_state(request).settings.base_url.startswith("https://") else "") + (
        "nl_staff_code"
    )


def _second_step(request: Request, staff: Staff, target: str) -> Response:
    """The password was right; the code comes next. Nothing is signed in yet."""
    web = web_state(request)
    assert staff.id is not None
    token = totp.begin(web.engine, staff.id)
    response = RedirectResponse(f"{CODE_PAGE}?next={quote(target, safe='')}", status_code=303)
    response.set_cookie(
        pending_cookie(request),
        token,
        max_age=int(totp.PENDING_LIFETIME.total_seconds()),
        path="/",
        secure=web.settings.base_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/admin/logout")
async def logout(request: Request) -> Response:
    """Ends this browser's session (a form posted from another site is refused)."""
    web = web_state(request)
    staffer: Staffer | None = await current(request)
    if staffer is not None:
        await check_csrf(request, staffer.csrf_token)
        sessions.revoke(web.engine, staffer.session_id)
        activity.record(
            web.engine,
            actor=staffer.email,
            action="signout",
            staff_id=staffer.id,
            ip=staffer.ip,
        )
    response = RedirectResponse(f"{SIGN_IN}?signed_out=1", status_code=303)
    clear_cookie(response, web.settings)
    return response


def _bad_link(request: Request) -> Response:
    return render(
        request, None, "message.html", status=404, title="This link does not work", text=BAD_LINK
    )


def _link_page(
    request: Request, token: str, staff: Staff, purpose: str, error: str = ""
) -> Response:
    return render(
        request,
        None,
        "link.html",
        status=400 if error else 200,
        title="Set your password",
        token=token,
        email=staff.email,
        welcome=purpose == links.INVITE,
        error=error,
        min_length=passwords.MIN_LENGTH,
    )


@router.get("/admin/link/{token}")
def link_form(request: Request, token: str) -> Response:
    found = links.peek(web_state(request).engine, token)
    if found is None:
        return _bad_link(request)
    link, staff = found
    return _link_page(request, token, staff, link.purpose)


@router.post("/admin/link/{token}")
def link_use(
    request: Request, token: str, password: Field = "", password_again: Field = ""
) -> Response:
    """Set the password (typed twice), use up the link, and sign in."""
    check_form_origin(request)
    web = web_state(request)
    found = links.peek(web.engine, token)
    if found is None:
        return _bad_link(request)
    link, staff = found
    if password != password_again:
        return _link_page(request, token, staff, link.purpose, "The two passwords differ.")
    reason = passwords.problem(password, email=staff.email, name=staff.name)
    if reason is not None:
        return _link_page(request, token, staff, link.purpose, reason)
    staff_id = links.claim(web.engine, token)
    if staff_id is None:
        return _bad_link(request)
    try:
        staff = accounts.set_password(web.engine, staff_id, password)
    except WeakPassword as exc:  # the rules said yes a moment ago; kept for safety
        return _link_page(request, token, staff, link.purpose, str(exc))
    activity.record(
        web.engine,
        actor=staff.email,
        action="password_set",
        detail=f"through a sign-in link ({link.purpose})",
        staff_id=staff.id,
        ip=client_ip(request),
    )
    accounts.signed_in(web.engine, staff_id)
    activity.record(
        web.engine, actor=staff.email, action="signin", staff_id=staff.id, ip=client_ip(request)
    )
    return start_session(request, staff, HOME)
