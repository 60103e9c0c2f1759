"""``newsletter serve``: the web app under uvicorn, with the configured database and transport."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from newsletter import db
from newsletter.config import Settings
from newsletter.transports.factory import make_transport
from newsletter.web.app import Parts, create_app


def uvicorn_config(
    app: FastAPI, *, host: str, port: int, log_level: str = "info"
) -> uvicorn.Config:
    """How the app is served. uvicorn's own proxy-header handling is off (it trusts
    ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default): the ``trusted_proxies`` setting alone
    decides whose ``X-Forwarded-For`` is believed (``web/proxies.py``)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level=log_level,
    )


def serve(settings: Settings, *, host: str, port: int, parts: Parts = "all") -> None:
    """Run until interrupted; ``parts``: the public pages, the staff area, or both."""
    engine = db.make_engine(settings.database_url)
    try:
        db.ensure_schema(engine)
        app = create_app(settings, engine, make_transport(settings), parts=parts)
        uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
    finally:
        engine.dispose()
