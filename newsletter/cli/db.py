"""``newsletter db ...``: the database schema."""

from __future__ import annotations

import typer

from newsletter.cli.console import Group, out, reports_errors, shown

db_app = typer.Typer(help="Database schema.", no_args_is_help=True, cls=Group)


@db_app.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Create the database or migrate it to the newest schema."""
    from newsletter import db
    from newsletter.config import get_settings

    settings = get_settings()
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        out.print(f"database at revision {shown(db.current_revision(engine))}")
    finally:
        engine.dispose()
