"""``newsletter serve``: the web app (the public pages, the staff dashboard, or both)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.console import err, reports_errors, shown
from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.web.app import Parts

web_app = typer.Typer()


@web_app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    public_only: Annotated[
        bool,
        typer.Option(
            "--public-only",
            help="Serve only the public pages (signup, archive, webhooks): no /admin.",
        ),
    ] = False,
    admin_only: Annotated[
        bool,
        typer.Option(
            "--admin-only",
            help="Serve only the staff dashboard (/admin), say on an internal address.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(help="Web processes on one socket (PostgreSQL only; docs/scaling.md).", min=1),
    ] = 1,
) -> None:
    """Run the web app: signup, confirm, unsubscribe, archive, and the staff dashboard at
    /admin (needs NEWSLETTER_SECRET_KEY)."""
    from newsletter.config import get_settings
    from newsletter.web.server import serve as serving  # FastAPI and uvicorn only when serving
    from newsletter.web.webhooks import startup_warning

    if public_only and admin_only:
        raise ConfigError("--public-only and --admin-only exclude each other: choose one")
    parts: Parts = "public" if public_only else "admin" if admin_only else "all"
    settings = get_settings()
    if warning := startup_warning(settings):
        err.print(f"warning: {shown(warning)}")
    serving(settings, host=host, port=port, parts=parts, workers=workers)
