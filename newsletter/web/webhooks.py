"""``POST /webhooks/sendgrid``: SendGrid's Event Webhook, verified, then applied in one go.

The signature covers the exact bytes of the body, so the body is read raw and verified before
it is parsed. A missing, malformed, wrong or stale signature is a 403 that changes nothing; a
body that is not a JSON array is a 400; anything else is a 200 with what was applied (SendGrid
retries non-2xx answers for 24 h, and the sg_event_id record makes retries harmless).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.errors import WebhookError
from newsletter.models import utcnow
from newsletter.sending import events
from newsletter.transports.webhook_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verifier,
    event_verifier,
)

router = APIRouter()
log = logging.getLogger("newsletter.webhooks")
PATH = "/webhooks/sendgrid"
MAX_BODY = 16 * 1024 * 1024  # SendGrid sends at most 768 KB at once; web/edge.py enforces it
UNVERIFIED = (
    "sendgrid_webhook_verify is off: POST /webhooks/sendgrid accepts unsigned events, so "
    "anyone who can reach it can unsubscribe or bounce your subscribers"
)
NO_KEY = (
    "the SendGrid Event Webhook is not set up: set sendgrid_webhook_public_key to the "
    "verification key of the Signed Event Webhook"
)


@dataclass(frozen=True)
class EventHook:
    """What the endpoint needs, built once per app. ``verifier`` is None when there is none."""

    engine: sa.Engine
    policy: events.Policy
    verify: bool
    verifier: Verifier | None


def setup(settings: Settings, engine: sa.Engine) -> EventHook:
    """A bad key stops the app (ConfigError); verification off is logged as a warning."""
    key = settings.sendgrid_webhook_public_key.strip()
    tolerance = settings.sendgrid_webhook_tolerance
    verify = settings.sendgrid_webhook_verify
    verifier = event_verifier(key, tolerance) if verify and key else None
    if not verify:
        log.warning(UNVERIFIED)
    return EventHook(engine, events.Policy.from_settings(settings), verify, verifier)


def startup_warning(settings: Settings) -> str | None:
    """What ``newsletter serve`` should say about the webhook before it starts, if anything."""
    if not settings.sendgrid_webhook_verify:
        return UNVERIFIED
    if settings.transport == "sendgrid" and not settings.sendgrid_webhook_public_key.strip():
        return f"{NO_KEY}; until then it answers 503"
    return None


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _signed(hook: EventHook, request: Request, body: bytes) -> bool:
    if hook.verifier is None:
        log.warning(UNVERIFIED)
        return True
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    return hook.verifier(body, signature, timestamp, time.time())


def _apply(hook: EventHook, body: bytes) -> events.Applied:
    """Parse and apply a verified body in one transaction (in a worker thread); WebhookError
    when it is not a JSON array."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookError("the body is not JSON") from exc
    parsed = events.parse(decoded)
    with Session(hook.engine) as session:
        result = events.apply(session, parsed, hook.policy, utcnow())
        session.commit()
    result.received, result.ignored = len(decoded), len(decoded) - len(parsed)
    return result


@router.post(PATH)
async def sendgrid_events(request: Request) -> JSONResponse:
    hook: EventHook = request.app.state.event_hook
    if hook.verify and hook.verifier is None:
        return _problem(503, NO_KEY)
    body = await _body(request)
    if body is None:
        return _problem(413, f"the body is larger than {MAX_BODY // 1024 // 1024} MB")
    if not _signed(hook, request, body):
        log.warning("refused an Event Webhook request: missing, bad or stale signature")
        return _problem(403, "missing, malformed, wrong or stale Event Webhook signature")
    try:
        result = await run_in_threadpool(_apply, hook, body)
    except WebhookError:
        return _problem(400, "the body must be a JSON array of SendGrid events")
    return JSONResponse(asdict(result))
