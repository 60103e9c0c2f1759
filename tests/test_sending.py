"""Sending: the ledger, test sends, exactly-once delivery, retries, stops and resumes.

Real parts only: the outbox writes real .eml files; SendGrid is the validating fake on loopback;
crashes are real processes killed with SIGKILL.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.errors import CheckFailed
from newsletter.models import DeliveryStatus, SubscriberStatus, utcnow
from newsletter.sending.sender import checked_build
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.fake_sendgrid import FakeSendGrid

SECRET = "test-secret-key-for-signing-links"
SENDER = "newsletter@mpat.example.org"


@pytest.fixture
def sending(project, synced, monkeypatch):
    """The sample project with a secret key; returns the engine."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    return synced


def add(engine, count: int, *, start: int = 0, status=SubscriberStatus.confirmed, name=""):
    with Session(engine) as session:
        for i in range(start, start + count):
            person = subscribers.add(
                session,
                f"reader{i}@example.net",
                name or f"Reader {i}",
                confirmed=True,
                consent=ConsentInfo(source="test"),
            )
            if status != SubscriberStatus.confirmed:
                person.status = status
                session.add(person)
        session.commit()


def _eml(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def report(slug: str = "2016-q3") -> list[dict[str, Any]]:
    code, out, _ = run_cli("report", slug, "--format", "json")
    assert code == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_live_send_through_the_outbox_reaches_each_confirmed_subscriber_once(sending, project):
    add(sending, 3)
    add(sending, 1, start=10, name='Tom & "Jerry" <b>')
    add(sending, 2, start=20, status=SubscriberStatus.unsubscribed)
    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 0, err
    assert "4 accepted, 0 failed, 0 uncertain" in out
    files = sorted((project / "outbox").glob("*.eml"))
    assert len(files) == 4
    by_to = {str(_eml(f)["To"]): _eml(f) for f in files}
    message = next(m for to, m in by_to.items() if "reader10@" in to)
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<http://localhost:8000/unsubscribe/") and header.endswith(">")
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert f'href="{header[1:-1]}"' in html  # the visible link is the header's URL
    assert f"Unsubscribe ({header[1:-1]})" in text
    assert "%%" not in html + text
    assert str(message["Subject"]).startswith("MPAT newsletter Q3 2016")

    code, out, _ = run_cli("send", "2016-q3", "--yes")  # again: nothing is sent twice
    assert code == 0 and "2016-q3 was already sent: send 1 (outbox)" in out
    assert "Nothing to do" in out and "About to" not in out and "sending" not in out
    assert len(list((project / "outbox").glob("*.eml"))) == 4
    [row] = report()
    assert (row["audience"], row["accepted"], row["failed"], row["uncertain"], row["skipped"]) == (
        4,
        4,
        0,
        0,
        0,
    )
    assert row["status"] == "finished"


def test_a_test_send_is_a_proof_not_the_live_send(sending, project):
    add(sending, 2)
    code, out, err = run_cli("send", "2016-q3", "--test", "Editor@Example.ORG", "proof@example.org")
    assert code == 0, err
    files = sorted((project / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert all(str(_eml(f)["Subject"]).startswith("[TEST] MPAT newsletter") for f in files)
    assert {str(_eml(f)["To"]) for f in files} == {"Editor@example.org", "proof@example.org"}
    [row] = report()
    assert row["kind"] == "test" and row["accepted"] == 2
    code, out, _ = run_cli("send", "2016-q3", "--yes")
    assert code == 0 and "2 accepted" in out  # the live send still goes to everyone
    assert [r["kind"] for r in report()] == ["test", "live"]


def test_test_needs_addresses_and_addresses_need_test(sending):
    code, _, err = run_cli("send", "2016-q3", "--test")
    assert code == 1 and "--test ADDR" in err
    code, _, err = run_cli("send", "2016-q3", "someone@example.org", "--yes")
    assert code == 1 and "--test ADDR" in err


def test_who_unsubscribes_before_their_batch_is_skipped(sending, project, settings):
    from newsletter.issues.build import build_issue
    from newsletter.sending.sender import Sender, SendOptions
    from newsletter.sending.summary import live_state

    def live_audience(engine: Any, slug: str) -> tuple[Any, int]:
        send, totals = live_state(engine, slug)
        return send, totals.pending

    from newsletter.subscribers.tokens import Tokens
    from newsletter.transports.outbox import OutboxTransport

    add(sending, 3)
    settings = settings.model_copy(update={"secret_key": SecretStr(SECRET)})
    outbox = OutboxTransport(project / "outbox")
    options = SendOptions.from_settings(settings)
    sender = Sender(sending, outbox, Tokens.from_settings(settings), options)
    assert live_audience(sending, "2016-q3") == (None, 3)  # every confirmed subscriber
    record = sender.start_live(build_issue(settings, sending, "2016-q3").compiled)
    assert record.audience == 3  # fixed when the send starts
    resumed, pending = live_audience(sending, "2016-q3")  # a send to resume: its pending rows
    assert resumed is not None and (resumed.id, pending) == (record.id, 3)
    with Session(sending) as session:
        person = subscribers.find(session, "reader1@example.net")
        assert person is not None
        subscribers.unsubscribe(session, person.key, "test", utcnow())
        session.commit()
    add(sending, 1, start=5)  # joined after the start: not in this send
    progress = sender.run(record)
    assert (progress.accepted, progress.skipped) == (2, 1)
    assert live_audience(sending, "2016-q3")[1] == 0  # not the 3 confirmed ones now
    [row] = report()
    assert row["skipped"] == 1 and row["reasons"]["skipped"] == {
        "unsubscribed before their batch": 1
    }
    assert row["accepted"] == 2


def test_failing_checks_block_a_send(sending, project):
    add(sending, 1)
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace("postal_address =", "# postal_address ="))
    code, _, err = run_cli("send", "2016-q3", "--yes")
    assert code == 1 and "fails its pre-send checks" in err and "postal_address" in err
    assert not (project / "outbox").exists()
    with pytest.raises(CheckFailed, match=r"2016-q3 fails its pre-send checks: .*postal_address"):
        checked_build(Settings(), sending, "2016-q3")


def test_changed_issue_refuses_to_resume_unless_allowed(sending, project, monkeypatch):
    add(sending, 3)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake, batch=1)
        fake.fail_next(1, 500)
        monkeypatch.setenv("NEWSLETTER_SEND_MAX_ATTEMPTS", "1")
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "run it again to resume" in err
        [row] = report()
        assert row["status"] == "stopped" and row["pending"] == 3
        issue = project / "issues" / "2016-q3.toml"
        issue.write_text(issue.read_text().replace("Dear friends", "Dear readers"))
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "has changed since its send started" in err
        code, out, err = run_cli("send", "2016-q3", "--yes", "--allow-changed")
        assert code == 0, err
        assert "3 accepted" in out and sorted(fake.recipients()) == [
            f"reader{i}@example.net" for i in range(3)
        ]


def _use_fake(monkeypatch, fake: FakeSendGrid, *, batch: int) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org")  # a live send
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", fake.url)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_BATCH_SIZE", str(batch))
    monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "5")
    monkeypatch.setenv("NEWSLETTER_SEND_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("NEWSLETTER_SEND_RETRY_MAX_DELAY", "0.05")
    monkeypatch.setenv("NEWSLETTER_SEND_CONCURRENCY", "1")  # batches in a predictable order


def test_sendgrid_send_with_rate_limits_and_errors_retried(sending, monkeypatch):
    add(sending, 25)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake, batch=10)
        fake.fail_next(1, 429, reset_in=0.2)
        fake.fail_next(1, 503)
        code, out, err = run_cli("send", "2016-q3", "--yes")
        assert code == 0, err
        assert "25 accepted" in out and "2 retries" in out
        assert sorted(fake.recipients()) == sorted(f"reader{i}@example.net" for i in range(25))
        bodies = [a.body for a in fake.accepted]
        assert [len(b["personalizations"]) for b in bodies] == [10, 10, 5]
        first = bodies[0]["personalizations"][0]
        assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert set(first["custom_args"]) == {"send_id", "subscriber_id"}
        assert all(isinstance(v, str) for v in first["custom_args"].values())
        assert "@" not in json.dumps(first["custom_args"])  # no personal data


