"""The one ASGI middleware every request passes, outermost: what holds for every answer.

- **Who asks**: the client address and scheme, from ``X-Forwarded-For``/``-Proto`` only when a
  trusted proxy sent them (``web/proxies.py``); the rate limit and consent records read
  ``request.client`` and so get the right address.
- **HEAD** is answered wherever GET is: the app sees a GET, the body is dropped.
- **Body limits**: a declared ``Content-Length`` over the path's limit is refused (413) before
  a byte is read; a body without one is counted as it streams and refused as soon as it goes
  over. Routes that read the body see the 413 as an ``HTTPException`` (``web/errors.py``).
- **Security headers** on every answer, errors and 404/405 included: a strict
  Content-Security-Policy (a route may set its own, as the archive does for email HTML),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``X-Frame-Options: DENY``. A crash still gets them: the 500 is answered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.web.proxies import Proxies

KIB = 1024
FORM_BODY_LIMIT = 8 * KIB  # a signup or one-click body is a few hundred bytes; 254 + 200 chars
CSP = "Content-Security-Policy"
# The pages of the site (signup, confirm, unsubscribe, archive list, errors): no script at all,
# styles only from our own stylesheet, forms only to us, never framed.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self' {origin}; img-src 'self' {origin}; "
    "form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
)
# Pages that show email HTML (the archive): the email's inlined CSS and https images work,
# nothing can run, and the page is sandboxed (an opaque origin, even if something slipped by).
EMAIL_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "font-src https:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
# The staff area (/admin): script and style only from our own files, no inline script, frames
# only of our own (the sandboxed email preview), never framed, never cached.
ADMIN_PREFIX = "/admin"
ADMIN_BODY_LIMIT = 512 * KIB
ADMIN_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
ADMIN_HEADERS = {CSP: ADMIN_POLICY, "Cache-Control": "no-store"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # full URL to our own pages (the consent record's source), nothing to other sites:
    # confirm and unsubscribe links carry tokens
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


def shorten(text: str, limit: int = 60) -> str:
    """At most ``limit`` characters of what someone sent, for error messages."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def too_large(limit: int) -> HTTPException:
    size = f"{limit // KIB // KIB} MB" if limit >= KIB * KIB else f"{limit // KIB} KB"
    return HTTPException(413, f"The request is too large: at most {size}.")


class Edge:
    """``Edge(app, proxies=..., base_url=..., limits={path: bytes})``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        proxies: Proxies,
        base_url: str,
        limits: Mapping[str, int],
        default_limit: int = FORM_BODY_LIMIT,
    ) -> None:
        self.app = app
        self.proxies = proxies
        parts = urlsplit(base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        self.headers = {CSP: PAGE_POLICY.format(origin=origin), **SECURITY_HEADERS}
        # as the server writes them (lower-case names, latin-1), made once: added to every
        # answer that does not set its own
        self.raw = _raw(self.headers)
        self.raw_admin = _raw(self.headers | ADMIN_HEADERS)
        self.limits = dict(limits)
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        declared, forwarded, proto = _read(scope["headers"])
        if self.proxies.networks:  # none by default: the peer is the client
            self._who_asks(scope, forwarded, proto)
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
        admin = scope["path"] == ADMIN_PREFIX or scope["path"].startswith(ADMIN_PREFIX + "/")
        fallback = ADMIN_BODY_LIMIT if admin else self.default_limit
        limit = self.limits.get(scope["path"], fallback)
        over = declared.isdigit() and int(declared) > limit
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            if over:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                given = list(message.get("headers", []))
                present = {name.lower() for name, _ in given}
                wanted = self.raw_admin if admin else self.raw
                message["headers"] = given + [h for h in wanted if h[0] not in present]
            elif message["type"] == "http.response.body" and head:
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(scope, limited, answer)
        except Exception:
            if not started:  # a crash: still a 500 with the headers (the server logs it)
                text = "Something went wrong on our side. Please try again later."
                await PlainTextResponse(text, status_code=500)(scope, receive, answer)
            raise

    def _who_asks(self, scope: Scope, forwarded: str, proto: str) -> None:
        """The scope's client and scheme, as a trusted proxy forwarded them."""
        client = scope.get("client")
        peer = client[0] if client else ""
        address = self.proxies.client(peer, forwarded)
        if address != peer:
            scope["client"] = (address, 0)
        scope["scheme"] = self.proxies.scheme(peer, proto, scope.get("scheme", "http"))


def _read(headers: list[tuple[bytes, bytes]]) -> tuple[str, str, str]:
    """(Content-Length, every X-Forwarded-For joined, the first X-Forwarded-Proto), "" for
    those absent, in one pass over the request's headers (names are lower case in ASGI)."""
    declared, proto = "", ""
    forwarded: list[str] = []
    for name, value in headers:
        if name == b"content-length":
            declared = declared or value.decode("latin-1")
        elif name == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            proto = proto or value.decode("latin-1")
    return declared, ",".join(forwarded), proto
