"""``create_app(settings, engine, transport)``: the FastAPI app and what its routes share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import jinja2
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter.builder import org_context
from newsletter.config import Settings
from newsletter.confirmation import Confirmations
from newsletter.tokens import Tokens
from newsletter.transports.base import Transport
from newsletter.web.ratelimit import RateLimit

PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("newsletter.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class Web:
    """Everything the routes need; built once per app."""

    settings: Settings
    engine: sa.Engine
    tokens: Tokens
    confirmations: Confirmations
    limit: RateLimit
    signup_slots: anyio.CapacityLimiter | None = None
    org: dict[str, str] = field(default_factory=dict)

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = PAGES.get_template(template).render(org=self.org, **context)
        return HTMLResponse(html, status_code=status)

    def message(
        self, title: str, *paragraphs: str, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        context = {"link": None, "form": None, **extra}
        return self.page("message.html", status, title=title, paragraphs=paragraphs, **context)

    def url(self, path: str) -> str:
        return f"{self.settings.base_url}{path}"


def web(request: Request) -> Web:
    found: Web = request.app.state.web
    return found


def create_app(settings: Settings, engine: sa.Engine, transport: Transport) -> FastAPI:
    """The web app. Refuses to start (ConfigError) without a ``secret_key``."""
    from newsletter.web import archive, pages, webhooks

    tokens = Tokens.from_settings(settings)
    state = Web(
        settings=settings,
        engine=engine,
        tokens=tokens,
        confirmations=Confirmations(settings, transport, tokens),
        limit=RateLimit(settings.signup_rate_limit),
        org=org_context(settings),
    )
    state.confirmations.compiled()  # a broken confirm template stops the start, not a signup
    # SQLite takes one writer at a time; threads that queue inside it sleep and retry, and
    # Python threads doing short I/O wait on the GIL. Signups run one at a time on SQLite and
    # a few at a time on PostgreSQL, which measured faster than a free-for-all (bench/signup.py).
    state.signup_slots = anyio.CapacityLimiter(1 if engine.dialect.name == "sqlite" else 8)
    app = FastAPI(title="newsletter", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state
    app.state.event_hook = webhooks.setup(settings, engine)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["POST"],
            allow_headers=["Content-Type"],
            max_age=3600,
        )
    app.include_router(pages.router)
    app.include_router(archive.router)
    app.include_router(webhooks.router)

    @app.exception_handler(sa.exc.OperationalError)
    def database_down(request: Request, exc: sa.exc.OperationalError) -> Response:
        text = "The service is briefly unavailable. Please try again in a minute."
        if request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"detail": text}, status_code=503, headers={"Retry-After": "60"})
        response = state.message("Please try again in a minute", text, status=503)
        response.headers["Retry-After"] = "60"
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app
