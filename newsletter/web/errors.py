"""Errors, translated in one place: each core error, and each HTTP error of the public site, to a
page for a browser or JSON for a script, with the right status. Routes raise; they never catch."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from newsletter.errors import InvalidAddress, TokenError
from newsletter.web.deps import wants_json, web_state
from newsletter.web.edge import shorten
from newsletter.web.pages import form_page

log = logging.getLogger("newsletter.web")
RETRY = {"Retry-After": "60"}
TITLES = {404: "Page not found", 405: "Not allowed here", 413: "Too large"}
TEXTS = {
    404: "There is nothing at this address.",
    405: "This address does not take that kind of request.",
}
MESSAGE_MAX = 300


def bad_link(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenError)
    w = web_state(request)
    advice = (
        "You can sign up again to get a new link."
        if exc.expired
        else "Check that you copied the whole link from the email. To stop the newsletter, "
        "use the unsubscribe link of the latest issue, or reply to it."
    )
    link = {"url": w.url("/subscribe"), "label": "Go to the signup page"}
    if wants_json(request):
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return w.message("This link does not work", f"Sorry: {exc}.", advice, status=400, link=link)


def invalid_address(request: Request, exc: Exception) -> Response:
    """422: the field named, and for a form the form again with what was typed."""
    assert isinstance(exc, InvalidAddress)
    typed: dict[str, str] = getattr(request.state, "form", {})
    message = _unechoed(str(exc), typed.get("email", ""))
    if wants_json(request):
        detail = [{"loc": ["body", exc.field], "msg": message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return form_page(web_state(request), 422, **typed, error=message)


def _unechoed(message: str, typed: str) -> str:
    """The message with what was typed cut to a short prefix: an error never echoes the input
    whole (a hostile page, a huge body)."""
    typed = typed.strip()
    if len(typed) > 60:
        for form in (typed, repr(typed)[1:-1]):
            message = message.replace(form, shorten(form))
    return shorten(message, MESSAGE_MAX)


def database_down(request: Request, exc: Exception) -> Response:
    """Any database error (unreachable, locked, read-only, ...): 503 and one line in the log;
    the person is told to come back, never shown the database's words."""
    log.error("database error on %s %s: %s", request.method, request.url.path, _first_line(exc))
    text = "The service is briefly unavailable. Please try again in a minute."
    return web_state(request).answer(
        request, "Please try again in a minute", text, status=503, headers=RETRY
    )


def _first_line(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}"


def http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and the rest as a page on the public site (JSON for scripts), headers kept."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    text = TEXTS.get(status, str(exc.detail))
    link = {"url": web_state(request).url("/subscribe"), "label": "Go to the signup page"}
    return web_state(request).answer(
        request,
        TITLES.get(status, "Something went wrong"),
        text,
        status=status,
        headers=dict(exc.headers or {}),
        link=link,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TokenError, bad_link)
    app.add_exception_handler(InvalidAddress, invalid_address)
    app.add_exception_handler(sa.exc.DBAPIError, database_down)
    app.add_exception_handler(HTTPException, http_error)
