"""Who is signed in, and may they: the staff area's one gate.

Every /admin route except the sign-in pages depends on ``require(permission)``:

    @router.get("/admin/issues")
    def issues(staffer: Annotated[Staffer, Depends(require(Permission.read))]) -> Response: ...

``require(p)`` returns a ``Gate`` (its ``.permission`` is what the route walk test reads). It
answers, in this order:
- no live session (no cookie, unknown, revoked, idle or past its absolute age, staff disabled):
  GET -> 303 to /admin/login?next=<path>; other methods -> 401;
- an unsafe method whose ``Origin`` is not ``base_url``'s, whose ``Sec-Fetch-Site`` is not
  same-origin, or whose form field ``csrf_token`` / header ``X-CSRF-Token`` is not the
  session's: 403;
- a role without the permission: 403;
- an admin without two-factor sign-in while ``totp_required_for_admins`` is on: GET -> 303 to
  its set-up page, others 403 (the set-up pages' gate, ``require(p, setting_up=True)``, lets
  them through);
- else the Staffer.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.models import Role
from newsletter.staff import activity, sessions
from newsletter.staff.roles import Permission, can
from newsletter.web.deps import web_state

SIGN_IN = "/admin/login"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"


@dataclass(frozen=True)
class Staffer:
    """The signed-in staff member, as a route sees them."""

    id: int
    email: str
    name: str
    role: Role
    session_id: int
    csrf_token: str
    ip: str = ""
    two_factor: bool = False  # signs in with a code too (staff/totp.py)

    def can(self, permission: Permission) -> bool:
        return can(self.role, permission)

    @property
    def label(self) -> str:
        """How the activity log and revisions name them."""
        return self.email

    def log(self, engine: sa.Engine, action: str, subject: str = "", detail: str = "") -> None:
        """One activity log entry for something this person did, from where they did it."""
        activity.record(
            engine,
            actor=self.label,
            action=action,
            subject=subject,
            detail=detail,
            staff_id=self.id,
            ip=self.ip,
        )


class Denied(Exception):
    """The gate's refusal: ``status`` 303 (to ``location``), 401 or 403, with a reason."""

    def __init__(self, status: int, reason: str, location: str = "") -> None:
        super().__init__(reason)
        self.status, self.reason, self.location = status, reason, location


def cookie_name(settings: Settings) -> str:
    """``__Host-`` prefixed (the browser then insists on Secure, Path=/ and no Domain) on https."""
    return "__Host-nl_staff" if settings.base_url.startswith("https://") else "nl_staff"


def set_cookie(response: Response, settings: Settings, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Path=/; Secure (and ``__Host-``) on https.
    It lives no longer than the session can."""
    response.set_cookie(
        cookie_name(settings),
        token,
        max_age=settings.session_max_age,
        path="/",
        secure=settings.base_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings),
        path="/",
        secure=settings.base_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def lifetimes(settings: Settings) -> sessions.Lifetimes:
    return sessions.Lifetimes.of(settings.session_idle_timeout, settings.session_max_age)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def current(request: Request) -> Staffer | None:
    """The signed-in staff member, or None (for the sign-in pages, which take both)."""
    web = web_state(request)
    token = request.cookies.get(cookie_name(web.settings), "")
    if not token:
        return None
    found = await run_in_threadpool(sessions.find, web.engine, token, lifetimes(web.settings))
    if found is None:
        return None
    row, staff = found
    assert row.id is not None and staff.id is not None
    return Staffer(
        id=staff.id,
        email=staff.email,
        name=staff.name,
        role=Role(staff.role),
        session_id=row.id,
        csrf_token=row.csrf_token,
        ip=client_ip(request),
        two_factor=staff.totp_enabled_at is not None,
    )


def check_origin(request: Request) -> None:
    """Refuse (403) a request whose ``Origin`` is not ``base_url``'s, or whose
    ``Sec-Fetch-Site`` says another site sent it (the sign-in form, which has no session yet,
    relies on this alone)."""
    web = web_state(request)
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != origin_of(web.settings.base_url):
        raise Denied(403, "This request came from another site, so it was refused.")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Denied(403, "This request came from another site, so it was refused.")


NO_ORIGIN = (
    "This form was refused: the request did not say which site it came from (no Origin or "
    "Sec-Fetch-Site header, which every current browser sends). Open the page again in your "
    "browser and send the form from there."
)


def check_form_origin(request: Request) -> None:
    """``check_origin`` for the forms posted without a session (sign-in, sign-in link), which
    have no form token to fall back on: a POST with neither ``Origin`` nor ``Sec-Fetch-Site``
    is refused too (403), as browsers always send ``Origin`` on a form POST."""
    check_origin(request)
    if "origin" not in request.headers and "sec-fetch-site" not in request.headers:
        raise Denied(403, NO_ORIGIN)


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse (403) a state-changing request another site could have made."""
    check_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Denied(
            403, "This form has expired or did not come from this dashboard: reload the page."
        )


TWO_FACTOR_SETUP = "/admin/account/two-factor"
MUST_SET_UP = "Admins must set up two-factor sign-in before anything else: see Your account."


class Gate:
    """The dependency ``require(permission)`` returns."""

    def __init__(self, permission: Permission, *, setting_up: bool = False) -> None:
        self.permission, self.setting_up = permission, setting_up

    async def __call__(self, request: Request) -> Staffer:
        staffer = await current(request)
        request.state.staffer = staffer  # the refusal pages show the layout of whoever it is
        if staffer is None:
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                location = f"{SIGN_IN}?next={quote(target, safe='')}"
                raise Denied(303, "Please sign in.", location)
            raise Denied(401, "Your session has ended: sign in again.")
        if request.method in UNSAFE:
            await check_csrf(request, staffer.csrf_token)
        if not staffer.can(self.permission):
            raise Denied(
                403,
                f"Your role ({staffer.role}) cannot do this: it needs the "
                f"{self.permission.replace('_', ' ')} permission. Ask an admin.",
            )
        if (
            not self.setting_up
            and staffer.role == Role.admin
            and not staffer.two_factor
            and web_state(request).settings.totp_required_for_admins
        ):
            if request.method in ("GET", "HEAD"):
                raise Denied(303, MUST_SET_UP, TWO_FACTOR_SETUP)
            raise Denied(403, MUST_SET_UP)
        return staffer


def require(permission: Permission, *, setting_up: bool = False) -> Gate:
    """The gate of a route needing ``permission``; ``setting_up``: one of the pages an admin
    may open before setting up a required two-factor sign-in."""
    return Gate(permission, setting_up=setting_up)


Reader = Annotated[Staffer, Depends(require(Permission.read))]
Editor = Annotated[Staffer, Depends(require(Permission.edit))]
Publisher = Annotated[Staffer, Depends(require(Permission.publish))]
