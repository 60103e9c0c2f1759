"""End to end over HTTP against a real uvicorn on loopback."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import httpx2 as httpx

from newsletter.config import Settings
from newsletter.issues.build import build_issue
from newsletter.sending.sender import Sender, SendOptions
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.outbox import OutboxTransport
from tests.live import serving
from tests.subscribers.conftest import Outbox, status_of


def _arrived(outbox: Outbox, address: str) -> list[EmailMessage]:
    """The messages to ``address``, once the server's email worker has written one."""
    deadline = time.monotonic() + 30
    while not (found := outbox.to(address)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_sign_up_confirm_by_email_link_then_one_click_unsubscribe(web_settings, synced, outbox):
    engine = synced
    # the app's lifespan on, with its email worker: the signup wakes it, it sends the email
    server = serving(lambda base: Settings(base_url=base, email_worker_in_server=True), engine)
    with server as (base, settings), httpx.Client(base_url=base) as http:
        form = http.get("/subscribe")
        assert form.status_code == 200 and "<form" in form.text
        answer = http.post(
            "/subscribe", data={"email": "dara@example.org", "name": "Dara"}, follow_redirects=True
        )
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert [r.status_code for r in answer.history] == [303]  # Post/Redirect/Get
        assert status_of(engine, "dara@example.org") == "pending"

        # the confirmation email, read from the outbox like a mail client would
        [confirmation] = _arrived(outbox, "dara@example.org")
        link = re.search(rf"{re.escape(base)}/confirm/[A-Za-z0-9_.\-]+", Outbox.text(confirmation))
        assert link is not None
        page = httpx.get(link.group(0))
        assert page.status_code == 200 and "You are subscribed" in page.text
        assert status_of(engine, "dara@example.org") == "confirmed"

        # an issue compiled once, personalised for Dara, sent through the outbox
        _send_issue(settings, engine, base)
        issue = next(m for m in outbox.to("dara@example.org") if "Q3 2016" in m["Subject"])
        assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        target = issue["List-Unsubscribe"].strip().strip("<>")  # unfolded
        assert target.startswith(f"{base}/unsubscribe/")
        assert target in Outbox.html(issue)  # the visible link is the same URL
        assert f"Unsubscribe ({target})" in Outbox.text(issue)
        assert f'href="{base}/archive/2016-q3"' in Outbox.html(issue)  # view in the browser
        assert "%%" not in Outbox.html(issue) + Outbox.text(issue) + issue["Subject"]

        # what a mailbox provider does: POST the one-click body, no redirects followed
        done = httpx.post(target, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
        assert done.status_code == 200
        assert status_of(engine, "dara@example.org") == "unsubscribed"

        health = http.get("/healthz")
        assert health.json()["status"] == "ok"


def _send_issue(settings: Settings, engine, base: str) -> None:
    """The real path: a live send by the Sender, through the outbox transport."""
    compiled = build_issue(settings, engine, "2016-q3").compiled
    outbox = OutboxTransport(settings.outbox_dir)
    tokens = Tokens.from_settings(settings)
    sender = Sender(engine, outbox, tokens, SendOptions.from_settings(settings))
    progress = sender.run(sender.start_live(compiled))
    assert (progress.accepted, progress.failed, progress.uncertain) == (1, 0, 0)
