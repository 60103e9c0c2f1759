"""``newsletter serve``: the web app under uvicorn, with the configured database and transport.

One process by default. ``workers > 1`` runs that many uvicorn worker processes on one socket
(PostgreSQL only: SQLite takes one writer at a time, and its file would be shared by processes
that each think they own it). uvicorn starts each worker as a new Python process, so a worker
cannot be handed the app: it imports ``app_from_environment`` (``FACTORY``) and builds its own
from the same environment and settings file, the parts (public, admin, all) passed in
``PARTS_ENV``. The schema is brought up to date once, by the parent, before any worker starts.
"""

from __future__ import annotations

import gc
import os
from typing import get_args

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from newsletter import db
from newsletter.config import Settings, get_settings
from newsletter.errors import ConfigError
from newsletter.transports.factory import make_transport
from newsletter.web.app import Parts, create_app

FACTORY = "newsletter.web.server:app_from_environment"
PARTS_ENV = "_NEWSLETTER_SERVE_PARTS"  # set by serve for its workers, read by FACTORY


def uvicorn_config(
    app: FastAPI | str, *, host: str, port: int, log_level: str = "info", workers: int = 1
) -> uvicorn.Config:
    """How the app is served. uvicorn's own proxy-header handling is off (it trusts
    ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default): the ``trusted_proxies`` setting alone
    decides whose ``X-Forwarded-For`` is believed (``web/proxies.py``). ``app`` is the app, or
    ``FACTORY`` for several workers."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level=log_level,
        workers=workers,
        factory=isinstance(app, str),
    )


def check_workers(engine: sa.Engine, workers: int) -> None:
    """Refuse what cannot work: fewer than one worker, or several on SQLite."""
    if workers < 1:
        raise ConfigError("--workers must be 1 or more")
    if workers > 1 and engine.dialect.name == "sqlite":
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL (database_url): SQLite takes one writer "
            "at a time; serve it with one process (the default)"
        )


def serve(
    settings: Settings, *, host: str, port: int, parts: Parts = "all", workers: int = 1
) -> None:
    """Run until interrupted; ``parts``: the public pages, the staff area, or both;
    ``workers``: how many processes (several on PostgreSQL only)."""
    engine = db.make_engine(settings.database_url)  # a bad URL: one line, nothing opened
    try:
        check_workers(engine, workers)
        db.ensure_schema(engine)
        # built here even for workers: what would stop each worker (no secret_key, a broken
        # template, an unusable rate_limit_storage_url) stops the start in one line instead
        app = create_app(settings, engine, make_transport(settings), parts=parts)
        if workers == 1:
            settled()
            uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
            return
    finally:
        engine.dispose()
    os.environ[PARTS_ENV] = parts  # the workers inherit the environment
    config = uvicorn_config(FACTORY, host=host, port=port, workers=workers)
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def app_from_environment() -> FastAPI:
    """One worker's app: the settings, database and transport as ``serve`` found them."""
    settings = get_settings()
    found = os.environ.get(PARTS_ENV, "all")
    parts: Parts = found if found in get_args(Parts) else "all"  # type: ignore[assignment]
    engine = db.make_engine(settings.database_url)
    app = create_app(settings, engine, make_transport(settings), parts=parts)
    settled()
    return app


def settled() -> None:
    """Everything made so far (the libraries, the app, its routes and templates) lives as long
    as the process: out of the garbage collector's sight (``gc.freeze``, what Python's docs
    advise for a long-running server), so that each collection while serving looks only at
    what requests made, not at the hundreds of thousands of objects the imports made."""
    gc.collect()
    gc.freeze()
