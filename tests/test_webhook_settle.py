"""Crash, then settle: a real send process is killed with SIGKILL while SendGrid (the fake) holds
a batch; its rows become uncertain; SendGrid's events for what it accepted settle them."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import httpx
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.sending import report as reporting
from newsletter.transports.outbox import OutboxTransport
from newsletter.web.app import create_app
from tests.fake_sendgrid import FakeSendGrid
from tests.test_send_processes import SENDER, _add, _env, _send, _uncertain
from tests.webhook_kit import SigningKey, event, served


def _events_for(fake: FakeSendGrid) -> list[dict[str, Any]]:
    """What SendGrid would post for every message it accepted: processed, then delivered."""
    events = []
    for request in fake.accepted:
        for person in request.body["personalizations"]:
            email = person["to"][0]["email"]
            for kind in ("processed", "delivered"):
                fields = {"sg_message_id": f"{request.message_id}.filter0001.1.2.0"}
                events.append(event(kind, email, **person.get("custom_args", {}), **fields))
    return events


def test_uncertain_rows_left_by_a_killed_send_are_settled_by_events(project, synced, database_url):
    _add(synced, 40)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        fake.slow_next(1000, 0.2)
        process = _send(env)
        deadline = time.monotonic() + 60
        while not (fake.requests >= 3 and fake.requests > len(fake.accepted)):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()  # reaps it and closes its pipes
        fake.wait_idle()
        resumed = _send(env)  # finds the dead worker's rows and marks them uncertain
        _, err = resumed.communicate(timeout=120)  # reads and closes its pipes
        assert resumed.returncode == 1 and "see: newsletter report" in err, err  # uncertain rows
        uncertain = _uncertain(synced)
        assert uncertain
        reached = set(fake.recipients())
        events = _events_for(fake)
    key = SigningKey()
    settings = Settings(secret_key="x" * 32, sendgrid_webhook_public_key=key.public)
    app = create_app(settings, synced, OutboxTransport(project / "outbox"))
    body = json.dumps(events).encode()
    with served(app) as url:
        answer = httpx.post(
            f"{url}/webhooks/sendgrid",
            content=body,
            headers=key.headers(body),
            timeout=60,
            trust_env=False,
        )
    assert answer.status_code == 200, answer.text
    with Session(synced) as session:
        [row] = reporting.report(session, "2016-q3")
    assert uncertain & reached  # the batch held at the kill was accepted after all
    assert row["uncertain_settled"] == len(uncertain & reached)
    assert row["uncertain_remaining"] == len(uncertain - reached)
    assert row["delivered"] == len(reached) and row["accepted"] == 0
    assert not _uncertain(synced) & reached
