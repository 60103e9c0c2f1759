"""The subscriber list as staff browse it: search, filters, pages, a person's deliveries.

A page is read newest first by ``(created_at, id)`` with a keyset cursor (``Cursor``), never an
OFFSET: each page costs the same however deep it is (migration 0012 indexes the pair, and
``(status, created_at, id)`` for a status filter). A search with an ``@`` is a prefix of the
address (``email_key LIKE 'ann.lee@%'``, the ``text_pattern_ops`` index on PostgreSQL); without
one it is a prefix of the address or a part of the name (``lower(name) LIKE '%lee%'``). On
PostgreSQL a name, and the source filter, that few people match are found from 0013's pg_trgm
indexes, and a common one by reading the list newest first until a page is full: the planner
picks (bench/subscribers_admin.py measures both). The source filter is the first consent
record's source (where the address came from).
``batches`` reads a filtered list in keyset batches for the streamed export.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import (
    Delivery,
    Send,
    Subscriber,
    SubscriberStatus,
    UTCDateTime,
    consent_table,
    subscriber_table,
)

PAGE = 50
BATCH = 2000
MAX_TEXT = 320
NAME_SEARCH_MIN = 3  # a shorter search is an address prefix only


@dataclass(frozen=True)
class Filters:
    """What a staff member narrowed the list to; every field optional."""

    q: str = ""  # an address prefix, or (3 characters or more, no @) a part of the name too
    status: SubscriberStatus | None = None
    source: str = ""  # a part of the first consent's source
    since: date | None = None  # signed up on or after this day (UTC)
    until: date | None = None  # signed up on or before this day (UTC)

    def where(self) -> list[sa.ColumnElement[bool]]:
        s = subscriber_table.c
        found: list[sa.ColumnElement[bool]] = []
        q = self.q.strip().lower()[:MAX_TEXT]
        if q:
            prefix = s.email_key.like(_escaped(q) + "%", escape="\\")
            if "@" in q or len(q) < NAME_SEARCH_MIN:
                found.append(prefix)
            else:
                found.append(
                    sa.or_(prefix, sa.func.lower(s.name).like(f"%{_escaped(q)}%", escape="\\"))
                )
        if self.status is not None:
            found.append(s.status == self.status.value)
        if self.since is not None:
            found.append(s.created_at >= sa.literal(_midnight(self.since), UTCDateTime()))
        if self.until is not None:
            end = _midnight(self.until + timedelta(days=1))
            found.append(s.created_at < sa.literal(end, UTCDateTime()))
        if self.source.strip():
            found.append(_first_source_has(self.source.strip()[:MAX_TEXT]))
        return found


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def first_source() -> sa.ScalarSelect[str]:
    """The source of the subscriber's first consent record (where the address came from)."""
    first = consent_table.alias("first_consent")
    return (
        sa.select(first.c.source)
        .where(first.c.subscriber_id == subscriber_table.c.id)
        .order_by(first.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _first_source_has(text: str) -> sa.ColumnElement[bool]:
    """The subscriber's first consent record has ``text`` in its source: the consent rows whose
    source matches (0013's trigram index on PostgreSQL, so a rare source is found from the
    index) that no earlier consent of theirs precedes. A common source is read in the list's
    order instead, as the planner chooses (bench/subscribers_admin.py has both)."""
    consent = consent_table.alias("matching_consent")
    earlier = consent_table.alias("earlier_consent")
    first_matching = (
        sa.select(consent.c.subscriber_id)
        .where(sa.func.lower(consent.c.source).like(f"%{_escaped(text.lower())}%", escape="\\"))
        .where(
            ~sa.exists().where(
                earlier.c.subscriber_id == consent.c.subscriber_id, earlier.c.id < consent.c.id
            )
        )
    )
    return subscriber_table.c.id.in_(first_matching)


@dataclass(frozen=True)
class Cursor:
    """A place in the list: the (created_at, id) of a row, written ``<microseconds>.<id>``."""

    created_at: datetime
    id: int

    def __str__(self) -> str:
        micros = int(self.created_at.timestamp() * 1_000_000)
        return f"{micros}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """None for anything that is not a cursor this module wrote."""
        micros, dot, ident = text.partition(".")
        if not dot or not (micros.isdigit() and ident.isdigit()) or len(text) > 40:
            return None
        try:
            at = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return cls(at, int(ident))

    @classmethod
    def of(cls, row: sa.Row[Any]) -> Cursor:
        created_at = row.created_at
        assert isinstance(created_at, datetime)
        return cls(created_at, int(row.id))


@dataclass(frozen=True)
class Page:
    rows: list[sa.Row[Any]]
    newer: Cursor | None  # the first row, when newer rows exist: the "Newer" link
    older: Cursor | None  # the last row, when older rows exist: the "Older" link


def _pair() -> sa.Tuple:
    return sa.tuple_(subscriber_table.c.created_at, subscriber_table.c.id)


def _bound(cursor: Cursor) -> sa.Tuple:
    return sa.tuple_(sa.literal(cursor.created_at, UTCDateTime()), sa.literal(cursor.id))


def page(
    connection: sa.Connection,
    filters: Filters,
    *,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
    size: int = PAGE,
) -> Page:
    """One page, newest first: after ``older_than`` (the Older link), before ``newer_than``
    (the Newer link), or the newest. Each row: id, email, name, status, created_at, source."""
    s = subscriber_table.c
    source = first_source().label("source")
    query = sa.select(s.id, s.email, s.name, s.status, s.created_at, source)
    query = query.where(*filters.where())
    if newer_than is not None:
        query = query.where(_pair() > _bound(newer_than))
        query = query.order_by(s.created_at.asc(), s.id.asc())
    else:
        if older_than is not None:
            query = query.where(_pair() < _bound(older_than))
        query = query.order_by(s.created_at.desc(), s.id.desc())
    rows: list[sa.Row[Any]] = list(connection.execute(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if newer_than is not None:
        rows.reverse()
        newer = Cursor.of(rows[0]) if more and rows else None
        older = Cursor.of(rows[-1]) if rows else None
        return Page(rows, newer, older)
    newer = Cursor.of(rows[0]) if older_than is not None and rows else None
    return Page(rows, newer, Cursor.of(rows[-1]) if more else None)


def counts(connection: sa.Connection) -> dict[str, int]:
    """Subscribers per status (one GROUP BY), every status present."""
    s = subscriber_table.c
    found: dict[str, int] = dict(
        connection.execute(sa.select(s.status, sa.func.count()).group_by(s.status)).all()
    )
    return {status.value: int(found.get(status.value, 0)) for status in SubscriberStatus}


class Counts:
    """``counts`` kept for ``max_age`` seconds: on a large list the GROUP BY reads every row's
    status (an index-only scan, tens of ms at 1,000,000), so the list's pages share one reading;
    ``forget`` after a change made here, so staff see their own change at once."""

    def __init__(self, max_age: float = 10.0) -> None:
        self.max_age = max_age
        self._kept: tuple[float, dict[str, int]] | None = None
        self._lock = threading.Lock()

    def get(self, engine: sa.Engine) -> dict[str, int]:
        with self._lock:
            kept = self._kept
        if kept is not None and monotonic() - kept[0] < self.max_age:
            return dict(kept[1])
        with engine.connect() as connection:
            found = counts(connection)
        with self._lock:
            self._kept = (monotonic(), found)
        return dict(found)

    def forget(self) -> None:
        with self._lock:
            self._kept = None


def batches(engine: sa.Engine, filters: Filters, size: int = BATCH) -> Iterator[list[Subscriber]]:
    """The filtered list, oldest first, ``size`` at a time (keyset by id: one short query per
    batch, so a long export holds no transaction open)."""
    after = 0
    while True:
        with Session(engine) as session:
            query = (
                select(Subscriber)
                .where(col(Subscriber.id) > after, *filters.where())
                .order_by(col(Subscriber.id))
                .limit(size)
            )
            found = list(session.exec(query))
        if not found:
            return
        yield found
        assert found[-1].id is not None
        after = found[-1].id


@dataclass(frozen=True)
class Sent:
    """One delivery of one send to a person, as their page lists it."""

    delivery: Delivery
    send: Send


def deliveries(session: Session, subscriber_id: int) -> list[Sent]:
    """Every delivery of every send to this subscriber, newest send first."""
    query = (
        select(Delivery, Send)
        .join(Send, col(Send.id) == col(Delivery.send_id))
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(col(Send.id).desc())
    )
    return [Sent(d, s) for d, s in session.exec(query)]
