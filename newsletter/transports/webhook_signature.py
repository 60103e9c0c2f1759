"""SendGrid's Signed Event Webhook: the signature check (ECDSA P-256 over timestamp + raw body).

``sendgrid.helpers.eventwebhook`` does the cryptography; this module makes it safe to call on
hostile input (it raises on a malformed signature) and adds the timestamp tolerance.
"""

from __future__ import annotations

from collections.abc import Callable

from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader

from newsletter.errors import ConfigError

SIGNATURE_HEADER, TIMESTAMP_HEADER = EventWebhookHeader.SIGNATURE, EventWebhookHeader.TIMESTAMP
Verifier = Callable[[bytes, str, str, float], bool]


def event_verifier(public_key: str, tolerance: float) -> Verifier:
    """``verify(body, signature, timestamp, now)`` for SendGrid's Signed Event Webhook: ECDSA
    P-256 over timestamp + raw body, sent within ``tolerance`` seconds of ``now``. A bad key is
    a ConfigError now; anything malformed in a request is False later, never an exception."""
    try:
        helper = EventWebhook(public_key.strip())
    except (ValueError, TypeError) as exc:
        raise ConfigError("sendgrid_webhook_public_key is not a base64 DER public key") from exc
    if getattr(getattr(helper.public_key, "curve", None), "name", "") != "secp256r1":
        raise ConfigError("sendgrid_webhook_public_key is not an ECDSA P-256 key")

    def verify(body: bytes, signature: str, timestamp: str, now: float) -> bool:
        if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
            return False
        try:
            return bool(helper.verify_signature(body.decode(), signature, timestamp))
        except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError included
            return False

    return verify
