"""The double opt-in email: compiled once through the issue pipeline, built per person.

``templates/confirm.mjml.j2`` is compiled with a ``%%confirm_url%%`` placeholder the first time
it is needed; each email then costs only a substitution, like an issue. Nothing here sends:
a signup on the web (``store.signup``), staff adding an address (``add_pending``) or asking
again (``resend``), and imported pending addresses asked in bulk (``reconfirm``) each queue the
email's job in their transaction (``store.Ask``), and the email worker builds the message
(``Confirmations.message``, with a link signed at that moment) and sends it (``email_jobs/``).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Protocol

import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.errors import SubscriberError, UnknownSubscriber
from newsletter.issues import placeholders
from newsletter.issues.build import org_context
from newsletter.issues.compiler import compile_template, make_environment
from newsletter.models import (
    EmailJobKind,
    Subscriber,
    SubscriberStatus,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers import store
from newsletter.subscribers.address import sendable
from newsletter.subscribers.tokens import Tokens, confirm_url
from newsletter.transports.base import DeliveryError, Message, Recipient

TEMPLATE = "confirm"
URL_TOKEN = placeholders.token(placeholders.CONFIRM_URL)


class Addressee(Protocol):
    """Whom a confirmation goes to: a ``Subscriber``, or the row the email worker read."""

    @property
    def key(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...


class Confirmations:
    """Builds the confirmation email with a signed, expiring link."""

    def __init__(self, settings: Settings, tokens: Tokens) -> None:
        self.settings = settings
        self.tokens = tokens
        self.subject = f"Please confirm your subscription to {settings.organisation_name}"
        self._compiled: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def compiled(self) -> tuple[str, str]:
        """(html, text) with the placeholder; compiled on first use (CompileError if broken)."""
        with self._lock:
            if self._compiled is None:
                context = {
                    "org": org_context(self.settings),
                    "subject": self.subject,
                    "confirm": {
                        "url": Markup(URL_TOKEN),  # noqa: S704 (a constant placeholder)
                        "hours": self.settings.confirm_link_hours,
                    },
                }
                env = make_environment(self.settings.templates_dir)
                self._compiled = compile_template(env, TEMPLATE, context)
            return self._compiled

    def message(self, subscriber: Addressee) -> Message:
        """The email to one subscriber, addressed in ASCII (an international domain in
        punycode); DeliveryError for an address that has no ASCII form."""
        address = sendable(subscriber.email)
        if address is None:
            raise DeliveryError(f"{subscriber.email!r} cannot be mailed: non-ASCII before the @")
        html, text = self.compiled()
        url = confirm_url(self.settings.base_url, self.tokens.confirm_token(subscriber.key))
        settings = self.settings
        return Message(
            subject=self.subject,
            html=html,
            text=text,
            from_email=settings.from_email,
            from_name=settings.from_name,
            reply_to=settings.reply_to,
            categories=("confirmation",),
            recipients=[
                Recipient(
                    email=address,
                    name=subscriber.name,
                    substitutions={URL_TOKEN: url},
                )
            ],
        )


def add_pending(
    engine: sa.Engine,
    email: str,
    name: str,
    consent: store.ConsentInfo,
    ask: store.Ask,
    *,
    override_erasure: bool = False,
) -> tuple[Subscriber, bool]:
    """Staff adding an address that has not agreed yet: pending, and the confirmation email's
    job, in one transaction. An erased address needs ``override_erasure`` (see ``store.add``).
    Returns the subscriber and whether a job was queued."""
    with session_scope(engine) as session:
        added = store.add(
            session, email, name, confirmed=False, consent=consent,
            override_erasure=override_erasure,
        )  # fmt: skip
        now = utcnow()
        added.confirmation_sent_at = now  # asked: reconfirm and a resend wait for it
        session.add(added)
        session.flush()
        assert added.id is not None
        asked = ask(session, added.id, EmailJobKind.confirmation, now)
    return added, asked


def never_asked(engine: sa.Engine) -> int:
    """Pending subscribers who were never sent a confirmation email (imported ones)."""
    with Session(engine) as session:
        query = select(sa.func.count()).select_from(Subscriber).where(*_never_asked())
        return int(session.exec(query).one())


def _never_asked() -> tuple[sa.ColumnElement[bool], ...]:
    return (
        col(Subscriber.status) == SubscriberStatus.pending,
        col(Subscriber.confirmation_sent_at).is_(None),
    )


def reconfirm(
    engine: sa.Engine,
    ask: store.Ask,
    *,
    limit: int | None = None,
    per_second: float = 5.0,
    chunk: int = 500,
) -> int:
    """Queue the confirmation email of pending subscribers never sent one (an imported list),
    oldest first, ``limit`` in all, due ``1 / per_second`` seconds apart so the worker sends
    at most ``per_second`` a second. Returns how many were queued.

    Each person is marked asked (``confirmation_sent_at``, set only if it is still empty) in
    the transaction that queues their job, so two runs at once never ask anyone twice, and a
    run stopped half-way asks the rest next time.
    """
    gap = timedelta(seconds=1.0 / per_second) if per_second > 0 else timedelta(0)
    start, queued = utcnow(), 0
    while limit is None or queued < limit:
        size = chunk if limit is None else min(chunk, limit - queued)
        with session_scope(engine) as session:
            query = select(col(Subscriber.id)).where(*_never_asked()).order_by(col(Subscriber.id))
            ids = [i for i in session.exec(query.limit(size)) if i is not None]
            if not ids:
                break
            for subscriber_id in ids:
                if _claim(session, subscriber_id):  # else another run got there first
                    ask(session, subscriber_id, EmailJobKind.reconfirm, start + gap * queued)
                    queued += 1
    return queued


def _claim(session: Session, subscriber_id: int) -> bool:
    claimed = session.connection().execute(
        sa.update(subscriber_table)
        .where(subscriber_table.c.id == subscriber_id)
        .where(subscriber_table.c.status == SubscriberStatus.pending.value)
        .where(subscriber_table.c.confirmation_sent_at.is_(None))
        .values(confirmation_sent_at=utcnow())
    )
    return bool(claimed.rowcount)


def resend(engine: sa.Engine, subscriber_id: int, ask: store.Ask) -> Subscriber:
    """Staff asking a pending address again (``store.may_resend``: a pending address, at most
    once an hour): the confirmation email's job, queued in the same transaction."""
    with session_scope(engine) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            raise UnknownSubscriber("this subscriber is no longer on the list")
        now = utcnow()
        why = store.may_resend(person, now)
        if why:
            raise SubscriberError(why)
        person.confirmation_sent_at = now
        session.add(person)
        ask(session, subscriber_id, EmailJobKind.confirmation, now)
    return person
