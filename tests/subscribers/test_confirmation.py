"""Staff adding an address that has not agreed yet: pending, and the confirmation email's job,
which the email worker delivers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.email_jobs import queue
from newsletter.email_jobs.worker import drain
from newsletter.errors import SubscriberError
from newsletter.models import EmailJobState
from newsletter.subscribers.confirmation import add_pending
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.base import BatchResult, DeliveryError, Message
from tests.subscribers.conftest import Outbox, deliver, status_of

STAFF = ConsentInfo(source="added by staff: test")


class Refusing:
    """A transport that takes nothing, as a provider refusing the address would."""

    max_batch = 1

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, message: Message) -> BatchResult:
        self.messages.append(message)
        raise DeliveryError("mailbox full")


def test_added_pending_with_the_confirmation_email_sent(
    web_settings: Settings, store: sa.Engine, outbox: Outbox
) -> None:
    added, asked = add_pending(store, "ann@example.org", "Ann", STAFF, queue.ask)
    assert asked and (added.email, added.name, added.status) == (
        "ann@example.org",
        "Ann",
        "pending",
    )
    assert status_of(store, "ann@example.org") == "pending"
    assert outbox.messages() == []  # queued, not sent by the request
    assert deliver(web_settings, store).sent == 1
    [message] = outbox.to("ann@example.org")
    text = Outbox.text(message)
    assert f"{web_settings.base_url}/confirm/" in text
    assert "%%" not in text + Outbox.html(message)
    assert deliver(web_settings, store).sent == 0  # once


def test_a_refused_confirmation_is_recorded_and_leaves_the_address_pending(
    web_settings: Settings, store: sa.Engine
) -> None:
    refusing = Refusing()
    add_pending(store, "ann@example.org", "", STAFF, queue.ask)
    done = drain(web_settings, store, refusing)
    assert (done.failed, done.sent) == (1, 0)  # a refusal (not a 429/5xx) is not retried
    [job] = queue.listing(store, EmailJobState.failed)
    assert (job.kind, job.attempts, job.last_error) == ("confirmation", 1, "mailbox full")
    assert status_of(store, "ann@example.org") == "pending"
    assert len(refusing.messages) == 1
    with pytest.raises(SubscriberError, match="already on the list"):
        add_pending(store, "ann@example.org", "", STAFF, queue.ask)
    assert drain(web_settings, store, refusing).failed == 0  # no second job, no second email
    assert len(refusing.messages) == 1
