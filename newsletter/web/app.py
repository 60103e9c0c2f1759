"""``create_app(settings, engine, transport)``: the FastAPI app, its routers and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from newsletter.config import Settings
from newsletter.email_jobs import queue
from newsletter.email_jobs.worker import EmailWorker
from newsletter.issues.build import org_context
from newsletter.subscribers.confirmation import Confirmations
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.base import Transport
from newsletter.web import admin, archive, errors, pages, proofs, webhooks
from newsletter.web.admin.subscriber_import import IMPORT, MAX_UPLOAD
from newsletter.web.background import DueSender
from newsletter.web.deps import SUBSCRIBE, Web
from newsletter.web.edge import Edge
from newsletter.web.hot_route import HotRoute
from newsletter.web.proxies import Proxies
from newsletter.web.ratelimit import Counters, RateLimit
from newsletter.web.signup_writer import SignupWriter

Parts = Literal["all", "public", "admin"]


def create_app(
    settings: Settings, engine: sa.Engine, transport: Transport, *, parts: Parts = "all"
) -> FastAPI:
    """The web app. Refuses to start (ConfigError) without a ``secret_key``. ``parts``: the
    public pages and the staff area (``all``), or only one of them (``serve --public-only``,
    ``--admin-only``: the staff area on an internal address only)."""
    tokens = Tokens.from_settings(settings)
    counters = Counters.from_settings(settings)  # every limit's store: memory or Redis
    state = Web(
        settings=settings,
        engine=engine,
        tokens=tokens,
        confirmations=Confirmations(settings, tokens),
        limit=RateLimit(settings.signup_rate_limit, counters=counters, name="signup"),
        org=org_context(settings),
    )
    state.confirmations.compiled()  # a broken confirm template stops the start, not a signup
    # Signups are written in batches (group commit, web/signup_writer.py): one writer on SQLite,
    # which takes one writer at a time; a few on PostgreSQL (bench/signup.py).
    state.signups = SignupWriter(
        engine, queue.ask, queue.ask_new, writers=1 if engine.dialect.name == "sqlite" else 4
    )
    # the in-server scheduler: where the staff area is (a --public-only process has no Send now)
    due_sender = DueSender(
        settings, engine, transport, enabled=settings.scheduler_in_server and parts != "public"
    )

    # the email worker: confirmations and staff links queued here go out at once, others'
    # within email_job_interval; `newsletter worker` elsewhere may run beside it
    email_worker = EmailWorker(settings, engine, transport, enabled=settings.email_worker_in_server)
    state.email_worker = email_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        due_sender.start()
        email_worker.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(email_worker.stop)
            await anyio.to_thread.run_sync(due_sender.stop)
            counters.close()

    # no trailing-slash redirects: Starlette builds their Location from the Host header
    app = FastAPI(
        title="newsletter",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.web = state
    app.state.rate_limit_counters = counters
    app.state.due_sender = due_sender
    app.state.email_worker = email_worker
    app.state.transport = transport  # proofs from the dashboard
    app.state.event_hook = webhooks.setup(settings, engine)
    if parts != "admin":  # added first: inside every other middleware (web/hot_route.py)
        app.add_middleware(HotRoute, method="POST", path=SUBSCRIBE, endpoint=pages.subscribe)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["POST"],
            allow_headers=["Content-Type"],
            max_age=3600,
        )
    if parts != "admin":
        app.include_router(pages.router)
        app.include_router(archive.router)
        app.include_router(proofs.router)
        app.include_router(webhooks.router)
    errors.install(app)
    if parts != "public":
        admin.install(app)
    app.add_middleware(  # added last: the outermost, so it sees every request and answer
        Edge,
        proxies=Proxies(settings.trusted_proxies),
        base_url=settings.base_url,
        limits={webhooks.PATH: webhooks.MAX_BODY, IMPORT: MAX_UPLOAD},
    )

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app
