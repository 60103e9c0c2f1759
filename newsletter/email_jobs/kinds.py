"""Each kind of email job becomes its Message at delivery time, or is dropped with a reason.

A confirmation (and a re-permission email) is built from the subscriber as they are now (read in
the transaction that claimed the job, ``claims.next_job``), with
a freshly signed link (``subscribers/confirmation.py``): nothing of it is stored in the job, and
a person who confirmed or was erased meanwhile gets nothing. A staff sign-in link is the one
thing fixed when it was asked for: its token is in the job's payload (only its SHA-256 is in
``staff_link``), and the email goes only while the link still works.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.email_jobs.claims import Claimed, Person
from newsletter.models import EmailJobKind, Subscriber, SubscriberStatus
from newsletter.staff import invitation, links
from newsletter.subscribers.confirmation import Confirmations
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.base import Message


@dataclass(frozen=True)
class Drop:
    """The job is not needed any more, and why."""

    reason: str


class Kinds:
    """Builds each job's message; the confirmation template is compiled once per worker."""

    def __init__(self, settings: Settings, engine: sa.Engine) -> None:
        self.settings, self.engine = settings, engine
        self.confirmations = Confirmations(settings, Tokens.from_settings(settings))

    def message(self, job: Claimed) -> Message | Drop:
        """The email to send for ``job``, addressed with its delivery key; Drop when none is
        due. DeliveryError: an address that cannot be mailed."""
        if job.kind == EmailJobKind.staff_link:
            built = self._staff_link(job)
        else:
            built = self._confirmation(job)
        if isinstance(built, Drop):
            return built
        return keyed(built, delivery_key(job))

    def _confirmation(self, job: Claimed) -> Message | Drop:
        if job.subscriber_id is None:
            return Drop("erased before the email went")
        person = job.person if job.person is not None else self._person(job.subscriber_id)
        if person is None:
            return Drop("erased before the email went")
        if person.status == SubscriberStatus.confirmed:
            return Drop("confirmed before the email went")
        if job.kind == EmailJobKind.reconfirm and person.status != SubscriberStatus.pending:
            return Drop(f"{person.status} before the email went")
        return self.confirmations.message(person)

    def _person(self, subscriber_id: int) -> Person | None:
        """The subscriber, when the claim did not read them (``claims.next_job`` does)."""
        with Session(self.engine) as session:
            found = session.get(Subscriber, subscriber_id)
        if found is None or found.id is None:
            return None
        return Person(found.id, found.key, found.email, found.name, found.status)

    def _staff_link(self, job: Claimed) -> Message | Drop:
        token, purpose = job.payload.get("token"), job.payload.get("purpose")
        if not isinstance(token, str) or purpose not in links.PURPOSES:
            return Drop("the sign-in link is no longer stored")
        found = links.peek(self.engine, token)
        if found is None or found[1].id != job.staff_id:
            return Drop("the sign-in link was used or replaced, expired, or its account disabled")
        return invitation.message(self.settings, found[1], token, str(purpose))


def delivery_key(job: Claimed) -> str:
    """``<created>-job<id>``: what names the job's message in the outbox, so a deliberate retry
    of an uncertain job never writes a second file (transports/outbox.py)."""
    return f"{job.created_at:%Y%m%dT%H%M%S}-job{job.id}"


def keyed(message: Message, key: str) -> Message:
    return replace(message, recipients=[replace(r, delivery_key=key) for r in message.recipients])
