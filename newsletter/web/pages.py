"""Signup, confirm, unsubscribe and resubscribe pages. Every page works without JavaScript."""

from __future__ import annotations

import functools
import json
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter import subscribers
from newsletter.db import session_scope
from newsletter.errors import ConfirmationNotSent, InvalidAddress, TokenError
from newsletter.models import utcnow
from newsletter.web.app import Web, web

router = APIRouter()
HONEYPOT = "website"
THANKS = (
    "Almost done: we have sent you an email. Click the link in it to confirm your "
    "subscription. If it does not arrive within a few minutes, look in your spam folder."
)


def _form_page(w: Web, status: int = 200, **values: str) -> HTMLResponse:
    return w.page(
        "subscribe.html",
        status,
        title="Subscribe",
        action=w.url("/subscribe"),
        archive_url=w.url("/archive"),
        consent_text=w.settings.consent_text,
        email=values.get("email", ""),
        name=values.get("name", ""),
        error=values.get("error", ""),
    )


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    return _form_page(web(request))


async def _signup_data(request: Request) -> tuple[dict[str, Any], bool]:
    """(fields, wants_json); a JSON body that is not an object is an InvalidAddress."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise InvalidAddress("the body must be a JSON object with an email field", field="body")
        return data, True
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}, False


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _invalid(w: Web, exc: InvalidAddress, wants_json: bool, data: dict[str, Any]) -> Response:
    if wants_json:
        detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return _form_page(w, 422, email=_text(data, "email"), name=_text(data, "name"), error=str(exc))


def _thanks(w: Web, wants_json: bool) -> Response:
    if wants_json:
        return JSONResponse({"status": "ok", "message": THANKS})
    return w.message("Check your inbox", THANKS)


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    """Form or JSON. The answer is the same whatever the address's status (no enumeration)."""
    w = web(request)
    client = request.client.host if request.client else "unknown"
    wants_json = request.headers.get("content-type", "").startswith("application/json")
    wait = w.limit.hit(client)
    if wait:
        return _too_many(w, wait, wants_json)
    data: dict[str, Any] = {}
    try:
        data, wants_json = await _signup_data(request)
        if _text(data, HONEYPOT):
            return _thanks(w, wants_json)
        email = subscribers.normalise_email(
            _text(data, "email"), check_deliverability=w.settings.email_check_deliverability
        )
    except InvalidAddress as exc:
        return _invalid(w, exc, wants_json, data)
    consent = _consent(w, request, client)
    name = _text(data, "name")
    try:
        await anyio.to_thread.run_sync(
            functools.partial(
                subscribers.signup, w.engine, email, name, consent, w.confirmations.send
            ),
            limiter=w.signup_slots,
        )
    except ConfirmationNotSent:
        return _unavailable(w, wants_json)
    return _thanks(w, wants_json)


def _consent(w: Web, request: Request, client: str) -> subscribers.ConsentInfo:
    """Where the form was (Referer, else Origin, else our page), who sent it, which text."""
    return subscribers.ConsentInfo(
        source=request.headers.get("referer")
        or request.headers.get("origin")
        or w.url("/subscribe"),
        ip=client,
        user_agent=request.headers.get("user-agent", ""),
        text_version=w.settings.consent_version,
    )


def _too_many(w: Web, wait: int, wants_json: bool) -> Response:
    headers = {"Retry-After": str(wait)}
    text = f"Too many signups from your network. Please try again in {wait} seconds."
    if wants_json:
        return JSONResponse({"detail": text}, status_code=429, headers=headers)
    response = w.message("Please wait a moment", text, status=429)
    response.headers.update(headers)
    return response


def _unavailable(w: Web, wants_json: bool) -> Response:
    text = "We could not send the confirmation email just now. Please try again later."
    if wants_json:
        return JSONResponse({"detail": text}, status_code=503, headers={"Retry-After": "60"})
    return w.message("Something went wrong on our side", text, status=503)


def _bad_link(w: Web, exc: TokenError) -> HTMLResponse:
    advice = (
        "You can sign up again to get a new link."
        if exc.expired
        else "Check that you copied the whole link from the email. To stop the newsletter, "
        "use the unsubscribe link of the latest issue, or reply to it."
    )
    link = {"url": w.url("/subscribe"), "label": "Go to the signup page"}
    return w.message("This link does not work", f"Sorry: {exc}.", advice, status=400, link=link)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> HTMLResponse:
    w = web(request)
    try:
        key, issued = w.tokens.read_confirm(token)
        with session_scope(w.engine) as session:
            subscribers.confirm(session, key, issued, utcnow())
    except TokenError as exc:
        return _bad_link(w, exc)
    return w.message(
        "You are subscribed",
        f"Thank you: your subscription to {w.settings.organisation_name}'s newsletter is "
        "confirmed. Every issue has a link to unsubscribe with one click.",
        link={"url": w.url("/archive"), "label": "Read past issues"},
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """A page with a button: link scanners follow GETs, so a GET changes nothing."""
    w = web(request)
    try:
        w.tokens.read_unsubscribe(token)
    except TokenError as exc:
        return _bad_link(w, exc)
    form = {
        "action": w.url(f"/unsubscribe/{token}"),
        "fields": {"List-Unsubscribe": "One-Click"},
        "button": "Unsubscribe",
        "secondary": False,
    }
    return w.message("Unsubscribe", "Press the button to stop receiving the newsletter.", form=form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) and the page's button: 200."""
    w = web(request)
    try:
        key = w.tokens.read_unsubscribe(token)
        with session_scope(w.engine) as session:
            subscribers.unsubscribe(session, key, "unsubscribed (one-click or web page)", utcnow())
    except TokenError as exc:
        return _bad_link(w, exc)
    form = {
        "action": w.url(f"/resubscribe/{token}"),
        "fields": {},
        "button": "Subscribe again",
        "secondary": True,
    }
    return w.message(
        "You are unsubscribed",
        "You will not receive the newsletter any more. Changed your mind?",
        form=form,
    )


@router.post("/resubscribe/{token}", response_class=HTMLResponse)
def resubscribe(request: Request, token: str) -> Response:
    w = web(request)
    try:
        key = w.tokens.read_unsubscribe(token)
        with session_scope(w.engine) as session:
            subscriber, outcome = subscribers.resubscribe(session, key, utcnow())
    except TokenError as exc:
        return _bad_link(w, exc)
    if outcome is subscribers.Resubscribed.confirmed:
        return w.message("Welcome back", "You are subscribed to the newsletter again.")
    client = request.client.host if request.client else "unknown"
    try:  # a fresh double opt-in, at most one email an hour, like any signup
        subscribers.signup(
            w.engine, subscriber.email, "", _consent(w, request, client), w.confirmations.send
        )
    except ConfirmationNotSent:
        return _unavailable(w, False)
    return w.message("Check your inbox", THANKS)