def test_a_bad_api_key_stops_at_once_and_a_fixed_key_resumes(sending, monkeypatch):
    add(sending, 5)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake, batch=2)
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.wrong")
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "API key" in err and "Traceback" not in err
        assert fake.recipients() == []
        [row] = report()
        assert row["status"] == "stopped" and row["pending"] == 5
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", fake.api_key)
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 0, err
        assert len(fake.recipients()) == 5 and report()[0]["status"] == "finished"


def test_sendgrid_down_is_reported_and_resumable(sending, monkeypatch):
    add(sending, 2)
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org")  # a live send
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.key")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("NEWSLETTER_SEND_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("NEWSLETTER_SEND_RETRY_BASE_DELAY", "0.01")
    code, _, err = run_cli("send", "2016-q3", "--yes")
    assert code == 1 and "connect" in err.lower() and "resume" in err
    [row] = report()
    assert row["pending"] == 2 and row["failed"] == 0


def test_a_rejected_batch_is_failed_with_sendgrids_reason(sending, monkeypatch):
    add(sending, 2)
    with FakeSendGrid(verified_senders=["someone.else@example.org"]) as fake:
        _use_fake(monkeypatch, fake, batch=10)
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "verified Sender Identity" in err


def test_uncertain_rows_are_not_resent_unless_asked(sending, monkeypatch):
    add(sending, 4)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake, batch=2)
        monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "0.5")
        fake.slow_next(1, 1.5)  # the first batch: no answer in time, but the fake accepts it
        code, out, _ = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "2 accepted, 0 failed, 2 uncertain" in out
        fake.wait_idle()
        assert len(fake.recipients()) == 4  # the uncertain batch did arrive
        [row] = report()
        assert row["uncertain"] == 2 and row["status"] == "finished"
        code, out, _ = run_cli("send", "2016-q3", "--yes")
        assert code == 0 and "already sent" in out and len(fake.recipients()) == 4
        assert "2 uncertain" in out and "--resend-uncertain sends to them" in out
        code, out, _ = run_cli("send", "2016-q3", "--yes", "--resend-uncertain")
        assert code == 0 and "this run: 2 accepted" in out and len(fake.recipients()) == 6
        assert "4 recipients: 4 accepted, 0 failed, 0 uncertain" in out
        assert report()[0]["uncertain"] == 0


def test_report_of_an_unsent_issue(sending):
    code, out, _ = run_cli("report", "2016-q4")
    assert code == 0 and "has not been sent" in out
    assert report("2016-q4") == []


def test_erasing_a_subscriber_leaves_no_address_in_the_ledger(sending):
    add(sending, 2)
    assert run_cli("send", "2016-q3", "--yes")[0] == 0
    assert run_cli("subscribers", "erase", "reader0@example.net")[0] == 0
    with sending.connect() as connection:
        rows = connection.exec_driver_sql("SELECT email, subscriber_id, status FROM delivery").all()
    assert sorted((r[0], r[2]) for r in rows) == [("", DeliveryStatus.accepted.value)] * 2
    assert sum(r[1] is None for r in rows) == 1
