"""``newsletter serve`` as it runs, for tests: uvicorn on a free loopback port, with the app's
lifespan (the in-server scheduler) on, or off for the public pages' tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import uvicorn

from newsletter.config import Settings
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from newsletter.web.server import uvicorn_config


@contextmanager
def serving(
    settings_for: Callable[[str], Settings], engine: sa.Engine, *, lifespan: bool = True
) -> Iterator[tuple[str, Settings]]:
    """Yields (base URL, the app's settings); ``settings_for(base)`` builds the settings once
    the port is known, so ``base_url`` (links, the CSRF origin) is this very server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for(base)
    app = create_app(settings, engine, OutboxTransport(settings.outbox_dir))
    config = uvicorn_config(app, host="127.0.0.1", port=0, log_level="warning")
    config.lifespan = "on" if lifespan else "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base, settings
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"
    assert not [t for t in threading.enumerate() if t.name == "send-due"], "scheduler left"
    assert not [t for t in threading.enumerate() if t.name == "email-worker"], "worker left"
