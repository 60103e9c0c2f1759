"""One recipient's envelope of a send: substitutions, List-Unsubscribe headers, custom args.

This runs once per recipient (a million times for a large list), so everything that is the same
for the whole send (the view URL, the placeholder tokens, the delivery-key prefix, the send id as
a string, a proof's links) is worked out once, in ``Personaliser.__init__``, and the per-recipient
step is the HMAC of the unsubscribe link, the HTML escaping of the values and a few dicts.
"""

from __future__ import annotations

import html
from datetime import UTC

from newsletter.issues import placeholders
from newsletter.models import Send, SendKind
from newsletter.sending.ledger import Claimed
from newsletter.subscribers.tokens import Tokens, proof_urls
from newsletter.transports.base import Recipient

ONE_CLICK = "List-Unsubscribe=One-Click"


def delivery_key_prefix(send: Send) -> str:
    """What every delivery key of a send begins with (``delivery_key`` adds the row id)."""
    return f"{send.started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-send{send.id}-delivery"


def delivery_key(send: Send, delivery_id: int) -> str:
    """The same on every run of a send: the outbox names its file by it and writes it once.
    The start time keeps keys apart when a database is started afresh beside an old outbox."""
    return f"{delivery_key_prefix(send)}{delivery_id}"


class Personaliser:
    """Makes the ``Recipient`` of each claimed row of one send."""

    def __init__(self, send: Send, base_url: str, tokens: Tokens) -> None:
        assert send.id is not None
        self.tokens = tokens
        self.unsubscribe_base = f"{base_url.rstrip('/')}/unsubscribe/"
        self.view = f"{base_url}/archive/{send.issue_slug}"
        self.proof: tuple[str, str] | None = None
        if send.kind == SendKind.test:  # a proof's links explain the proof, change nobody
            self.proof = proof_urls(base_url, tokens, send.id)
            self.view = self.proof[1]
        self.key_prefix = delivery_key_prefix(send)
        self.send_id = str(send.id)
        wanted = sorted(placeholders.used_by_send(send.html, send.text))
        unknown = set(wanted) - set(placeholders.NAMES)
        if unknown:  # as placeholders.substitutions would say, before any batch goes
            raise KeyError(f"no value for placeholders: {', '.join(sorted(unknown))}")
        self.tokens_of = tuple(
            (name, placeholders.token(name), placeholders.token(name + placeholders.HTML_TWIN))
            for name in wanted
        )

    def recipient(self, claimed: Claimed) -> Recipient:
        if self.proof is not None:
            unsubscribe, view = self.proof
        else:
            unsubscribe = self.unsubscribe_base + self.tokens.unsubscribe_token(claimed.key)
            view = self.view
        values = {
            "email": claimed.email,
            "name": claimed.name,
            "unsubscribe_url": unsubscribe,
            "view_url": view,
        }
        substitutions = {}
        for name, raw, escaped in self.tokens_of:  # see placeholders.substitutions
            value = values[name]
            substitutions[raw] = value
            substitutions[escaped] = html.escape(value, quote=True)
        custom_args = {"send_id": self.send_id}
        if claimed.subscriber_id is not None:
            custom_args["subscriber_id"] = str(claimed.subscriber_id)
        return Recipient(
            email=claimed.email,
            name=claimed.name,
            substitutions=substitutions,
            headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": ONE_CLICK},
            custom_args=custom_args,
            delivery_key=self.key_prefix + str(claimed.delivery_id),
        )
