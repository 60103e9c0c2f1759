"""The email job table and its worker: retries with backoff, failures recorded, deliberate
retries, jobs dropped when no longer needed, a crash mid-delivery left uncertain (never resent
by itself), and two worker processes draining one queue without sending anything twice.

Delivery goes through the SendGrid transport to the validating fake SendGrid on loopback, which
counts every address it accepted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.email_jobs import claims, queue
from newsletter.email_jobs.queue import DIED
from newsletter.email_jobs.worker import Delivery
from newsletter.models import EmailJobState, Role, email_job_table, utcnow
from newsletter.staff import accounts, links
from newsletter.subscribers import store
from newsletter.transports.factory import make_transport
from tests.conftest import run_cli
from tests.fake_sendgrid import FakeSendGrid

SECRET = "test-secret-key-for-signing-links-32+"
FORM = store.ConsentInfo(source="https://example.org/form")


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as running:
        yield running


def _settings(fake: FakeSendGrid, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "transport": "sendgrid",
        "sendgrid_api_key": fake.api_key,
        "sendgrid_host": fake.url,
        "sendgrid_timeout": 10,
        "base_url": "https://news.example.org",
    }
    return Settings(**(values | overrides))


def _env(fake: FakeSendGrid, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_TRANSPORT="sendgrid",
        NEWSLETTER_SENDGRID_API_KEY=fake.api_key,
        NEWSLETTER_SENDGRID_HOST=fake.url,
        NEWSLETTER_SENDGRID_TIMEOUT="10",
        NEWSLETTER_BASE_URL="https://news.example.org",
        **extra,
    )
    return env


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        if name.startswith("NEWSLETTER_"):
            monkeypatch.setenv(name, value)


def signup(engine: sa.Engine, address: str) -> bool:
    return store.signup(engine, address, "", FORM, queue.ask)


def _job(engine: sa.Engine, job_id: int = 1) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(email_job_table).where(email_job_table.c.id == job_id)
        ).one()


def _time_passes(engine: sa.Engine) -> None:
    """Every queued job due now, as if its backoff had passed."""
    with engine.begin() as connection:
        connection.execute(email_job_table.update().values(next_attempt_at=utcnow()))


def test_retries_back_off_then_the_failure_is_recorded_and_a_retry_is_deliberate(
    project, engine, fake, monkeypatch
):
    settings = _settings(fake, email_job_max_attempts=3, email_job_retry_base_delay=60)
    worker = Delivery(settings, engine, make_transport(settings))
    assert signup(engine, "ann@example.org")
    assert not signup(engine, "ann@example.org")  # within the hour: no second job
    fake.fail_next(3, 503)
    for attempt, ceiling in ((1, 60), (2, 120)):
        started = utcnow()
        assert worker.drain().retried == 1
        job = _job(engine)
        assert (job.state, job.attempts) == ("queued", attempt)
        assert "503" in job.last_error
        # exponential, with jitter: between half and all of base * 2^(attempt-1)
        wait = (job.next_attempt_at - started).total_seconds()
        assert ceiling / 2 - 1 <= wait <= ceiling + 1
        assert worker.drain().retried == 0  # not due yet: a pass leaves it
        _time_passes(engine)
    assert worker.drain().failed == 1
    job = _job(engine)
    assert (job.state, job.attempts) == ("failed", 3) and "(after 3 tries)" in job.last_error
    assert fake.recipients() == []

    _use_env(monkeypatch, _env(fake, settings.database_url))
    code, out, _ = run_cli("jobs")
    assert code == 0 and "failed: 1" in out and "503" in out
    code, out, _ = run_cli("jobs", "--format", "json")
    listed = json.loads(out)
    assert listed["counts"]["failed"] == 1
    assert listed["failed_or_uncertain"][0]["kind"] == "confirmation"
    code, out, _ = run_cli("jobs", "retry", "--failed")
    assert code == 0 and "1 email jobs queued again" in out
    code, out, _ = run_cli("worker", "--once")
    assert code == 0 and "1 sent" in out
    assert fake.recipients() == ["ann@example.org"]
    assert run_cli("worker", "--once")[1].startswith("email jobs: 0 sent")


def test_a_server_that_names_its_wait_is_believed(project, engine, fake):
    settings = _settings(fake, email_job_retry_base_delay=1)
    signup(engine, "ann@example.org")
    fake.fail_next(1, 429, reset_in=120)  # X-RateLimit-Reset two minutes from now
    started = utcnow()
    assert Delivery(settings, engine, make_transport(settings)).drain().retried == 1
    assert (_job(engine).next_attempt_at - started).total_seconds() >= 115


def test_jobs_no_longer_needed_are_dropped_and_secrets_wiped(project, engine, fake):
    settings = _settings(fake)
    for address in ("ann@example.org", "bo@example.org", "cy@example.org"):
        signup(engine, address)
    now = utcnow()
    with session_scope(engine) as session:
        store.confirm(session, store.require(session, "ann@example.org").key, now, now)
        store.erase(session, "bo@example.org")
    staff = accounts.add(engine, "dee@example.org", role=Role.editor, name="Dee")
    assert staff.id is not None
    used = links.create(engine, staff.id, links.INVITE)
    queue.ask_staff_link(engine, staff.id, used, links.INVITE)
    fresh = links.create(engine, staff.id, links.RESET)  # voids the first link
    queue.ask_staff_link(engine, staff.id, fresh, links.RESET)
    done = Delivery(settings, engine, make_transport(settings)).drain()
    assert (done.sent, done.dropped) == (2, 3)
    assert sorted(fake.recipients()) == ["cy@example.org", "dee@example.org"]
    [link_mail] = [a for a in fake.accepted if "dee@example.org" in a.recipients]
    assert fresh in json.dumps(link_mail.body) and used not in json.dumps(link_mail.body)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(email_job_table).order_by(email_job_table.c.id)).all()
    reasons = [(r.state, r.last_error) for r in rows]
    assert reasons[0] == ("dropped", "confirmed before the email went")
    assert reasons[1] == ("dropped", "erased before the email went")
    assert rows[1].subscriber_id is None  # nothing of the erased person is kept
    assert reasons[3][0] == "dropped" and "used or replaced" in reasons[3][1]
    assert [r.payload for r in rows] == [""] * 5  # the tokens are gone once finished


def _start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "worker", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # it says it runs before its first look
    assert first.startswith("email worker "), first + process.stderr.read()
    return process


def test_a_crash_mid_delivery_leaves_the_job_uncertain_not_resent(
    project, engine, fake, database_url, monkeypatch
):
    env = _env(fake, database_url)
    signup(engine, "ann@example.org")
    fake.slow_next(1, 5)  # the request reaches SendGrid, which takes its time to answer
    process = _start_worker(env, "--interval", "0.2")
    deadline = time.monotonic() + 60
    while fake.requests < 1:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # while the email is in flight
    process.communicate()
    assert _job(engine).state == "in_flight"
    fake.wait_idle()  # SendGrid did take it
    assert fake.recipients() == ["ann@example.org"]

    _use_env(monkeypatch, env)
    code, out, _ = run_cli("worker", "--once")
    assert code == 0 and "1 recovered" in out and "0 sent" in out
    job = _job(engine)
    assert (job.state, job.last_error) == ("uncertain", DIED)
    assert run_cli("worker", "--once")[0] == 0
    assert fake.recipients() == ["ann@example.org"]  # never resent by itself
    code, out, _ = run_cli("jobs")
    assert "uncertain: 1" in out and "the worker died" in " ".join(out.split())
    assert run_cli("jobs", "retry", str(job.id))[0] == 0  # the operator's decision
    assert "1 sent" in run_cli("worker", "--once")[1]
    assert fake.recipients() == ["ann@example.org"] * 2


def test_a_claim_elsewhere_is_uncertain_only_past_the_lease(project, engine, fake):
    settings = _settings(fake, email_job_lease=600)
    signup(engine, "ann@example.org")
    signup(engine, "bo@example.org")
    now = utcnow()
    for _ in range(2):  # two jobs in flight on a host we cannot see
        assert claims.claim(engine, "elsewhere.example:4242:abcd", due_by=now) is not None
    with engine.begin() as connection:  # the first was claimed an hour ago
        connection.execute(
            email_job_table.update()
            .where(email_job_table.c.id == 1)
            .values(claimed_at=now - timedelta(hours=1))
        )
    done = Delivery(settings, engine, make_transport(settings)).drain()
    assert (done.recovered, done.sent) == (1, 0)
    assert [_job(engine, 1).state, _job(engine, 2).state] == ["uncertain", "in_flight"]
    assert fake.recipients() == []


def test_two_worker_processes_deliver_each_job_once(project, engine, fake, database_url):
    env = _env(fake, database_url)
    workers = [_start_worker(env, "--interval", "0.2") for _ in range(2)]
    addresses = [f"reader{n}@example.net" for n in range(150)]
    try:
        for address in addresses:  # queued while both look at the table
            assert signup(engine, address)
        deadline = time.monotonic() + 180
        while queue.counts(engine)[EmailJobState.sent] < len(addresses):
            assert time.monotonic() < deadline, queue.counts(engine)
            assert all(w.poll() is None for w in workers)
            time.sleep(0.1)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [w.wait(30) for w in workers]
        for process in workers:
            process.communicate()
    assert codes == [0, 0]  # SIGTERM: stop after the email in flight, cleanly
    assert Counter(fake.recipients()) == Counter(addresses)  # everyone once
    with Session(engine) as session:
        who = session.execute(sa.select(email_job_table.c.claimed_by).distinct()).all()
    assert len(who) == 2  # both workers took part
    counts = queue.counts(engine)
    assert counts["sent"] == sum(counts.values()) == len(addresses)


def test_old_jobs_are_pruned_and_an_old_failed_link_forgotten(project, engine):
    staff = accounts.add(engine, "dee@example.org", role=Role.editor)
    assert staff.id is not None
    for _ in range(2):
        queue.ask_staff_link(engine, staff.id, "a-token", links.INVITE)
    signup(engine, "ann@example.org")
    for state in (EmailJobState.failed, EmailJobState.sent, EmailJobState.sent):
        job = claims.claim(engine, "here:1:x", due_by=utcnow())
        assert job is not None
        claims.settle(engine, job.id, "here:1:x", state, error="refused")
    with engine.begin() as connection:  # the failed link and one sent job ended long ago
        for job_id, age in ((1, timedelta(days=2)), (2, timedelta(days=31))):
            connection.execute(
                email_job_table.update()
                .where(email_job_table.c.id == job_id)
                .values(finished_at=utcnow() - age)
            )
    assert queue.prune(engine) == 1
    assert (_job(engine, 1).state, _job(engine, 1).payload) == ("failed", "")
    assert _job(engine, 3).state == "sent"
    assert queue.counts(engine) == {
        **dict.fromkeys(queue.counts(engine), 0),
        "failed": 1,
        "sent": 1,
    }


def test_a_pass_that_failed_half_way_leaves_its_job_uncertain_for_its_next_pass(
    project, engine, fake
):
    """The job claimed, then the database went away before it was settled: the same worker's
    next pass finds it in flight under its own name, and does not send it again."""
    settings = _settings(fake)
    signup(engine, "ann@example.org")
    worker = Delivery(settings, engine, make_transport(settings), worker="here:1:abcd")
    assert claims.claim(engine, worker.worker, due_by=utcnow()) is not None
    done = worker.drain()
    assert (done.recovered, done.sent) == (1, 0)
    assert _job(engine).state == "uncertain" and fake.recipients() == []
