"""``newsletter db ...``: the database schema."""

from __future__ import annotations

import typer

from newsletter import db
from newsletter.cli.console import out, reports_errors, shown
from newsletter.config import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Create the database or migrate it to the newest schema."""
    settings = get_settings()
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        out.print(f"database at revision {shown(db.current_revision(engine))}")
    finally:
        engine.dispose()
