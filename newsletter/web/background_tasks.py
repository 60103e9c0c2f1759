"""Long jobs of the web app (a CSV import, a source's Sync now) as rows of ``background_task``:
a thread of one web process runs the job and writes its progress and outcome there; the page's
poll, which may reach any web process (``serve --workers N``, several hosts), reads it there.

``begin`` claims (kind, name) with one conditional UPDATE, else an INSERT that the primary key
lets only one process make: two clicks, in one process or two, never start one job twice. A
process that dies leaves its row ``running``; past ``until`` (renewed by ``progress``) the row
counts as lost, is shown as interrupted, and the job may be started again. Finished rows are
deleted after ``KEEP``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.models import BackgroundTask, utcnow

RUNNING, DONE, FAILED = "running", "done", "failed"
KEEP = timedelta(days=7)  # how long a finished task's outcome stays to be shown
TABLE: sa.Table = BackgroundTask.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Task:
    kind: str
    name: str
    state: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    until: datetime
    done: int = 0
    total: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def lost(self) -> bool:
        """Running, says the row, but its process stopped renewing it: it died."""
        return self.state == RUNNING and self.until < utcnow()

    @property
    def running(self) -> bool:
        return self.state == RUNNING and not self.lost


def here() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _task(row: sa.Row[Any]) -> Task:
    data = row._mapping
    try:
        result = json.loads(data["result"] or "{}")
    except ValueError:
        result = {}
    return Task(
        kind=data["kind"],
        name=data["name"],
        state=data["state"],
        started_by=data["started_by"],
        started_at=data["started_at"],
        finished_at=data["finished_at"],
        until=data["until"],
        done=data["done"],
        total=data["total"],
        result=result if isinstance(result, dict) else {},
        error=data["error"],
    )


def _key(kind: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(TABLE.c.kind == kind, TABLE.c.name == name)


def begin(
    engine: sa.Engine, kind: str, name: str, by: str, *, lease: timedelta, total: int = 0
) -> bool:
    """Claim (``kind``, ``name``) for this process: False when it runs already (anywhere)."""
    now = utcnow()
    values = {
        "state": RUNNING,
        "started_by": by[:200],
        "process": here(),
        "started_at": now,
        "updated_at": now,
        "until": now + lease,
        "finished_at": None,
        "done": 0,
        "total": total,
        "result": "{}",
        "error": "",
    }
    with engine.begin() as connection:
        connection.execute(sa.delete(TABLE).where(TABLE.c.finished_at < now - KEEP))
        free = sa.or_(TABLE.c.state != RUNNING, TABLE.c.until < now)
        claimed = connection.execute(sa.update(TABLE).where(_key(kind, name), free).values(values))
        if claimed.rowcount:
            return True
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(TABLE).values(kind=kind, name=name, **values))
    except sa.exc.IntegrityError:  # the row is there, running: someone else's job
        return False
    return True


def progress(engine: sa.Engine, kind: str, name: str, done: int, *, lease: timedelta) -> None:
    """How far the job is; renews its claim for ``lease``."""
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            sa.update(TABLE)
            .where(_key(kind, name))
            .values(done=done, updated_at=now, until=now + lease)
        )


def finish(
    engine: sa.Engine,
    kind: str,
    name: str,
    *,
    result: dict[str, Any] | None = None,
    error: str = "",
    done: int | None = None,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "state": FAILED if error else DONE,
        "updated_at": now,
        "finished_at": now,
        "result": json.dumps(result or {}),
        "error": error,
    }
    if done is not None:
        values["done"] = done
    with engine.begin() as connection:
        connection.execute(sa.update(TABLE).where(_key(kind, name)).values(values))


def get(engine: sa.Engine, kind: str, name: str) -> Task | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(TABLE).where(_key(kind, name))).first()
    return _task(row) if row is not None else None


def of_kind(engine: sa.Engine, kind: str) -> dict[str, Task]:
    """Every task of ``kind`` (running, or finished in the last ``KEEP``), by name."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(TABLE).where(TABLE.c.kind == kind)).all()
    return {task.name: task for task in map(_task, rows)}
