"""``newsletter serve``: the web app under uvicorn, with the configured database and transport."""

from __future__ import annotations

import uvicorn

from newsletter import db
from newsletter.config import Settings
from newsletter.transports.factory import make_transport
from newsletter.web.app import create_app


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run until interrupted. ``X-Forwarded-For`` is trusted from FORWARDED_ALLOW_IPS only."""
    engine = db.make_engine(settings.database_url)
    try:
        db.ensure_schema(engine)
        app = create_app(settings, engine, make_transport(settings))
        uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
    finally:
        engine.dispose()
