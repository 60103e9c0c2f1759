"""/admin/staff (admin): the staff accounts, and inviting, changing, disabling and resetting them.

The same core as ``newsletter staff ...`` (``staff/accounts.py``), so the rules are the same:
the last enabled admin cannot be disabled, made another role, or reset here. A new sign-in link
(an invitation or a reset) is shown once on the answer page and emailed: its job is queued for
the email worker (``email_jobs/``; the message is ``staff/invitation.py``'s), so the page never
waits on the provider; if the email does not arrive, the link shown can be passed on another way.
Every action goes to the activity log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.email_jobs import queue
from newsletter.errors import InvalidAddress, StaffError
from newsletter.models import Role, Staff
from newsletter.staff import accounts, links, sessions, totp
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Staffer, lifetimes, require
from newsletter.web.admin.render import render, when
from newsletter.web.deps import web_state

router = APIRouter()
STAFF = "/admin/staff"
Admin = Annotated[Staffer, Depends(require(Permission.manage_staff))]
Text = Annotated[str, Form()]
DONE = {
    "role": "The role is changed: their open sessions have it from their next click.",
    "disable": "The account is disabled: every session and sign-in link of theirs has ended.",
    "enable": "The account is enabled: they can sign in with their password again.",
    "signout": "They are signed out everywhere.",
}


def status(staff: Staff) -> str:
    if staff.disabled_at is not None:
        return "disabled"
    return "active" if staff.password_hash else "invited"


def _rows(request: Request) -> list[dict[str, object]]:
    web = web_state(request)
    zone, life = web.settings.timezone, lifetimes(web.settings)
    return [
        {
            "id": staff.id,
            "email": staff.email,
            "name": staff.name,
            "role": staff.role,
            "status": status(staff),
            "two_factor": totp.enabled(staff),
            "last": when(staff.last_signin_at, zone) if staff.last_signin_at else "never",
            "sessions": len(sessions.live(web.engine, staff.id, life)) if staff.id else 0,
        }
        for staff in accounts.listing(web.engine)
    ]


def _list_page(
    request: Request, staffer: Staffer, *, error: str = "", form: dict[str, str] | None = None
) -> Response:
    done = DONE.get(request.query_params.get("done", ""), "")
    return render(
        request, staffer, "staff.html", status=400 if error else 200, title="Staff",
        rows=_rows(request), roles=list(Role), error=error, done=done,
        form=form or {"email": "", "name": "", "role": Role.editor.value},
    )  # fmt: skip


def _link_page(
    request: Request, staffer: Staffer, staff: Staff, token: str, purpose: str
) -> Response:
    web = web_state(request)
    assert staff.id is not None
    queue.ask_staff_link(web.engine, staff.id, token, purpose)
    web.queued(True)
    return render(
        request, staffer, "staff_link.html", title="Sign-in link", email=staff.email,
        link=links.url(web.settings.base_url, token),
        invited=purpose == links.INVITE,
        hours=int(links.LIFETIME.total_seconds() // 3600),
    )  # fmt: skip


@router.get(STAFF)
def staff_list(request: Request, staffer: Admin) -> Response:
    return _list_page(request, staffer)


@router.post(STAFF + "/invite")
def invite(
    request: Request, staffer: Admin, email: Text = "", name: Text = "", role: Text = ""
) -> Response:
    web = web_state(request)
    form = {"email": email[:320], "name": name[:200], "role": role}
    try:
        staff = accounts.add(web.engine, email, role=Role(role), name=name)
    except ValueError:
        return _list_page(request, staffer, error="Choose one of the four roles.", form=form)
    except (StaffError, InvalidAddress) as exc:
        return _list_page(request, staffer, error=str(exc), form=form)
    assert staff.id is not None
    staffer.log(web.engine, "staff_add", staff.email, f"role {staff.role}")
    token = links.create(web.engine, staff.id, links.INVITE)
    return _link_page(request, staffer, staff, token, links.INVITE)


def _target(request: Request, staff_id: int) -> Staff | None:
    return accounts.by_id(web_state(request).engine, staff_id)


def _refused(request: Request, staffer: Staffer, message: str) -> Response:
    return _list_page(request, staffer, error=message)


def _gone(request: Request, staffer: Admin) -> Response:
    return _refused(request, staffer, "That staff account no longer exists.")


@router.post(STAFF + "/{staff_id}/role")
def change_role(request: Request, staffer: Admin, staff_id: int, role: Text = "") -> Response:
    web, staff = web_state(request), _target(request, staff_id)
    if staff is None:
        return _gone(request, staffer)
    try:
        changed, before = accounts.set_role(web.engine, staff.email, Role(role))
    except ValueError:
        return _refused(request, staffer, "Choose one of the four roles.")
    except StaffError as exc:
        return _refused(request, staffer, str(exc))
    staffer.log(web.engine, "staff_role", changed.email, f"{before} -> {changed.role}")
    return RedirectResponse(f"{STAFF}?done=role", status_code=303)


@router.post(STAFF + "/{staff_id}/disable")
def disable(request: Request, staffer: Admin, staff_id: int) -> Response:
    web, staff = web_state(request), _target(request, staff_id)
    if staff is None:
        return _gone(request, staffer)
    if staff.disabled_at is not None:
        return RedirectResponse(f"{STAFF}?done=disable", status_code=303)
    try:
        accounts.disable(web.engine, staff.email)
    except StaffError as exc:
        return _refused(request, staffer, str(exc))
    staffer.log(web.engine, "staff_disable", staff.email)
    return RedirectResponse(f"{STAFF}?done=disable", status_code=303)


@router.post(STAFF + "/{staff_id}/enable")
def enable(request: Request, staffer: Admin, staff_id: int) -> Response:
    web, staff = web_state(request), _target(request, staff_id)
    if staff is None:
        return _gone(request, staffer)
    accounts.enable(web.engine, staff.email)
    staffer.log(web.engine, "staff_enable", staff.email)
    return RedirectResponse(f"{STAFF}?done=enable", status_code=303)


@router.post(STAFF + "/{staff_id}/signout")
def sign_out(request: Request, staffer: Admin, staff_id: int) -> Response:
    web, staff = web_state(request), _target(request, staff_id)
    if staff is None or staff.id is None:
        return _gone(request, staffer)
    ended = sessions.revoke_all(web.engine, staff.id)
    staffer.log(
        web.engine, "staff_signout", staff.email, f"{ended} session{'' if ended == 1 else 's'}"
    )
    if staff.id == staffer.id:
        return RedirectResponse("/admin/login?signed_out=1", status_code=303)
    return RedirectResponse(f"{STAFF}?done=signout", status_code=303)


@router.post(STAFF + "/{staff_id}/reset")
def reset(request: Request, staffer: Admin, staff_id: int) -> Response:
    web, staff = web_state(request), _target(request, staff_id)
    if staff is None:
        return _gone(request, staffer)
    try:
        staff, token = accounts.reset(web.engine, staff.email)
    except StaffError as exc:
        return _refused(request, staffer, str(exc))
    staffer.log(web.engine, "staff_reset", staff.email)
    return _link_page(request, staffer, staff, token, links.RESET)
