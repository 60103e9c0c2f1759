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


def _minute(connection: sa.Connection, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[str]:
    """The minute of a time as text that sorts and parses (``YYYY-MM-DD HH:MM``): a cheap
    grouping key on both backends (SQLite stores the time as text already)."""
    if connection.dialect.name == "sqlite":
        return sa.func.substr(column, 1, 16)
    utc = sa.func.timezone(sa.literal("UTC", sa.String), column)  # a timestamp without zone
    return sa.func.to_char(utc, sa.literal("YYYY-MM-DD HH24:MI", sa.String))


def chart(engine: sa.Engine, send_id: int) -> Chart:
    """One query: the counts per minute and status; spans of time are made here."""
    d = delivery_table.c
    group_of = {status: key for key, _, statuses in GROUPS for status in statuses}
    with engine.connect() as connection:
        minute = _minute(connection, d.updated_at).label("minute")
        rows = connection.execute(
            sa.select(minute, d.status, sa.func.count())
            .where(d.send_id == send_id, d.status.in_(list(group_of)))
            .group_by(minute, d.status)
        ).all()
    if not rows:
        return Chart([], timedelta(0), 0, None, None, colours=COLOURS)
    counts = [
        (datetime.fromisoformat(str(text)).replace(tzinfo=UTC), group_of[str(status)], int(n))
        for text, status, n in rows
    ]
    first = min(at for at, _, _ in counts)
    last = max(at for at, _, _ in counts) + timedelta(minutes=1)
    seconds = max(60, int((last - first).total_seconds()) // BUCKETS + 1)
    per: dict[int, dict[str, int]] = {}
    for at, key, n in counts:
        slot = per.setdefault(min(int((at - first).total_seconds()) // seconds, BUCKETS), {})
        slot[key] = slot.get(key, 0) + n
    peak = max((sum(c.values()) for c in per.values()), default=0)
    return Chart(
        _bars(per, first, seconds, peak), timedelta(seconds=seconds), peak, first, last,
        colours=COLOURS,
    )  # fmt: skip


def _bars(per: dict[int, dict[str, int]], first: datetime, seconds: int, peak: int) -> list[Bar]:
    slots = max(per, default=0) + 1
    starts = [first + timedelta(seconds=seconds * index) for index in range(slots)]
    return stacked([per.get(index, {}) for index in range(slots)], starts, GROUPS, peak)


def stacked(
    counts: list[dict[str, int]],
    starts: list[datetime],
    groups: tuple[tuple[str, str, tuple[str, ...]], ...],
    peak: int,
) -> list[Bar]:
    """One bar per slot, evenly across the plot, its groups stacked in ``groups`` order from
    the bottom, scaled so that ``peak`` fills the height (the home page's growth chart too)."""
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - 8
    step = plot_w / max(len(counts), 1)
    bars = []
    for index, (slot, start) in enumerate(zip(counts, starts, strict=True)):
        y = float(HEIGHT - BOTTOM)
        segments = []
        for key, _, _ in groups:
            n = slot.get(key, 0)
            if n:
                h = plot_h * n / peak if peak else 0
                y -= h
                segments.append((key, round(y, 1), round(h, 1), n))
        bars.append(Bar(start, slot, round(LEFT + index * step + 1, 1), round(step - 2, 1),
                        segments))  # fmt: skip
    return bars


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
