"""SendGrid's Event Webhook, applied: delivery status, list hygiene, settling uncertain rows.

``apply`` takes the events of one verified request and applies them in one transaction, with a
few bulk queries whatever the batch size. Each ``sg_event_id`` is applied once (SendGrid retries
for 24 h); events without one, of unknown types, or for messages we never sent change nothing.

A Delivery is found through the custom_args every send puts on its messages (``send_id``,
``subscriber_id``), else through ``sg_message_id``, which starts with the X-Message-Id of the
batch, plus the address. Its status only moves forward (accepted < deferred < delivered <
soft_bounced < bounced, dropped), so events may come in any order. An ``uncertain`` row that gets
any event is settled: SendGrid had it, and ``settled_at`` records when we learnt so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.errors import WebhookError
from newsletter.models import (
    DeliveryStatus,
    Subscriber,
    delivery_table,
    send_table,
    subscriber_table,
    webhook_event_table,
)
from newsletter.subscribers.status import Cause, move

Status = DeliveryStatus
SOURCE = "sendgrid webhook"
KEEP_EVENT_IDS = timedelta(days=3)
CHUNK = 500
ENGAGEMENT = ("open", "click")
LIST_EVENTS = {
    "spamreport": Cause.complaint,
    "unsubscribe": Cause.unsubscribe,
    "group_unsubscribe": Cause.unsubscribe,
    "group_resubscribe": Cause.resubscribe,
}  # what each event may do to the subscriber: subscribers/status.py says from which statuses
DELIVERY_EVENTS = ("processed", "deferred", "delivered", "bounce", "dropped")
KNOWN = frozenset((*DELIVERY_EVENTS, *ENGAGEMENT, *LIST_EVENTS))
RANK = {
    Status.uncertain: 0,
    Status.accepted: 1,
    Status.deferred: 2,
    Status.delivered: 3,
    Status.soft_bounced: 4,
    Status.bounced: 5,
    Status.dropped: 5,
}  # statuses an event may change; pending, in-flight, failed and skipped rows are the ledger's
DROPPED_MEANS = {
    "bounced address": Cause.bounce,
    "spam reporting address": Cause.complaint,
    "unsubscribed address": Cause.unsubscribe,
}


@dataclass(frozen=True)
class Policy:
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)
    track_engagement: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.soft_bounce_limit,
            timedelta(days=settings.soft_bounce_window_days),
            settings.track_engagement,
        )


@dataclass(frozen=True)
class Event:
    """What we use of one SendGrid event."""

    sg_event_id: str
    kind: str
    timestamp: int
    email: str
    send_id: int | None
    subscriber_id: int | None
    message_id: str
    reason: str
    soft: bool
    machine_open: bool

    @property
    def delivery_status(self) -> DeliveryStatus | None:
        if self.kind == "processed":
            return Status.accepted
        if self.kind == "bounce":
            return Status.soft_bounced if self.soft else Status.bounced
        if self.kind in ("deferred", "delivered", "dropped"):
            return Status(self.kind)
        return Status.delivered  # an open, click, complaint or unsubscribe: it arrived

    @property
    def cause(self) -> Cause | None:
        """What this event may do to the subscriber (a soft bounce only counts)."""
        if self.kind == "bounce":
            return None if self.soft else Cause.bounce
        if self.kind == "dropped":
            return DROPPED_MEANS.get(self.reason.strip().lower())
        return LIST_EVENTS.get(self.kind)


@dataclass
class Applied:
    """What one request did; the endpoint answers with it."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    unmatched: int = 0
    deliveries: int = 0
    subscribers: int = 0
    settled: int = 0
    notes: list[str] = field(default_factory=list)


def _int(value: Any) -> int | None:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() and len(text) < 19 else None


def _text(value: Any, limit: int = 200) -> str:
    return value[:limit] if isinstance(value, str) else ""


def parse_event(item: Any) -> Event | None:
    """One element of the array, or None when it is not an event we act on."""
    if not isinstance(item, dict):
        return None
    kind, event_id = item.get("event"), item.get("sg_event_id")
    if not isinstance(kind, str) or kind not in KNOWN or not isinstance(event_id, str):
        return None
    if not 0 < len(event_id) <= 100:
        return None
    smtp_status = _text(item.get("status"), 20)
    return Event(
        sg_event_id=event_id,
        kind=kind,
        timestamp=_int(item.get("timestamp")) or 0,
        email=_text(item.get("email"), 320),
        send_id=_int(item.get("send_id")),
        subscriber_id=_int(item.get("subscriber_id")),
        message_id=_text(item.get("sg_message_id"), 300).partition(".")[0],
        reason=_text(item.get("reason") or item.get("response")),
        soft=kind == "bounce" and (item.get("type") == "blocked" or smtp_status.startswith("4")),
        machine_open=item.get("sg_machine_open") is True,
    )


