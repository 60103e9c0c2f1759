"""What tests and bench/webhook.py need to play SendGrid's Event Webhook against our app: a
P-256 key that signs exactly as SendGrid does, event builders, a live send with known message
ids, and the app served by uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from newsletter.models import DeliveryStatus, Subscriber, SubscriberStatus, utcnow
from newsletter.sending import ledger

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class SigningKey:
    """SendGrid's side: ECDSA P-256, SHA-256, over timestamp + raw body; base64 DER both ways."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE: base64.b64encode(signed).decode(),
            TIMESTAMP: stamp,
            "Content-Type": "application/json",
        }


def event(kind: str, email: str = "", **fields: Any) -> dict[str, Any]:
    """One event as SendGrid posts it (custom_args go in ``fields``, as top-level keys)."""
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "smtp-id": f"<{uuid.uuid4().hex}@ismtpd-1>",
        **fields,
    }


def for_delivery(kind: str, message_id: str, email: str, **fields: Any) -> dict[str, Any]:
    """An event matched only through sg_message_id (no custom_args), as async bounces come."""
    suffix = f".filter0001.{uuid.uuid4().int % 100000}.5515E0B88.0"
    return event(kind, email, sg_message_id=message_id + suffix, **fields)


def add_confirmed(engine: sa.Engine, count: int, *, start: int = 0) -> None:
    """Confirmed subscribers reader{i}@example.net, inserted in bulk."""
    now = utcnow()
    table = Subscriber.__table__  # type: ignore[attr-defined]  # not declared by SQLModel
    rows = [
        {
            "key": uuid.uuid4().hex,
            "email": f"reader{i}@example.net",
            "name": f"Reader {i}",
            "status": SubscriberStatus.confirmed.value,
            "created_at": now,
            "confirmed_at": now,
        }
        for i in range(start, start + count)
    ]
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)


def live_send(
    engine: sa.Engine,
    slug: str = "2016-q3",
    *,
    batch: int = 1000,
    status: DeliveryStatus = DeliveryStatus.accepted,
) -> tuple[int, dict[str, tuple[int, str]]]:
    """A live send to every confirmed subscriber, settled batch by batch with ``status`` as the
    ledger would after SendGrid's answer; (send id, {email: (subscriber id, message id)})."""
    content = ledger.Content(slug, f"Issue {slug}", "<p>hi</p>", "hi", uuid.uuid4().hex)
    send = ledger.start_live(engine, content)
    assert send.id is not None
    sent: dict[str, tuple[int, str]] = {}
    while claimed := ledger.claim(engine, send.id, worker := ledger.worker_id(), batch):
        message_id = uuid.uuid4().hex[:22]
        ledger.settle(engine, send.id, worker, status, message_id=message_id)
        for recipient in claimed.recipients:
            assert recipient.subscriber_id is not None
            sent[recipient.email] = (recipient.subscriber_id, message_id)
    return send.id, sent


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The ASGI app under uvicorn in a thread on 127.0.0.1, port 0; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
