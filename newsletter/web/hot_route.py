"""One route answered before routing: the public site's hot path (``POST /subscribe``).

Every form signup would otherwise pass, after the middleware, through FastAPI's exception
middleware, its exit-stack middleware, the router's match over every route, the included
router's match, the route's request handler and its dependency resolution: about a tenth of
the web process's CPU per signup (330 -> 290 us measured without them; bench/signup.py,
docs/scaling.md). ``HotRoute`` sits inside every middleware of the app (the Edge's body
limits, client address and security headers; CORS when configured) and hands that one method
and path straight to its endpoint, an ``async (Request) -> Response`` function, as a Starlette
route would.

What a route gets from the layers it skips, it gets here the same way: an exception the endpoint
raises is answered by the app's own exception handler for it (``web/errors.py``; by status code,
then by class, as Starlette looks them up), and one with no handler goes on up to the Edge,
which answers 500; the request's form (and any uploaded file in it) is closed after the answer.
The route stays registered with the router too, so the app's routes still list it (an
``Allow`` header, the route walk of the tests).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class HotRoute:
    """``app.add_middleware(HotRoute, method="POST", path="/subscribe", endpoint=...)``, added
    before the other middleware so that it is the innermost."""

    def __init__(self, app: ASGIApp, *, method: str, path: str, endpoint: Endpoint) -> None:
        self.app, self.method, self.path, self.endpoint = app, method, path, endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            try:
                response = await self.endpoint(request)
            except Exception as exc:
                handler = _handler(scope, exc)
                if handler is None:
                    raise
                response = handler(request, exc)
                if inspect.isawaitable(response):
                    response = await response
            await response(scope, receive, send)
        finally:
            await request.close()  # the form's files, if a multipart body had any


def _handler(scope: Scope, exc: Exception) -> Callable[[Request, Exception], Any] | None:
    """The app's handler for ``exc``: for an HTTPException its status code's first, then the
    nearest class in the exception's MRO (Starlette's ``ExceptionMiddleware`` order)."""
    handlers: dict[Any, Any] = scope["app"].exception_handlers
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]  # type: ignore[no-any-return]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]  # type: ignore[no-any-return]
    return None
