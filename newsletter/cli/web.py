"""``newsletter serve``: the public web app."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.console import err, reports_errors, shown
from newsletter.config import get_settings

web_app = typer.Typer()


@web_app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app: signup, confirm, unsubscribe, archive (needs NEWSLETTER_SECRET_KEY)."""
    from newsletter.web.server import serve as serving  # FastAPI and uvicorn only when serving
    from newsletter.web.webhooks import startup_warning

    settings = get_settings()
    if warning := startup_warning(settings):
        err.print(f"warning: {shown(warning)}")
    serving(settings, host=host, port=port)
