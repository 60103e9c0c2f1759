"""The outage test: SendGrid is down (nothing listens where it should be) while people sign up
through a real `newsletter serve` process. Every signup is answered 200 and stored at once; when
SendGrid comes back, the server's own email worker delivers every confirmation exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import sqlalchemy as sa

from newsletter.email_jobs import queue
from newsletter.models import subscriber_table
from tests.fake_sendgrid import FakeSendGrid

SECRET = "test-secret-key-for-signing-links-32+"
API_KEY = "SG.fake-key.for-tests"
PEOPLE = [f"reader{n}@example.net" for n in range(20)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def _serve(database_url: str, sendgrid_port: int) -> Iterator[str]:
    """`python -m newsletter serve` on a free port, its transport SendGrid on ``sendgrid_port``;
    yields its base URL; stopped with SIGINT (as Ctrl-C) at the end."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_BASE_URL=base,
        NEWSLETTER_SIGNUP_RATE_LIMIT="off",
        NEWSLETTER_SCHEDULER_IN_SERVER="false",
        NEWSLETTER_TRANSPORT="sendgrid",
        NEWSLETTER_SENDGRID_API_KEY=API_KEY,
        NEWSLETTER_SENDGRID_HOST=f"http://127.0.0.1:{sendgrid_port}",
        NEWSLETTER_SENDGRID_TIMEOUT="10",
        # an outage of seconds here: retries every few tenths of a second, and plenty of them
        NEWSLETTER_EMAIL_JOB_RETRY_BASE_DELAY="0.2",
        NEWSLETTER_EMAIL_JOB_RETRY_MAX_DELAY="0.5",
        NEWSLETTER_EMAIL_JOB_MAX_ATTEMPTS="100",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "newsletter serve did not start"
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    # uvicorn hands Ctrl-C back once it has shut down (exit status 130): a clean stop
    assert "Application shutdown complete" in err and "Traceback" not in err, err


def test_signups_while_sendgrid_is_down_are_answered_and_confirmed_once_it_is_back(
    project, engine, database_url
):
    sendgrid_port = _free_port()  # nothing listens there yet: SendGrid is down
    with _serve(database_url, sendgrid_port) as base, httpx.Client(base_url=base) as http:
        for address in PEOPLE:
            answer = http.post("/subscribe", json={"email": address, "name": "Reader"})
            assert answer.status_code == 200 and answer.json()["status"] == "ok"
        with engine.connect() as connection:
            stored = connection.execute(sa.select(subscriber_table.c.email)).scalars().all()
        assert sorted(stored) == sorted(PEOPLE)
        counts = queue.counts(engine)
        assert counts["sent"] == 0 and counts["queued"] + counts["in_flight"] == len(PEOPLE)

        with FakeSendGrid(API_KEY, port=sendgrid_port) as fake:  # SendGrid is back
            deadline = time.monotonic() + 120
            while queue.counts(engine)["sent"] < len(PEOPLE):
                assert time.monotonic() < deadline, queue.counts(engine)
                time.sleep(0.1)
            fake.wait_idle()
            assert Counter(fake.recipients()) == Counter(PEOPLE)  # every one, once
            assert fake.rejected == []
    assert queue.counts(engine)["sent"] == len(PEOPLE)
