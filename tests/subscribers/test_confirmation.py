"""Staff adding an address that has not agreed yet: pending, then the confirmation email."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import ConfirmationNotSent, SubscriberError
from newsletter.subscribers.confirmation import Confirmations, add_pending
from newsletter.subscribers.store import ConsentInfo
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.base import BatchResult, DeliveryError, Message, Transport
from newsletter.transports.outbox import OutboxTransport
from tests.subscribers.conftest import Outbox, status_of

STAFF = ConsentInfo(source="added by staff: test")


class Refusing:
    """A transport that takes nothing, as a full outbox disk or a bad API key would."""

    max_batch = 1

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, message: Message) -> BatchResult:
        self.messages.append(message)
        raise DeliveryError("mailbox full")


def _confirmations(settings: Settings, transport: Transport) -> Confirmations:
    return Confirmations(settings, transport, Tokens.from_settings(settings))


def test_added_pending_with_the_confirmation_email_sent(
    web_settings: Settings, store: sa.Engine, outbox: Outbox
) -> None:
    confirmations = _confirmations(web_settings, OutboxTransport(web_settings.outbox_dir))
    added = add_pending(store, "ann@example.org", "Ann", STAFF, confirmations)
    assert (added.email, added.name, added.status) == ("ann@example.org", "Ann", "pending")
    assert status_of(store, "ann@example.org") == "pending"
    [message] = outbox.to("ann@example.org")
    text = Outbox.text(message)
    assert f"{web_settings.base_url}/confirm/" in text
    assert "%%" not in text + Outbox.html(message)


def test_a_refused_confirmation_says_so_and_leaves_the_address_pending(
    web_settings: Settings, store: sa.Engine
) -> None:
    refusing = Refusing()
    confirmations = _confirmations(web_settings, refusing)
    with pytest.raises(ConfirmationNotSent) as raised:
        add_pending(store, "ann@example.org", "", STAFF, confirmations)
    assert str(raised.value) == (
        "added ann@example.org as pending, but the confirmation email was not sent: mailbox full"
    )
    assert isinstance(raised.value.__cause__, DeliveryError)
    assert status_of(store, "ann@example.org") == "pending"
    assert len(refusing.messages) == 1
    with pytest.raises(SubscriberError, match="already on the list"):
        add_pending(store, "ann@example.org", "", STAFF, confirmations)
    assert len(refusing.messages) == 1  # an address already there gets no second email