def parse(body: Any) -> list[Event]:
    """The events of a decoded request body; WebhookError unless it is a JSON array."""
    if not isinstance(body, list):
        raise WebhookError("the body must be a JSON array of events")
    return [e for e in map(parse_event, body) if e is not None]


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _fresh(session: Session, events: list[Event], now: datetime) -> list[Event]:
    """Events whose sg_event_id was never applied, now recorded as applied (race-safe)."""
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.sg_event_id, event)
    session.execute(
        webhook_event_table.delete().where(webhook_event_table.c.received_at < now - KEEP_EVENT_IDS)
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (postgresql.insert if postgres else sqlite.insert)(webhook_event_table)
    statement = insert.on_conflict_do_nothing().returning(webhook_event_table.c.sg_event_id)
    rows = [{"sg_event_id": i, "received_at": now} for i in first]
    new = set(session.execute(statement, rows).scalars()) if rows else set()
    return [e for i, e in first.items() if i in new]


Found = tuple[int, int, int | None, str]  # delivery id, send id, subscriber id, status


def _by_custom_args(session: Session, events: list[Event]) -> dict[tuple[int, int], Found]:
    wanted: dict[int, set[int]] = defaultdict(set)
    for e in events:
        if e.send_id is not None and e.subscriber_id is not None:
            wanted[e.send_id].add(e.subscriber_id)
    found: dict[tuple[int, int], Found] = {}
    for send_id, people in wanted.items():
        for chunk in _chunks(sorted(people)):
            query = sa.select(
                delivery_table.c.id,
                delivery_table.c.send_id,
                delivery_table.c.subscriber_id,
                delivery_table.c.status,
            ).where(delivery_table.c.send_id == send_id, delivery_table.c.subscriber_id.in_(chunk))
            for row in session.execute(query):
                found[(send_id, row[2])] = (row[0], row[1], row[2], row[3])
    return found


def _by_message_id(session: Session, message_ids: set[str]) -> dict[tuple[str, str], Found]:
    address = sa.func.coalesce(subscriber_table.c.email, delivery_table.c.email)
    found: dict[tuple[str, str], Found] = {}
    for chunk in _chunks(sorted(message_ids)):
        query = (
            sa.select(
                delivery_table.c.id,
                delivery_table.c.send_id,
                delivery_table.c.subscriber_id,
                delivery_table.c.status,
                delivery_table.c.message_id,
                address,
            )
            .select_from(
                delivery_table.outerjoin(
                    subscriber_table, delivery_table.c.subscriber_id == subscriber_table.c.id
                )
            )
            .where(delivery_table.c.message_id.in_(chunk))
        )
        for row in session.execute(query):
            found[(row[4], str(row[5]).lower())] = (row[0], row[1], row[2], row[3])
    return found


def match(session: Session, events: list[Event]) -> list[Found | None]:
    """The Delivery of each event, or None."""
    by_args = _by_custom_args(session, events)
    rest = {e.message_id for e in events if e.message_id}
    by_message = _by_message_id(session, rest) if rest else {}
    return [
        by_args.get((e.send_id or 0, e.subscriber_id or 0))
        or by_message.get((e.message_id, e.email.lower()))
        for e in events
    ]


def _update_deliveries(
    session: Session, events: list[Event], found: list[Found | None], now: datetime
) -> tuple[int, int]:
    """Move each matched delivery forward to its furthest event; (changed, settled)."""
    target: dict[int, tuple[int, DeliveryStatus, str]] = {}
    current: dict[int, DeliveryStatus] = {}
    for event, hit in zip(events, found, strict=True):
        status = event.delivery_status
        if hit is None or status is None or Status(hit[3]) not in RANK:
            continue
        current[hit[0]] = Status(hit[3])
        best = target.get(hit[0], (RANK[Status(hit[3])], Status(hit[3]), ""))
        if RANK[status] > best[0]:
            target[hit[0]] = (RANK[status], status, event.reason)
    groups: dict[tuple[DeliveryStatus, str], list[int]] = defaultdict(list)
    for delivery_id, (_, status, reason) in target.items():
        if status != current[delivery_id]:
            groups[(status, reason)].append(delivery_id)
    settles = sa.case(
        (delivery_table.c.status == Status.uncertain.value, now), else_=delivery_table.c.settled_at
    )
    for (status, reason), ids in groups.items():
        for chunk in _chunks(sorted(ids)):
            session.execute(
                delivery_table.update()
                .where(delivery_table.c.id.in_(chunk))
                .values(status=status.value, last_error=reason, updated_at=now, settled_at=settles)
            )
    changed = [i for ids in groups.values() for i in ids]
    return len(changed), sum(1 for i in changed if current[i] == Status.uncertain)


def _count_engagement(session: Session, events: list[Event], found: list[Found | None]) -> None:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event, hit in zip(events, found, strict=True):
        send_id = hit[1] if hit else event.send_id
        if event.kind in ENGAGEMENT and send_id is not None:
            name = "clicks" if event.kind == "click" else "opens"
            counts[send_id]["machine_opens" if event.machine_open else name] += 1
    for send_id, names in counts.items():
        values = {name: send_table.c[name] + n for name, n in names.items()}
        session.execute(send_table.update().where(send_table.c.id == send_id).values(**values))


def _people(
    session: Session, events: list[Event], found: list[Found | None]
) -> list[tuple[Event, Subscriber]]:
    """(event, subscriber) for every event that may change a subscriber, oldest first."""
    wanted = [
        (e, (hit[2] if hit else None) or e.subscriber_id)
        for e, hit in zip(events, found, strict=True)
        if e.cause is not None or e.soft
    ]
    ids = sorted({i for _, i in wanted if i is not None})
    emails = sorted({e.email for e, i in wanted if i is None and e.email})
    by_id: dict[int, Subscriber] = {}
    by_email: dict[str, Subscriber] = {}
    for chunk in _chunks(ids):
        by_id.update(
            (s.id, s)
            for s in session.exec(select(Subscriber).where(col(Subscriber.id).in_(chunk)))
            if s.id
        )
    for chunk in _chunks(emails):
        by_email.update(
            (s.email, s)
            for s in session.exec(select(Subscriber).where(col(Subscriber.email).in_(chunk)))
        )
    pairs = [(e, by_id.get(i) if i else by_email.get(e.email)) for e, i in wanted]
    return sorted(((e, s) for e, s in pairs if s is not None), key=lambda p: p[0].timestamp)


def _soft_bounce_counts(session: Session, ids: list[int], since: datetime) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chunk in _chunks(sorted(ids)):
        query = (
            sa.select(delivery_table.c.subscriber_id, sa.func.count())
            .where(
                delivery_table.c.subscriber_id.in_(chunk),
                delivery_table.c.status == Status.soft_bounced.value,
                delivery_table.c.updated_at >= since,
            )
            .group_by(delivery_table.c.subscriber_id)
        )
        counts.update((int(s), int(n)) for s, n in session.execute(query))
    return counts


def _update_subscribers(
    session: Session, events: list[Event], found: list[Found | None], policy: Policy, now: datetime
) -> int:
    pairs = _people(session, events, found)
    soft = [s.id for e, s in pairs if e.soft and s.id is not None]
    counts = _soft_bounce_counts(session, soft, now - policy.soft_bounce_window) if soft else {}
    changed = 0
    for event, person in pairs:
        cause = event.cause
        why = event.kind + (f" ({event.reason})" if event.reason else "")
        if cause is None and counts.get(person.id or 0, 0) >= policy.soft_bounce_limit:
            cause, why = Cause.bounce, f"{counts[person.id or 0]} soft bounces: {why}"
        if cause is not None and move(session, person, cause, f"{SOURCE}: {why}"[:200], now):
            changed += 1
    return changed


def apply(session: Session, events: list[Event], policy: Policy, now: datetime) -> Applied:
    """Apply parsed events; the caller commits (one transaction per request)."""
    result = Applied(received=len(events))  # the endpoint adds what it ignored
    fresh = _fresh(session, events, now)
    result.duplicates = len(events) - len(fresh)
    found = match(session, fresh)
    result.applied = len(fresh)
    result.unmatched = sum(1 for hit in found if hit is None)
    result.deliveries, result.settled = _update_deliveries(session, fresh, found, now)
    session.flush()
    if policy.track_engagement:
        _count_engagement(session, fresh, found)
    result.subscribers = _update_subscribers(session, fresh, found, policy, now)
    return result
