"""The report's chart: a send's delivery events over time, as numbers for an inline SVG.

Each recipient's row counts at the time of its latest event (the transport taking it, then
SendGrid's delivered or bounced...), grouped into at most ``BUCKETS`` equal spans of time. The
SVG is drawn by the template with presentation attributes only (``fill=``): the admin CSP
forbids inline styles and scripts. The same numbers are the table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from newsletter.models import delivery_table

BUCKETS = 24
WIDTH, HEIGHT, LEFT, BOTTOM = 640, 220, 48, 28
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # key, label (and colour below), statuses
    ("accepted", "accepted", ("accepted", "deferred")),
    ("delivered", "delivered", ("delivered",)),
    ("bounced", "bounced or dropped", ("bounced", "soft_bounced", "dropped")),
    ("failed", "failed or uncertain", ("failed", "uncertain")),
    ("skipped", "skipped", ("skipped",)),
)
COLOURS = {
    "accepted": "#2b6cb0",
    "delivered": "#2f855a",
    "bounced": "#c53030",
    "failed": "#b7791f",
    "skipped": "#718096",
}


@dataclass(frozen=True)
class Bar:
    start: datetime
    counts: dict[str, int]
    x: float
    width: float
    segments: list[tuple[str, float, float, int]]  # key, y, height, count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    span: timedelta
    peak: int
    first: datetime | None
    last: datetime | None
    groups: tuple[tuple[str, str, tuple[str, ...]], ...] = GROUPS
    colours: dict[str, str] | None = None
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM


def _epoch(connection: sa.Connection, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[int]:
    if connection.dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.Integer)
    return sa.cast(sa.extract("epoch", column), sa.Integer)


def chart(engine: sa.Engine, send_id: int) -> Chart:
    d = delivery_table.c
    group_of = {status: key for key, _, statuses in GROUPS for status in statuses}
    counted = d.send_id == send_id, d.status.in_(list(group_of))
    with engine.connect() as connection:
        first, last = connection.execute(
            sa.select(sa.func.min(d.updated_at), sa.func.max(d.updated_at)).where(*counted)
        ).one()
        if first is None or last is None:
            return Chart([], timedelta(0), 0, None, None, colours=COLOURS)
        first, last = _aware(first), _aware(last)
        seconds = max(1, int((last - first).total_seconds()) // BUCKETS + 1)
        epoch = _epoch(connection, d.updated_at)
        start = int(first.timestamp())
        bucket = sa.cast((epoch - start) / seconds, sa.Integer).label("bucket")
        rows = connection.execute(
            sa.select(bucket, d.status, sa.func.count()).where(*counted).group_by(bucket, d.status)
        ).all()
    per: dict[int, dict[str, int]] = {}
    for index, status, n in rows:
        slot = per.setdefault(max(0, min(int(index), BUCKETS)), {})
        slot[group_of[str(status)]] = slot.get(group_of[str(status)], 0) + int(n)
    peak = max((sum(c.values()) for c in per.values()), default=0)
    return Chart(
        _bars(per, first, seconds, peak), timedelta(seconds=seconds), peak, first, last,
        colours=COLOURS,
    )  # fmt: skip


def _bars(per: dict[int, dict[str, int]], first: datetime, seconds: int, peak: int) -> list[Bar]:
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - 8
    slots = max(per, default=0) + 1
    step = plot_w / slots
    bars = []
    for index in range(slots):
        counts = per.get(index, {})
        y = float(HEIGHT - BOTTOM)
        segments = []
        for key, _, _ in GROUPS:
            n = counts.get(key, 0)
            if n:
                h = plot_h * n / peak if peak else 0
                y -= h
                segments.append((key, round(y, 1), round(h, 1), n))
        start = first + timedelta(seconds=seconds * index)
        bars.append(Bar(start, counts, round(LEFT + index * step + 1, 1), round(step - 2, 1),
                        segments))  # fmt: skip
    return bars


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
