"""How a subscriber's status moves: one table, ``MOVES``, and one function, ``move``.

``MOVES`` says, for each cause of a change, who causes it, the statuses it may start from and
the status it leads to; ``None`` is an address that is not on the list (a new one in ``from``,
an erased one in ``to``). ``docs/subscribers.md`` shows the same table, and a test keeps the
two in step. ``move`` applies one change: it checks the table, sets ``confirmed_at`` /
``unsubscribed_at``, and records the change as a ``StatusEvent`` with its reason. A change the
table does not allow changes nothing: a complaint is not undone by an unsubscribe link, and only
a fresh confirmation brings a bounced or complained address back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col

from newsletter.models import (
    Consent,
    StatusEvent,
    Subscriber,
    SubscriberStatus,
    status_event_table,
    subscriber_table,
)

Status = SubscriberStatus


class Cause(StrEnum):
    """What changed a status; the StatusEvent's reason says more (the route, the event)."""

    signup = "signup"
    add = "add"
    add_confirmed = "add_confirmed"
    import_ = "import"
    import_confirmed = "import_confirmed"
    confirm = "confirm"
    unsubscribe = "unsubscribe"
    resubscribe = "resubscribe"
    bounce = "bounce"
    complaint = "complaint"
    erase = "erase"


@dataclass(frozen=True)
class Move:
    who: str
    from_: frozenset[Status | None]
    to: Status | None
    confirmed_before: bool = False  # only for an address that confirmed once (confirmed_at)


def _from(*statuses: Status | None) -> frozenset[Status | None]:
    return frozenset(statuses)


NEW = _from(None)
MOVES: dict[Cause, Move] = {
    Cause.signup: Move("the person", NEW, Status.pending),
    Cause.add: Move("staff", NEW, Status.pending),
    Cause.add_confirmed: Move("staff", NEW, Status.confirmed),
    Cause.import_: Move("staff", NEW, Status.pending),
    Cause.import_confirmed: Move("staff", NEW, Status.confirmed),
    Cause.confirm: Move(
        "the person",
        _from(Status.pending, Status.unsubscribed, Status.bounced, Status.complained),
        Status.confirmed,
    ),
    Cause.unsubscribe: Move(
        "the person, SendGrid", _from(Status.pending, Status.confirmed), Status.unsubscribed
    ),
    Cause.resubscribe: Move(
        "the person, SendGrid", _from(Status.unsubscribed), Status.confirmed, confirmed_before=True
    ),
    Cause.bounce: Move("SendGrid", _from(Status.pending, Status.confirmed), Status.bounced),
    Cause.complaint: Move(
        "SendGrid",
        _from(Status.pending, Status.confirmed, Status.unsubscribed, Status.bounced),
        Status.complained,
    ),
    Cause.erase: Move("staff", _from(*Status), None),
}


def allowed(cause: Cause, current: Status | None, *, confirmed_before: bool = False) -> bool:
    """Whether ``cause`` may move an address in status ``current`` (None: not on the list)."""
    rule = MOVES[cause]
    return current in rule.from_ and (confirmed_before or not rule.confirmed_before)


def initial(cause: Cause) -> Status:
    """The status a new address gets from ``cause`` (signup, add, import); ValueError else."""
    to = MOVES[cause].to
    if None not in MOVES[cause].from_ or to is None:
        raise ValueError(f"{cause} does not add an address")
    return to


def stamps(to: Status, now: datetime) -> dict[str, datetime]:
    """The timestamps a move to ``to`` sets, besides the status."""
    if to is Status.confirmed:
        return {"confirmed_at": now}
    if to is Status.unsubscribed:
        return {"unsubscribed_at": now}
    return {}


def move(session: Session, person: Subscriber, cause: Cause, reason: str, now: datetime) -> bool:
    """Apply ``cause`` to ``person``; returns whether it changed anything.

    For the causes that add an address, ``person`` is a new Subscriber (no id yet): it is
    inserted, with Core statements (signup is the web app's hot path), and becomes part of the
    session. ``erase`` deletes the person with their consent records and history.
    """
    current = None if person.id is None else Status(person.status)
    confirmed_before = person.confirmed_at is not None
    if not allowed(cause, current, confirmed_before=confirmed_before):
        return False
    to = MOVES[cause].to
    if to is None:
        _forget(session, person)
        return True
    person.status = to
    for name, value in stamps(to, now).items():
        setattr(person, name, value)
    if current is None:
        _insert(session, person)
    else:
        session.add(person)
        session.flush()
    session.connection().execute(
        sa.insert(status_event_table),
        {"subscriber_id": person.id, "at": now, "from_status": current.value if current else None,
         "to_status": to.value, "reason": reason[:200]},
    )  # fmt: skip
    return True


def _insert(session: Session, person: Subscriber) -> None:
    values = {
        column.name: getattr(person, column.name)
        for column in subscriber_table.c
        if column.name != "id" and getattr(person, column.name) is not None
    }
    values["status"] = person.status.value
    insert = sa.insert(subscriber_table).returning(subscriber_table.c.id)
    person.id = session.connection().execute(insert, values).scalar_one()
    make_transient_to_detached(person)
    session.add(person)


def _forget(session: Session, person: Subscriber) -> None:
    session.execute(sa.delete(Consent).where(col(Consent.subscriber_id) == person.id))
    session.execute(sa.delete(StatusEvent).where(col(StatusEvent.subscriber_id) == person.id))
    session.delete(person)
