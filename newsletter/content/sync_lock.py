"""One sync of a source at a time, across processes: a lease on the source's ``source_state`` row.

The rule (docs/sources.md, "One sync of a source at a time"): before a source is synced, its row
is claimed with one conditional UPDATE (``sync_owner`` and ``sync_until`` set only where no claim
holds, or the one that holds has lapsed). Whoever changed the row syncs; anyone else (the
dashboard's Sync now, a cron ``newsletter content sync``) is told the source is being synced and
does nothing. The claim is released when the sync ends, failed or not; a process that crashed
leaves a claim that lapses after ``LEASE`` (longer than a source's download may take). A failed
sync's one-line error is kept in ``last_error`` until a sync of the source succeeds.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.models import SourceState, utcnow

MARGIN = timedelta(minutes=5)  # beyond the download's own limit: storing the posts


def lease(settings: Settings) -> timedelta:
    """How long a claim holds: a source's whole download, plus the time to store it."""
    return timedelta(seconds=settings.source_time_limit) + MARGIN


def owner_label(who: str) -> str:
    """Who holds a claim, as the refusal names them: ``who`` on this host and process."""
    return f"{who} ({socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000})"[:100]


def _table() -> sa.Table:
    table: sa.Table = SourceState.__table__  # type: ignore[attr-defined]
    return table


def claim(engine: sa.Engine, name: str, owner: str, until: datetime) -> str:
    """Claim the source ``name`` for ``owner`` until ``until``: '' when claimed, else who holds
    it (one line)."""
    table, now = _table(), utcnow()
    with engine.begin() as connection:
        exists = connection.execute(sa.select(table.c.name).where(table.c.name == name)).first()
        if exists is None:
            try:
                with connection.begin_nested():
                    connection.execute(sa.insert(table).values(name=name, config_hash=""))
                    # the other columns take their defaults
            except sa.exc.IntegrityError:
                pass  # another process made the row first: the UPDATE below decides
        taken = connection.execute(
            sa.update(table)
            .where(table.c.name == name)
            .where(sa.or_(table.c.sync_until.is_(None), table.c.sync_until < now))
            .values(sync_owner=owner, sync_started_at=now, sync_until=until)
        ).rowcount
        if taken == 1:
            return ""
        holder = connection.execute(
            sa.select(table.c.sync_owner, table.c.sync_started_at).where(table.c.name == name)
        ).first()
    by, since = (holder[0], holder[1]) if holder else ("another process", None)
    started = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
    return f"source {name!r}: a sync is already running ({by}{started}); try again when it ends"


def release(engine: sa.Engine, name: str, owner: str, error: str) -> None:
    """End ``owner``'s claim; keep ``error`` as the source's last error ('' clears it)."""
    table = _table()
    values: dict[str, object] = {"sync_owner": "", "sync_until": None}
    values.update(last_error=error[:2000], last_error_at=utcnow() if error else None)
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.name == name)
            .where(table.c.sync_owner == owner)
            .values(**values)
        )


def states(engine: sa.Engine) -> dict[str, SourceState]:
    """Every source's stored state, by name."""
    with Session(engine) as session:
        return {s.name: s for s in session.exec(select(SourceState))}
