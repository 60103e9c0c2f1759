"""What every transport takes and returns, and how it fails.

A ``Message`` is one body (subject, HTML, text) for up to ``Transport.max_batch`` recipients.
Each ``Recipient`` brings its own substitutions, headers and custom args, the way SendGrid's
personalizations do: substitutions are literal token -> value replacements applied to the
subject, the text and the HTML alike, so a caller passes only values that are safe in all three
(URLs made of URL-safe characters, or distinct tokens per part).

A recipient of a send also carries ``delivery_key``: the send and the ledger row it comes from,
the same on every run of that send. A transport that can see what it already delivered (the
outbox: a file of that name exists) delivers each key at most once, so a rerun after any
failure never sends that recipient a second message. SendGrid ignores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from newsletter.errors import DeliveryError as DeliveryError  # re-exported: how a transport fails


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    substitutions: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    custom_args: Mapping[str, str] = field(default_factory=dict)
    delivery_key: str = ""  # "<send started>-send<id>-delivery<id>"; "" outside a send


@dataclass(frozen=True)
class Message:
    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    recipients: Sequence[Recipient]
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    categories: Sequence[str] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResult:
    """What the transport accepted: every recipient of the batch, with the provider's id."""

    accepted: Sequence[str]
    message_id: str | None = None


def substitute(body: str, substitutions: Mapping[str, str]) -> str:
    """Literal token replacement, as SendGrid applies ``substitutions``."""
    for token, value in substitutions.items():
        body = body.replace(token, value)
    return body


class Transport(Protocol):
    """Hands a Message to the outside world; raises DeliveryError when it cannot."""

    max_batch: int

    def send(self, message: Message) -> BatchResult: ...
