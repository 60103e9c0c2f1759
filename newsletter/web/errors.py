"""Errors, translated in one place: each core error, and each HTTP error of the public site, to a
page for a browser or JSON for a script, with the right status. Routes raise; they never catch."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from newsletter.errors import ConfirmationNotSent, InvalidAddress, TokenError
from newsletter.web.deps import wants_json, web_state
from newsletter.web.pages import form_page

RETRY = {"Retry-After": "60"}
TITLES = {404: "Page not found", 405: "Not allowed here"}
TEXTS = {
    404: "There is nothing at this address.",
    405: "This address does not take that kind of request.",
}


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
    if wants_json(request):
        detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    typed: dict[str, str] = getattr(request.state, "form", {})
    return form_page(web_state(request), 422, **typed, error=str(exc))


def confirmation_not_sent(request: Request, exc: Exception) -> Response:
    text = "We could not send the confirmation email just now. Please try again later."
    return web_state(request).answer(
        request, "Something went wrong on our side", text, status=503, headers=RETRY
    )


def database_down(request: Request, exc: Exception) -> Response:
    text = "The service is briefly unavailable. Please try again in a minute."
    return web_state(request).answer(
        request, "Please try again in a minute", text, status=503, headers=RETRY
    )


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
    app.add_exception_handler(ConfirmationNotSent, confirmation_not_sent)
    app.add_exception_handler(sa.exc.OperationalError, database_down)
    app.add_exception_handler(HTTPException, http_error)
