"""The subscriber store: subscribe, confirm, unsubscribe, resubscribe, add, erase, look up.

Every status change goes through ``status.move``, which checks the table of allowed changes and
writes a ``StatusEvent``, so the history is kept rather than overwritten. Only ``confirmed``
subscribers are ever mailed an issue.
Functions take a Session and leave committing to the caller (``db.session_scope``), except
``signup``, which owns its transaction: the subscriber, the consent and the confirmation
email's job are written together (the email worker sends it, ``email_jobs/``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from newsletter.db import session_scope
from newsletter.errors import SubscriberError, TokenError, UnknownSubscriber
from newsletter.models import (
    Consent,
    EmailJobKind,
    StatusEvent,
    Subscriber,
    SubscriberStatus,
    Suppression,
    consent_table,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers.address import key_of, parse
from newsletter.subscribers.status import Cause, move

RESEND_AFTER = timedelta(hours=1)
NAME_MAX = 200
OVERRIDE_SOURCE = "added by staff over an erasure (--override-erasure): the person agreed again"
Status = SubscriberStatus
log = logging.getLogger("newsletter.subscribers")


def normalise_email(raw: str, *, check_deliverability: bool = False) -> str:
    """Trimmed, domain lower-cased (email-validator's normalised form); InvalidAddress if bad:
    too long (over 254 characters), not an address, or a non-ASCII part before the @."""
    return parse(raw, check_deliverability=check_deliverability).email


def clean_name(raw: str) -> str:
    """One line of text: control characters and runs of whitespace become single spaces."""
    if raw.isprintable():
        return " ".join(raw.split())[:NAME_MAX]
    return " ".join("".join(c if c.isprintable() else " " for c in raw).split())[:NAME_MAX]


def email_hash(email: str) -> str:
    """What a suppression entry keeps of an erased address: a SHA-256 of its key (which is the
    address lower-cased, the form these hashes always had)."""
    return hashlib.sha256(key_of(email).encode("utf-8")).hexdigest()


def new_key() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class ConsentInfo:
    source: str
    ip: str = ""
    user_agent: str = ""
    text_version: str = ""


def find(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address, whatever its letter case (by ``email_key``)."""
    return session.exec(select(Subscriber).where(Subscriber.email_key == key_of(email))).first()


def suppressed(session: Session, email: str) -> bool:
    """Whether the address was erased (and has not been added again with new consent since)."""
    return _suppressed(session.connection(), email)


def _suppressed(connection: sa.Connection, email: str) -> bool:
    table = Suppression.__table__  # type: ignore[attr-defined]
    found = connection.execute(
        sa.select(table.c.id).where(table.c.email_hash == email_hash(email))
    ).first()
    return found is not None


def by_key(session: Session, key: str) -> Subscriber:
    found = session.exec(select(Subscriber).where(Subscriber.key == key)).first()
    if found is None:
        raise TokenError("this link belongs to no subscriber (the address may have been erased)")
    return found


def require(session: Session, email: str) -> Subscriber:
    found = find(session, email)
    if found is None:
        raise UnknownSubscriber(f"{email} is not on the list")
    return found


def record_consent(
    session: Session, subscriber_id: int | None, consent: ConsentInfo, now: datetime
) -> None:
    assert subscriber_id is not None
    session.connection().execute(sa.insert(consent_table), consent_row(subscriber_id, consent, now))


def consent_row(subscriber_id: int, consent: ConsentInfo, now: datetime) -> dict[str, object]:
    """A consent record's values, each cut to its column."""
    return {
        "subscriber_id": subscriber_id,
        "at": now,
        "source": consent.source[:500],
        "ip": consent.ip[:64],
        "user_agent": consent.user_agent[:500],
        "text_version": consent.text_version[:50],
    }


def subscribe(
    session: Session, email: str, name: str, consent: ConsentInfo, now: datetime
) -> Subscriber | None:
    """A signup. Returns the subscriber when a confirmation email is due, else None.

    New addresses become pending; a confirmed address needs nothing; anyone else gets at most
    one confirmation email per hour. The status only changes on confirming. An erased address
    (suppressed) gets nothing and nothing is written: the person asked to be forgotten, and a
    signup in their name, by them or by anyone, does not reach them; they come back through staff
    who record their new consent (``add`` with ``override_erasure``). The form answers as for
    anyone, so it tells nobody who was erased. Written with Core statements: this is the web
    app's hot path (bench/signup.py).
    """
    connection = session.connection()
    columns = (
        subscriber_table.c.id,
        subscriber_table.c.status,
        subscriber_table.c.confirmation_sent_at,
    )
    key = key_of(email)
    where = subscriber_table.c.email_key == key
    found = connection.execute(sa.select(*columns).where(where)).first()
    if found is None:
        if _suppressed(connection, email):
            log.info("a signup for an erased (suppressed) address was refused")
            return None
        return _insert_pending(session, email, name, consent, now)
    last_sent = found.confirmation_sent_at
    if found.status == Status.confirmed or (last_sent and now - last_sent < RESEND_AFTER):
        return None
    values: dict[str, object] = {"confirmation_sent_at": now}
    if name and found.status == Status.pending:
        values["name"] = clean_name(name)
    connection.execute(
        sa.update(subscriber_table).where(subscriber_table.c.id == found.id).values(values)
    )
    record_consent(session, found.id, consent, now)
    return session.get(Subscriber, found.id, populate_existing=True)


def _insert_pending(
    session: Session, email: str, name: str, consent: ConsentInfo, now: datetime
) -> Subscriber:
    person = Subscriber(
        key=new_key(),
        email=email,
        email_key=key_of(email),
        name=clean_name(name),
        created_at=now,
        confirmation_sent_at=now,
    )
    move(session, person, Cause.signup, "signup", now)
    record_consent(session, person.id, consent, now)
    return person


class Ask(Protocol):
    """Writes the job of a confirmation email for a subscriber in the caller's transaction,
    due at ``not_before``; False when one is already waiting. The entry points pass
    ``email_jobs.queue.ask`` (the subscriber side never imports the email worker)."""

    def __call__(
        self, session: Session, subscriber_id: int, kind: EmailJobKind, not_before: datetime
    ) -> bool: ...


def signup(engine: sa.Engine, email: str, name: str, consent: ConsentInfo, ask: Ask) -> bool:
    """``subscribe`` and, when a confirmation email is due, its job: one transaction, no email
    sent here (the email worker sends it). Returns whether a job was queued (the web app then
    wakes its worker).

    ``email`` is validated first (``normalise_email``), so nothing is written for an address
    that cannot be mailed. Whatever the provider is doing, the signup is stored and answered.
    """
    for attempt in (1, 2):
        try:
            now = utcnow()
            with session_scope(engine) as session:
                due = subscribe(session, email, name, consent, now)
                if due is None or due.id is None:
                    return False
                return ask(session, due.id, EmailJobKind.confirmation, now)
        except sa.exc.IntegrityError:  # the same new address signed up twice at once
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def latest_change(session: Session, subscriber: Subscriber) -> datetime | None:
    return session.exec(
        select(func.max(StatusEvent.at)).where(StatusEvent.subscriber_id == subscriber.id)
    ).one()


def confirm(session: Session, key: str, issued_at: datetime, now: datetime) -> Subscriber:
    """Confirm by link. A link older than the latest status change (say, an unsubscribe) fails."""
    subscriber = by_key(session, key)
    if subscriber.status == Status.confirmed:
        return subscriber
    if subscriber.status != Status.pending:
        changed = latest_change(session, subscriber)
        if changed is not None and issued_at < changed.replace(microsecond=0):
            raise TokenError(
                "this confirmation link is older than the latest change to your subscription"
            )
    move(session, subscriber, Cause.confirm, "confirmed by link", now)
    session.execute(
        sa.delete(Suppression).where(col(Suppression.email_hash) == email_hash(subscriber.email))
    )
    return subscriber


def unsubscribe(session: Session, key: str, reason: str, now: datetime) -> Subscriber:
    """Unsubscribed, unless already so; a bounced or complained address stays as it is."""
    subscriber = by_key(session, key)
    move(session, subscriber, Cause.unsubscribe, reason, now)
    return subscriber


class Resubscribed(StrEnum):
    confirmed = "confirmed"
    needs_confirmation = "needs_confirmation"


def resubscribe(session: Session, key: str, now: datetime) -> tuple[Subscriber, Resubscribed]:
    """From the unsubscribe page: back to confirmed if the address unsubscribed after having
    confirmed; anyone else (never confirmed, bounced, complained) needs a fresh confirmation."""
    subscriber = by_key(session, key)
    if subscriber.status == Status.confirmed or move(
        session, subscriber, Cause.resubscribe, "resubscribed from the web page", now
    ):
        return subscriber, Resubscribed.confirmed
    return subscriber, Resubscribed.needs_confirmation


def add(
    session: Session,
    email: str,
    name: str,
    *,
    confirmed: bool,
    consent: ConsentInfo,
    override_erasure: bool = False,
) -> Subscriber:
    """Staff adding one address; an existing address (in any letter case) is left as it is.

    An erased (suppressed) address is refused unless ``override_erasure``: the person agreed
    again, so the suppression entry is removed and the consent recorded says it was an override.
    """
    if find(session, email) is not None:
        raise SubscriberError(f"{email} is already on the list (see: newsletter subscribers show)")
    if suppressed(session, email):
        if not override_erasure:
            raise SubscriberError(
                f"{email} was erased and is suppressed; add it again only with the person's new "
                "consent: --override-erasure"
            )
        session.execute(
            sa.delete(Suppression).where(col(Suppression.email_hash) == email_hash(email))
        )
        consent = ConsentInfo(
            f"{OVERRIDE_SOURCE}; {consent.source}", consent.ip, consent.user_agent,
            consent.text_version,
        )  # fmt: skip
    now = utcnow()
    subscriber = Subscriber(
        key=new_key(), email=email, email_key=key_of(email), name=clean_name(name), created_at=now
    )
    cause = Cause.add_confirmed if confirmed else Cause.add
    move(session, subscriber, cause, f"added by staff{' over an erasure' * override_erasure}", now)
    record_consent(session, subscriber.id, consent, now)
    return subscriber


def erase(session: Session, email: str) -> bool:
    """Delete the subscriber with its consent and history; keep a hashed suppression entry.

    Returns whether the address was on the list. Either way it is suppressed afterwards.
    """
    subscriber = find(session, email)
    if subscriber is not None:
        move(session, subscriber, Cause.erase, "erased by staff", utcnow())
    digest = email_hash(email)
    if session.exec(select(Suppression).where(Suppression.email_hash == digest)).first() is None:
        session.add(Suppression(email_hash=digest, at=utcnow()))
    session.flush()
    return subscriber is not None


def listing(session: Session, status: Status | None = None) -> list[Subscriber]:
    query = select(Subscriber).order_by(col(Subscriber.created_at), col(Subscriber.id))
    if status is not None:
        query = query.where(Subscriber.status == status)
    return list(session.exec(query))


def counts(session: Session) -> dict[str, int]:
    """Subscribers per status, every status present (zero when none)."""
    rows = session.exec(
        select(Subscriber.status, func.count()).group_by(col(Subscriber.status))
    ).all()
    found = {str(status): int(n) for status, n in rows}
    return {status.value: found.get(status.value, 0) for status in Status}


def history(session: Session, subscriber: Subscriber) -> tuple[list[Consent], list[StatusEvent]]:
    consents = session.exec(
        select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(col(Consent.id))
    ).all()
    events = session.exec(
        select(StatusEvent)
        .where(StatusEvent.subscriber_id == subscriber.id)
        .order_by(col(StatusEvent.id))
    ).all()
    return list(consents), list(events)


def restore(session: Session, subscriber: Subscriber, consent: ConsentInfo) -> bool:
    """Staff putting an unsubscribed address back, with the person's new consent recorded
    (``consent.source`` required). Only an address that had confirmed before may come back
    this way (the ``resubscribe`` rule of status.MOVES); anyone else needs a fresh
    confirmation. Returns whether the status changed."""
    if not consent.source.strip():
        raise SubscriberError("say where and how the person agreed again (the consent source)")
    now = utcnow()
    if not move(session, subscriber, Cause.resubscribe, "resubscribed by staff", now):
        return False
    record_consent(session, subscriber.id, consent, now)
    return True


def may_resend(subscriber: Subscriber, now: datetime) -> str:
    """Why a confirmation email may not be sent again now ("" when it may): only a pending
    address, at most once per ``RESEND_AFTER`` (the rule a signup follows)."""
    if subscriber.status != Status.pending:
        return (
            f"only a pending address is sent a confirmation email (this one is {subscriber.status})"
        )
    last = subscriber.confirmation_sent_at
    if last is not None and now - last < RESEND_AFTER:
        return "a confirmation email went out less than an hour ago: wait before sending another"
    return ""
