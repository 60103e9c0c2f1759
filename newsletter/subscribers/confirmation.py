"""The double opt-in email: compiled once through the issue pipeline, sent per signup.

``templates/confirm.mjml.j2`` is compiled with a ``%%confirm_url%%`` placeholder the first time
it is needed; each signup then costs only a substitution and a transport call, like an issue.
A signup on the web goes through ``store.signup``; staff adding an address through
``add_pending``; imported pending addresses, asked in bulk, through ``reconfirm``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.errors import ConfirmationNotSent, SubscriberError, UnknownSubscriber
from newsletter.issues import placeholders
from newsletter.issues.build import org_context
from newsletter.issues.compiler import compile_template, make_environment
from newsletter.models import Subscriber, SubscriberStatus, subscriber_table, utcnow
from newsletter.subscribers import store
from newsletter.subscribers.address import sendable
from newsletter.subscribers.tokens import Tokens, confirm_url
from newsletter.transports.base import DeliveryError, Message, Recipient, Transport

TEMPLATE = "confirm"
URL_TOKEN = placeholders.token(placeholders.CONFIRM_URL)


class Confirmations:
    """Sends the confirmation email with a signed, expiring link through ``transport``."""

    def __init__(self, settings: Settings, transport: Transport, tokens: Tokens) -> None:
        self.settings = settings
        self.transport = transport
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

    def message(self, subscriber: Subscriber) -> Message:
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

    def send(self, subscriber: Subscriber) -> None:
        self.transport.send(self.message(subscriber))


def add_pending(
    engine: sa.Engine,
    email: str,
    name: str,
    consent: store.ConsentInfo,
    confirmations: Confirmations,
    *,
    override_erasure: bool = False,
) -> Subscriber:
    """Staff adding an address that has not agreed yet: pending, then the confirmation email.

    The address is added in its own transaction first; if the transport refuses the email it
    stays pending and ConfirmationNotSent says so. An erased address needs
    ``override_erasure`` (see ``store.add``).
    """
    with session_scope(engine) as session:
        added = store.add(
            session, email, name, confirmed=False, consent=consent,
            override_erasure=override_erasure,
        )  # fmt: skip
        added.confirmation_sent_at = utcnow()  # asked: reconfirm and a resend wait for it
        session.add(added)
    try:
        confirmations.send(added)
    except DeliveryError as exc:
        _release(engine, added)
        raise ConfirmationNotSent(
            f"added {added.email} as pending, but the confirmation email was not sent: {exc}"
        ) from exc
    return added


@dataclass
class Reconfirmed:
    """What a ``reconfirm`` run did: who was sent the email, and who could not be."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


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
    confirmations: Confirmations,
    *,
    limit: int | None = None,
    per_second: float = 5.0,
    progress: Callable[[int], None] = lambda _done: None,
) -> Reconfirmed:
    """Send the confirmation email to pending subscribers never sent one (an imported list),
    oldest first, at most ``per_second`` a second and ``limit`` in all.

    Each person is claimed before the email goes out (``confirmation_sent_at`` set only if it
    is still empty), so two runs at once, or a run after a crash, never send anyone a second
    one; an email the transport refuses releases the claim, so the next run tries again. A
    crash between the claim and the send leaves that person claimed but not emailed (at most
    one per run): asking twice is worse than not asking.
    """
    with Session(engine) as session:
        query = select(Subscriber).where(*_never_asked()).order_by(col(Subscriber.id))
        people = list(session.exec(query.limit(limit) if limit else query))
    done = Reconfirmed()
    gap = 1.0 / per_second if per_second > 0 else 0.0
    for number, person in enumerate(people):
        if number and gap:
            time.sleep(gap)
        if _claim(engine, person):  # else another run got there first
            try:
                confirmations.send(person)
            except DeliveryError as exc:
                _release(engine, person)
                done.failed.append((person.email, str(exc)))
            else:
                done.sent.append(person.email)
        progress(number + 1)
    return done


def _claim(engine: sa.Engine, person: Subscriber) -> bool:
    with session_scope(engine) as session:
        claimed = session.connection().execute(
            sa.update(subscriber_table)
            .where(subscriber_table.c.id == person.id)
            .where(subscriber_table.c.status == SubscriberStatus.pending.value)
            .where(subscriber_table.c.confirmation_sent_at.is_(None))
            .values(confirmation_sent_at=utcnow())
        )
        return bool(claimed.rowcount)


def _release(engine: sa.Engine, person: Subscriber) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            sa.update(subscriber_table)
            .where(subscriber_table.c.id == person.id)
            .values(confirmation_sent_at=None)
        )


def resend(engine: sa.Engine, subscriber_id: int, confirmations: Confirmations) -> Subscriber:
    """Staff sending a pending address its confirmation email again (``store.may_resend``: a
    pending address, at most once an hour). An email the transport refuses is not counted."""
    with session_scope(engine) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            raise UnknownSubscriber("this subscriber is no longer on the list")
        why = store.may_resend(person, utcnow())
        if why:
            raise SubscriberError(why)
        person.confirmation_sent_at = utcnow()
        session.add(person)
    try:
        confirmations.send(person)
    except DeliveryError as exc:
        _release(engine, person)
        raise ConfirmationNotSent(f"the confirmation email was not sent: {exc}") from exc
    return person
