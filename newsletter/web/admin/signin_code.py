"""The second step of signing in with two-factor sign-in on: /admin/login/code.

After a correct password (``signin.py``) the browser holds only the token of a half-signed-in
step (``staff/totp.py``: server-side, five minutes, once), which opens nothing but this form. A
6-digit code from the authenticator app (each accepted once), or one of the recovery codes
(each spent when used), finishes signing in. Wrong codes count against the same throttle as
wrong passwords, per account and IP, so guessing a code is as slow as guessing a password.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.models import Staff
from newsletter.staff import accounts, activity, totp
from newsletter.web.admin.auth import SIGN_IN, check_form_origin, client_ip
from newsletter.web.admin.render import render
from newsletter.web.admin.signin import (
    CODE_PAGE,
    HOME,
    pending_cookie,
    safe_next,
    start_session,
    throttle,
    throttled_page,
)
from newsletter.web.deps import web_state

router = APIRouter()
WRONG = "That code is not right, or was used already. Type the newest code from your app."
EXPIRED = "That took too long: sign in again with your password."


def _pending(request: Request) -> Staff | None:
    return totp.pending(web_state(request).engine, request.cookies.get(pending_cookie(request), ""))


def _page(request: Request, target: str, error: str = "", status: int = 200) -> Response:
    return render(
        request, None, "login_code.html", status=status, title="Your code", next=target,
        error=error,
    )  # fmt: skip


def _again(request: Request) -> Response:
    response = RedirectResponse(f"{SIGN_IN}?expired=1", status_code=303)
    response.delete_cookie(pending_cookie(request), path="/")
    return response


@router.get(CODE_PAGE)
def code_form(request: Request, next_: Annotated[str, Query(alias="next")] = HOME) -> Response:
    if _pending(request) is None:
        return _again(request)
    return _page(request, safe_next(next_))


@router.post(CODE_PAGE)
def code_check(
    request: Request,
    code: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    check_form_origin(request)
    web = web_state(request)
    target, ip = safe_next(next_), client_ip(request)
    staff = _pending(request)
    if staff is None or staff.id is None:
        return _again(request)
    key = f"code:{staff.id}"
    wait = throttle(request).wait(key, ip)
    if wait:
        return throttled_page(request, wait)
    typed = code.strip()[:100]
    digits = "".join(typed.split())
    how = "code" if digits.isdigit() else "recovery code"
    right = (
        totp.verify(web.engine, staff.id, digits)
        if digits.isdigit()
        else totp.use_recovery_code(web.engine, staff.id, typed)
    )
    if not right:
        throttle(request).failed(key, ip)
        activity.record(
            web.engine, actor=staff.email, action="signin_failed", detail=f"wrong {how}",
            staff_id=staff.id, ip=ip,
        )  # fmt: skip
        return _page(request, target, WRONG, status=401)
    if not totp.finish(web.engine, request.cookies.get(pending_cookie(request), "")):
        return _again(request)
    throttle(request).succeeded(key, ip)
    accounts.signed_in(web.engine, staff.id)
    detail = f"with a {how}"
    if how == "recovery code":
        detail += f" ({totp.recovery_left(web.engine, staff.id)} left)"
    activity.record(
        web.engine, actor=staff.email, action="signin", detail=detail, staff_id=staff.id, ip=ip
    )
    response = start_session(request, staff, target)
    response.delete_cookie(pending_cookie(request), path="/")
    return response
