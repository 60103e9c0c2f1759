"""Which delivery of ours a provider event is about, if any: the only way an event acts.

By the custom_args every send puts on its messages (``send_id`` + ``subscriber_id``), else by
``sg_message_id`` (which begins with the batch's X-Message-Id), and in both cases only when the
event's address is the address that delivery went to: the subscriber's current address, or the
one a test proof kept. Addresses are compared ignoring case and surrounding spaces, with an
ASCII (``xn--``) domain read as Unicode, since a send gives SendGrid the ASCII form of a domain
stored as typed. So an event carrying only a subscriber id, an id that now belongs to someone
else, or another address, matches nothing. A few bulk queries, whatever the batch size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.models import delivery_table, subscriber_table

CHUNK = 500


class Matchable(Protocol):
    """What matching reads of an event (``events.Event`` has it)."""

    @property
    def email(self) -> str: ...
    @property
    def send_id(self) -> int | None: ...
    @property
    def subscriber_id(self) -> int | None: ...
    @property
    def message_id(self) -> str: ...


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


Found = tuple[int, int, int | None, str]  # delivery id, send id, subscriber id, status
_FOUND = (  # a Found, and the address that delivery went to (a test send keeps its own)
    delivery_table.c.id,
    delivery_table.c.send_id,
    delivery_table.c.subscriber_id,
    delivery_table.c.status,
    sa.func.coalesce(subscriber_table.c.email, delivery_table.c.email),
)
_JOINED = delivery_table.outerjoin(
    subscriber_table, delivery_table.c.subscriber_id == subscriber_table.c.id
)


def address_key(value: object) -> str:
    """An address as events are matched on it: case and surrounding spaces ignored, and an
    ASCII (``xn--``) domain read as the Unicode one we may have stored."""
    local, at, domain = str(value or "").strip().lower().rpartition("@")
    if "xn--" in domain:
        labels = domain.split(".")
        for n, label in enumerate(labels):
            if label.startswith("xn--"):
                with suppress(UnicodeError):
                    labels[n] = label[4:].encode("ascii").decode("punycode").lower()
        domain = ".".join(labels)
    return f"{local}{at}{domain}"


def _by_custom_args(
    session: Session, events: Sequence[Matchable]
) -> dict[tuple[int, int, str], Found]:
    wanted: dict[int, set[int]] = defaultdict(set)
    for e in events:
        if e.send_id is not None and e.subscriber_id is not None:
            wanted[e.send_id].add(e.subscriber_id)
    found: dict[tuple[int, int, str], Found] = {}
    for send_id, people in wanted.items():
        for chunk in _chunks(sorted(people)):
            query = (
                sa.select(*_FOUND)
                .select_from(_JOINED)
                .where(
                    delivery_table.c.send_id == send_id, delivery_table.c.subscriber_id.in_(chunk)
                )
            )
            for row in session.execute(query):
                found[(send_id, row[2], address_key(row[4]))] = (row[0], row[1], row[2], row[3])
    return found


def _by_message_id(session: Session, message_ids: set[str]) -> dict[tuple[str, str], Found]:
    found: dict[tuple[str, str], Found] = {}
    for chunk in _chunks(sorted(message_ids)):
        query = (
            sa.select(*_FOUND, delivery_table.c.message_id)
            .select_from(_JOINED)
            .where(delivery_table.c.message_id.in_(chunk))
        )
        for row in session.execute(query):
            found[(row[5], address_key(row[4]))] = (row[0], row[1], row[2], row[3])
    return found


def match(session: Session, events: Sequence[Matchable]) -> list[Found | None]:
    """The Delivery of each event, or None: send id + subscriber id, else message id, and
    either way only when the event's address is the one that delivery went to."""
    by_args = _by_custom_args(session, events)
    rest = {e.message_id for e in events if e.message_id}
    by_message = _by_message_id(session, rest) if rest else {}
    return [
        (
            by_args.get((e.send_id or 0, e.subscriber_id or 0, address))
            or by_message.get((e.message_id, address))
        )
        if (address := address_key(e.email))
        else None
        for e in events
    ]
