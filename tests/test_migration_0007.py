"""Migration 0007 on a database that has lived under 0006: send.transport is added, and sends
made before it say "unknown" (nobody recorded what carried them). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from newsletter import db
from newsletter.models import UTCDateTime, send_table
from tests.conftest import run_cli

old_send = sa.table(
    "send",
    sa.column("id", sa.Integer()),
    *(sa.column(c, sa.String()) for c in ("issue_slug", "kind", "live_slug", "status")),
    *(sa.column(c, sa.String()) for c in ("content_hash", "subject", "html", "text")),
    *(sa.column(c, sa.Integer()) for c in ("audience", "opens", "machine_opens", "clicks")),
    sa.column("last_error", sa.String()),
    sa.column("started_at", UTCDateTime()),
)


def test_sends_made_before_0007_say_unknown_and_new_ones_their_transport(project, database_url):
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0006")
    with engine.begin() as c:
        c.execute(
            old_send.insert().values(
                issue_slug="2016-q2", kind="live", live_slug="2016-q2", status="finished",
                content_hash="h", subject="s", html="h", text="t", audience=0, opens=0,
                machine_opens=0, clicks=0, last_error="", started_at=datetime(2024, 1, 1, tzinfo=UTC),
            )
        )  # fmt: skip
    db.upgrade(engine, "0007")
    assert db.current_revision(engine) == "0007"
    with engine.connect() as c:
        assert c.execute(sa.select(send_table.c.transport)).scalars().all() == ["unknown"]
    code, out, err = run_cli("report", "2016-q2", "--format", "json")
    assert code == 0, err
    assert '"transport": "unknown"' in out
    code, out, err = run_cli("report", "2016-q2")
    assert code == 0 and "transport" in out and "unknown" in out

    with engine.begin() as connection:  # and down again: the column goes, the send stays
        config = Config()
        config.set_main_option("script_location", str(db.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("send")}
    assert "transport" not in columns
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(old_send)).scalar_one() == 1
    engine.dispose()
