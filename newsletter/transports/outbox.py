"""``OutboxTransport``: every recipient's message as a real RFC 5322 ``.eml`` file.

The default transport, for trying things out and for tests: the files carry the same headers
SendGrid would get (From with display name, To, Subject, Reply-To, Date, Message-ID, the
message's and the recipient's own headers such as ``List-Unsubscribe``), with the recipient's
substitutions applied, as ``multipart/alternative`` (plain text, then HTML). Categories and
custom args, which SendGrid keeps outside the message, are written as ``X-Categories`` and
``X-Custom-Args`` (JSON) so they can be inspected. Files are written under a temporary name and
renamed, so a reader never sees half a message.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from newsletter.transports.base import BatchResult, DeliveryError, Message, Recipient, substitute

_NO_HEADER = frozenset({"from", "to", "subject", "reply-to", "date", "message-id"})

# CRLF line ends; headers are not folded below RFC 5322's 998-character limit, so a long
# List-Unsubscribe URL stays one readable <https://...> instead of RFC 2047 encoded words.
WIRE = policy.SMTP.clone(max_line_length=998)


def check_header(name: str, value: str) -> None:
    """Refuse header injection: no CR or LF in any header name or value."""
    if any(c in name or c in value for c in "\r\n") or not name.strip():
        raise DeliveryError(f"header {name!r} contains a line break; refused")


class OutboxTransport:
    max_batch = 1000

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)

    def send(self, message: Message) -> BatchResult:
        batch = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"
        built = [(r, self.build(message, r)) for r in message.recipients]
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        for number, (_recipient, email) in enumerate(built):
            target = self.outbox_dir / f"{batch}-{number:04d}.eml"
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(email.as_bytes(policy=WIRE))
            temporary.replace(target)
        return BatchResult(accepted=[r.email for r, _ in built], message_id=batch)

    def build(self, message: Message, recipient: Recipient) -> EmailMessage:
        """The RFC 5322 message for one recipient; DeliveryError on a header with CR/LF."""
        subject = substitute(message.subject, recipient.substitutions)
        fields = {
            "From": _address(message.from_name, message.from_email),
            "To": _address(recipient.name, recipient.email),
            "Subject": subject,
        }
        if message.reply_to:
            fields["Reply-To"] = _address("", message.reply_to)
        extra = [*_items(message.headers), *_items(recipient.headers)]
        for name, value in [*fields.items(), *extra]:
            check_header(name, value)
        email = EmailMessage()
        for name, value in fields.items():
            email[name] = value
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = make_msgid(domain=message.from_email.rpartition("@")[2] or None)
        for name, value in extra:
            if name.lower() in _NO_HEADER:
                raise DeliveryError(f"header {name!r} is set by the transport; refused")
            email[name] = value
        if message.categories:
            email["X-Categories"] = json.dumps(list(message.categories))
        custom = {**message.custom_args, **recipient.custom_args}
        if custom:
            email["X-Custom-Args"] = json.dumps(custom, sort_keys=True)
        email.set_content(substitute(message.text, recipient.substitutions))
        email.add_alternative(substitute(message.html, recipient.substitutions), subtype="html")
        return email


def _items(headers: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    return headers.items()


def _address(name: str, email: str) -> str:
    check_header("address", name + email)
    try:
        return str(Address(display_name=name, addr_spec=email))
    except (ValueError, IndexError) as exc:
        raise DeliveryError(f"{email!r} is not an address a message can go to: {exc}") from exc
