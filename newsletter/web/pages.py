"""Signup, confirm, unsubscribe and resubscribe pages. Every page works without JavaScript.

A signup from the form is answered with a redirect to ``/subscribe/thanks`` (Post/Redirect/Get):
reloading the thanks page sends nothing again. JSON clients get their answer directly.

Routes raise the core's errors (a bad address, a tampered link); ``web/errors.py`` turns them
into pages or JSON. A signup sends nothing itself: its confirmation email is a job the email
worker delivers (``email_jobs/``), so a slow or unavailable provider never slows or fails it.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from newsletter.db import session_scope
from newsletter.email_jobs import queue
from newsletter.errors import InvalidAddress
from newsletter.models import utcnow
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.signup_batch import Wanted
from newsletter.web.deps import STYLESHEET, SUBSCRIBE, Web, WebState, wants_json, web_state
from newsletter.web.edge import shorten

router = APIRouter()
HONEYPOT = "website"
EMAIL_MAX = 254  # RFC 5321: the longest address that fits in a path
NAME_MAX = 200  # the columns' lengths (models.py)
STYLE = "\n".join(
    (files("newsletter.web") / "templates" / name).read_text(encoding="utf-8")
    for name in ("site.css", "header.css")
)  # the pages' CSS; header.css is also inlined above an archived email (web/archive.py)
THANKS_PATH = "/subscribe/thanks"
THANKS = (
    "Almost done: we have sent you an email. Click the link in it to confirm your "
    "subscription. If it does not arrive within a few minutes, look in your spam folder."
)


def form_page(w: Web, status: int = 200, **values: str) -> HTMLResponse:
    return w.page(
        "subscribe.html",
        status,
        title="Subscribe",
        action=w.url("/subscribe"),
        archive_url=w.url("/archive"),
        consent_text=w.settings.consent_text,
        privacy_url=w.settings.privacy_url,
        email=values.get("email", ""),
        name=values.get("name", ""),
        error=values.get("error", ""),
    )


# answered before routing by web/hot_route.py (the app's one hot path); registered all the same
@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    """Form or JSON. The answer is the same whatever the address's status (no enumeration).
    A plain ``(Request) -> Response`` endpoint: ``HotRoute`` calls it without FastAPI's
    dependency resolution, so the web state is read from the app."""
    w = web_state(request)
    client = request.client.host if request.client else "unknown"
    wait = w.limit.hit(client)
    if wait:
        text = f"Too many signups from your network. Please try again in {wait} seconds."
        return w.answer(
            request, "Please wait a moment", text, status=429, headers={"Retry-After": str(wait)}
        )
    data = await _signup_data(request)
    # what was typed, cut to the fields' lengths: web/errors.py shows the form again with it
    request.state.form = {
        "email": shorten(_text(data, "email"), EMAIL_MAX),
        "name": shorten(_text(data, "name"), NAME_MAX),
    }
    if _text(data, HONEYPOT):
        return _signed_up(request, w)
    typed_email, name = _typed(data)
    if w.settings.email_check_deliverability:  # it waits for DNS: off the event loop
        normalise = functools.partial(
            subscribers.normalise_email, typed_email, check_deliverability=True
        )
        email = await anyio.to_thread.run_sync(normalise)
    else:  # a few tens of microseconds of CPU: less than a hop to a thread and back
        email = subscribers.normalise_email(typed_email)
    assert w.signups is not None
    wanted = Wanted(email, name, _consent(w, request, client))
    w.queued(await w.signups.signup(wanted))  # written with the signups waiting beside it
    return _signed_up(request, w)


@router.get(STYLESHEET)
async def stylesheet() -> Response:
    """The pages' one stylesheet (the Content-Security-Policy allows no inline style)."""
    return Response(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/", response_class=HTMLResponse)
@router.get(SUBSCRIBE, response_class=HTMLResponse)
def subscribe_form(w: WebState) -> HTMLResponse:
    """The signup form; also the site's home page (it links to the past issues)."""
    return form_page(w)


@router.get(THANKS_PATH, response_class=HTMLResponse)
def thanks(w: WebState) -> HTMLResponse:
    """Where a signup from the form lands: the same page whatever the address's status."""
    link = {"url": w.url("/archive"), "label": "Read past issues"}
    return w.message("Check your inbox", THANKS, link=link)


def _signed_up(request: Request, w: Web) -> Response:
    """The answer to every accepted (or quietly dropped) signup: a 303 to the thanks page for
    a browser, so a refresh does not post again; ``{"status": "ok", ...}`` for JSON."""
    if wants_json(request):
        return w.answer(request, "Check your inbox", THANKS)
    return RedirectResponse(w.url(THANKS_PATH), status_code=303)


async def _signup_data(request: Request) -> dict[str, Any]:
    """The form's or JSON body's fields; a JSON body that is not an object is InvalidAddress.
    The body is at most a few KB (``web/edge.py``); nesting too deep for the parser is refused
    like any other bad JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise InvalidAddress("the body must be a JSON object with an email field", field="body")
        return data
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _typed(data: dict[str, Any]) -> tuple[str, str]:
    """The address and name as sent, refused when longer than they may be (cheap, before the
    address is validated): RFC 5321's 254 characters, and the name column's 200."""
    email, name = _text(data, "email"), _text(data, "name")
    if len(email.strip()) > EMAIL_MAX:
        raise InvalidAddress(
            f"{shorten(email.strip())!r} is too long for an email address "
            f"(at most {EMAIL_MAX} characters)."
        )
    if len(name) > NAME_MAX:
        raise InvalidAddress(f"The name is too long (at most {NAME_MAX} characters).", field="name")
    return email, name


def _consent(w: Web, request: Request, client: str) -> subscribers.ConsentInfo:
    """Where the form was (Referer, else Origin, else our page), who sent it, which text. The
    store cuts each to its column. ``Origin: null`` (a sandboxed or privacy-minded page) says
    nothing about where the form was."""
    origin = request.headers.get("origin", "")
    source = request.headers.get("referer") or (origin if origin != "null" else "")
    return subscribers.ConsentInfo(
        source=source or w.url("/subscribe"),
        ip=client,
        user_agent=request.headers.get("user-agent", ""),
        text_version=w.settings.consent_version,
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(w: WebState, token: str) -> HTMLResponse:
    key, issued = w.tokens.read_confirm(token)
    with session_scope(w.engine) as session:
        subscribers.confirm(session, key, issued, utcnow())
    return w.message(
        "You are subscribed",
        f"Thank you: your subscription to {w.settings.organisation_name}'s newsletter is "
        "confirmed. Every issue has a link to unsubscribe with one click.",
        link={"url": w.url("/archive"), "label": "Read past issues"},
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(w: WebState, token: str) -> HTMLResponse:
    """A page with a button: link scanners follow GETs, so a GET changes nothing. It names the
    address, masked, so a person with two addresses knows which one leaves."""
    key = w.tokens.read_unsubscribe(token)
    with Session(w.engine) as session:
        address = masked(subscribers.by_key(session, key).email)
    form = {
        "action": w.url(f"/unsubscribe/{token}"),
        "fields": {"List-Unsubscribe": "One-Click"},
        "button": "Unsubscribe",
        "secondary": False,
    }
    text = f"Press the button to stop sending the newsletter to {address}."
    return w.message("Unsubscribe", text, form=form)


def masked(email: str) -> str:
    """``a•••@example.org``: enough for its owner to recognise, little for anyone else."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}•••@{domain}"


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(w: WebState, token: str) -> HTMLResponse:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) and the page's button: 200."""
    key = w.tokens.read_unsubscribe(token)
    with session_scope(w.engine) as session:
        reason = "unsubscribed (one-click or web page)"
        address = masked(subscribers.unsubscribe(session, key, reason, utcnow()).email)
    form = {
        "action": w.url(f"/resubscribe/{token}"),
        "fields": {},
        "button": "Subscribe again",
        "secondary": True,
    }
    return w.message(
        "You are unsubscribed",
        f"The newsletter will not be sent to {address} any more. Changed your mind?",
        form=form,
    )


@router.post("/resubscribe/{token}", response_class=HTMLResponse)
def resubscribe(request: Request, w: WebState, token: str) -> Response:
    key = w.tokens.read_unsubscribe(token)
    with session_scope(w.engine) as session:
        subscriber, outcome = subscribers.resubscribe(session, key, utcnow())
    if outcome is subscribers.Resubscribed.confirmed:
        return w.message("Welcome back", "You are subscribed to the newsletter again.")
    client = request.client.host if request.client else "unknown"
    # a fresh double opt-in, at most one email an hour, like any signup
    consent = _consent(w, request, client)
    w.queued(subscribers.signup(w.engine, subscriber.email, "", consent, queue.ask))
    return w.message("Check your inbox", THANKS)
