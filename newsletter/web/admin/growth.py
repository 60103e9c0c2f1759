"""The home page's growth chart: confirmations and departures (unsubscribed, bounced,
complained) per week over the last year, from the status history (``status_event``).

One query groups the year's events by week (Monday, UTC) and new status on the database: a
text key ``YYYY-MM-DD`` (SQLite's ``date(at, 'weekday 0', '-6 days')``, PostgreSQL's
``date_trunc('week', ...)``). The result is kept per version of the history (its latest id and
its row count): a page view costs one cheap query while nothing changes, and new events are
counted by id and added to the kept weeks rather than the year counted again. Drawn by
``chart.stacked`` like the report's chart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.models import status_event_table
from newsletter.web.admin.chart import Chart, stacked

WEEKS = 53  # the current week and the 52 before it
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("confirmed", "confirmed", ("confirmed",)),
    ("unsubscribed", "unsubscribed", ("unsubscribed",)),
    ("bounced", "bounced", ("bounced",)),
    ("complained", "complained", ("complained",)),
)
COLOURS = {
    "confirmed": "#2f855a",
    "unsubscribed": "#b7791f",
    "bounced": "#c53030",
    "complained": "#6b46c1",
}
KEEP = 8
_KEPT: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()  # see _counts
_KEPT_LOCK = threading.Lock()


def first_week(now: datetime) -> datetime:
    """The Monday (00:00 UTC) that starts the chart: 52 weeks before this week's."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday(), weeks=WEEKS - 1)


def _week(connection: sa.Connection, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[str]:
    """The Monday of a time's week (UTC) as ``YYYY-MM-DD`` text, on either backend."""
    if connection.dialect.name == "sqlite":  # stored as UTC text already
        return sa.func.date(column, sa.literal("weekday 0"), sa.literal("-6 days"))
    utc = sa.func.timezone(sa.literal("UTC", sa.String), column)
    monday = sa.func.date_trunc(sa.literal("week", sa.String), utc)
    return sa.func.to_char(monday, sa.literal("YYYY-MM-DD", sa.String))


def weekly(
    engine: sa.Engine, now: datetime, ids: tuple[int, int] | None = None
) -> dict[datetime, dict[str, int]]:
    """Events per week (its Monday) and new status, for the chart's weeks: one query; only
    the events with ``ids[0] < id <= ids[1]`` when given (the new ones since a kept count)."""
    e = status_event_table.c
    where = [
        e.at >= first_week(now),
        e.at < first_week(now) + timedelta(weeks=WEEKS),
        e.to_status.in_([key for key, _, _ in GROUPS]),
    ]
    if ids is not None:
        where += [e.id > ids[0], e.id <= ids[1]]
    with engine.connect() as connection:
        week = _week(connection, e.at).label("week")
        rows = connection.execute(
            sa.select(week, e.to_status, sa.func.count()).where(*where).group_by(week, e.to_status)
        ).all()
    found: dict[datetime, dict[str, int]] = {}
    for text, status, n in rows:
        monday = datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
        found.setdefault(monday, {})[str(status)] = int(n)
    return found


@dataclass(frozen=True)
class _Kept:
    latest: int | None  # the history's highest id and row count when counted
    rows: int
    per: dict[datetime, dict[str, int]]


def growth(engine: sa.Engine, now: datetime) -> Chart:
    """The chart of the last ``WEEKS`` weeks. The counts are kept per database and first week:
    unchanged history costs one query (its highest id and row count); new events only (the
    history is appended to, never updated) are counted by id and added; anything else (an
    erasure deleted events) counts the year again."""
    start = first_week(now)
    per = _counts(engine, now, (str(engine.url), start))
    starts = [start + timedelta(weeks=index) for index in range(WEEKS)]
    counts = [per.get(monday, {}) for monday in starts]
    peak = max((sum(c.values()) for c in counts), default=0)
    return Chart(
        stacked(counts, starts, GROUPS, peak) if peak else [],
        timedelta(weeks=1), peak, start, starts[-1] + timedelta(weeks=1),
        groups=GROUPS, colours=COLOURS,
    )  # fmt: skip


def _counts(
    engine: sa.Engine, now: datetime, key: tuple[Any, ...]
) -> dict[datetime, dict[str, int]]:
    e = status_event_table.c
    with engine.connect() as connection:
        latest, rows = connection.execute(sa.select(sa.func.max(e.id), sa.func.count())).one()
        with _KEPT_LOCK:
            kept = _KEPT.get(key)
        if kept is not None and (kept.latest, kept.rows) == (latest, rows):
            return kept.per
        new = None
        if kept is not None and kept.latest is not None and latest is not None:
            new = connection.execute(
                sa.select(sa.func.count()).where(e.id > kept.latest, e.id <= latest)
            ).scalar_one()
    # one connection at a time: SQLite's transactions here begin IMMEDIATE (newsletter/db.py)
    added = None
    if kept is not None and kept.latest is not None and new is not None and kept.rows + new == rows:
        added = weekly(engine, now, (kept.latest, latest))  # appended to only: the new events
    if added is None or kept is None:
        per = weekly(engine, now)
    else:
        per = {week: dict(by) for week, by in kept.per.items()}
        for week, by in added.items():
            slot = per.setdefault(week, {})
            for status, n in by.items():
                slot[status] = slot.get(status, 0) + n
    with _KEPT_LOCK:
        _KEPT[key] = _Kept(latest, rows, per)
        _KEPT.move_to_end(key)
        while len(_KEPT) > KEEP:
            _KEPT.popitem(last=False)
    return per
