"""/admin/account/two-factor: setting up, and turning off, two-factor sign-in for yourself.

Setting up shows a QR code (an inline SVG: ``staff/totp.py``) and the secret it holds, for the
authenticator app; a code from the app confirms it, and the recovery codes are shown once on the
answer to that form (never again: only their hashes are kept). Turning it off needs a current
code; an admin cannot turn it off while ``totp_required_for_admins`` is on. These pages stay
open to an admin who must still set it up (the gate's ``setting_up``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from newsletter.models import Role
from newsletter.staff import accounts, totp
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import TWO_FACTOR_SETUP, Staffer, require
from newsletter.web.admin.render import render
from newsletter.web.deps import web_state

router = APIRouter()
Yourself = Annotated[Staffer, Depends(require(Permission.read, setting_up=True))]
Code = Annotated[str, Form()]
WRONG = "That code is not right (or was used already): type the newest one your app shows."


def _setup_page(request: Request, staffer: Staffer, error: str = "") -> Response:
    web = web_state(request)
    staff = accounts.by_id(web.engine, staffer.id)
    assert staff is not None
    if totp.enabled(staff):
        return render(
            request, staffer, "twofactor.html", title="Two-factor sign-in", on=True,
            left=totp.recovery_left(web.engine, staffer.id), error=error, required=_required(
                request, staffer),
        )  # fmt: skip
    secret = staff.totp_secret or totp.start(web.engine, staffer.id)
    uri = totp.uri(secret, staffer.email, web.settings.organisation_name)
    qr = totp.qr_svg(uri, "QR code for your authenticator app")
    return render(
        request,
        staffer,
        "twofactor.html",
        status=400 if error else 200,
        title="Set up two-factor sign-in",
        on=False,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr=Markup(qr),  # noqa: S704 (built by totp.qr_svg from numbers and a fixed label)
        error=error,
        required=_required(request, staffer),
    )


def _required(request: Request, staffer: Staffer) -> bool:
    return staffer.role == Role.admin and web_state(request).settings.totp_required_for_admins


@router.get(TWO_FACTOR_SETUP)
def setup_page(request: Request, staffer: Yourself) -> Response:
    return _setup_page(request, staffer)


@router.post(TWO_FACTOR_SETUP)
def confirm(request: Request, staffer: Yourself, code: Code = "") -> Response:
    web = web_state(request)
    staff = accounts.by_id(web.engine, staffer.id)
    if staff is None or totp.enabled(staff):
        return RedirectResponse(TWO_FACTOR_SETUP, status_code=303)
    codes = totp.confirm(web.engine, staffer.id, code)
    if codes is None:
        return _setup_page(request, staffer, WRONG)
    staffer.log(web.engine, "totp_on", staffer.email)
    return render(
        request, staffer, "twofactor_codes.html", title="Your recovery codes", codes=codes
    )


@router.post(TWO_FACTOR_SETUP + "/off")
def turn_off(request: Request, staffer: Yourself, code: Code = "") -> Response:
    web = web_state(request)
    if _required(request, staffer):
        return _setup_page(request, staffer, "Admins must use two-factor sign-in here.")
    if not totp.verify(web.engine, staffer.id, code):
        return _setup_page(request, staffer, WRONG)
    totp.turn_off(web.engine, staffer.id)
    staffer.log(web.engine, "totp_off", staffer.email)
    return RedirectResponse("/admin/account?done=totp_off", status_code=303)
