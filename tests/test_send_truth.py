"""What `send`, `send-due` and `report` tell the operator: a send through the outbox (or SendGrid's
sandbox) delivered nothing and says so; a resumed send counts the whole send, uncertain rows
included; a finished send run again says so and exits 0; an issue that does not exist is an
error. Through the CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.issues.build import build_issue
from newsletter.models import DeliveryStatus
from newsletter.sending import ledger
from newsletter.sending.sender import content_of
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.fake_sendgrid import FakeSendGrid

SECRET = "test-secret-key-for-signing-links"
SENDER = "newsletter@mpat.example.org"
NOT_DELIVERED = "WRITTEN TO THE OUTBOX (outbox/) and NOT delivered"


@pytest.fixture
def sending(project, synced, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    return synced


def _add(engine, count: int) -> None:
    with Session(engine) as session:
        for i in range(count):
            subscribers.add(
                session, f"reader{i}@example.net", "", confirmed=True, consent=ConsentInfo("t")
            )
        session.commit()


def _json_report(slug: str = "2016-q3") -> list[dict[str, Any]]:
    code, out, err = run_cli("report", slug, "--format", "json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def _use_fake(monkeypatch, fake: FakeSendGrid) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", fake.url)


def test_a_live_send_through_the_outbox_says_it_delivered_nothing(sending):
    _add(sending, 3)
    code, out, err = run_cli("send", "2016-q3", "--test", "editor@example.org")
    assert code == 0, err
    assert "test send 1 of 2016-q3 (outbox): 1 recipient: 1 accepted" in out
    assert f"The 1 message was {NOT_DELIVERED}" in out
    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 0, err
    assert "via the outbox transport: messages are WRITTEN TO outbox/ as .eml files and NOT" in out
    assert f"The 3 messages were {NOT_DELIVERED}" in out
    assert [(r["kind"], r["transport"]) for r in _json_report()] == [
        ("test", "outbox"),
        ("live", "outbox"),
    ]
    code, out, _ = run_cli("report", "2016-q3")
    assert (
        code == 0 and "transport" in out and f"send 2: The 3 messages were {NOT_DELIVERED}" in out
    )


def test_send_due_through_the_outbox_says_it_delivered_nothing(sending, project):
    _add(sending, 2)
    issue = project / "issues" / "2016-q3.toml"
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    issue.write_text(issue.read_text().replace("2016-10-04T09:00:00+07:00", a_minute_ago))
    code, out, err = run_cli("send-due")
    assert code == 1 and "2016-q4: refused: stale" in err  # q4's date is long past
    assert "2016-q3: sent (send 1 (outbox): 2 recipients: 2 accepted" in out
    assert f"The 2 messages were {NOT_DELIVERED}" in out


def test_sendgrid_records_its_transport_and_its_sandbox_says_not_delivered(sending, monkeypatch):
    _add(sending, 2)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake)
        monkeypatch.setenv("NEWSLETTER_SENDGRID_SANDBOX", "true")
        code, out, err = run_cli("send", "2016-q3", "--test", "editor@example.org")
        assert code == 0, err
        assert "(sendgrid (sandbox))" in out and "did NOT deliver" in out
        monkeypatch.setenv("NEWSLETTER_SENDGRID_SANDBOX", "false")
        monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org")  # a real send's links
        code, out, err = run_cli("send", "2016-q3", "--yes")
        assert code == 0, err
        assert "send 2 of 2016-q3 (sendgrid): 2 recipients: 2 accepted" in out
        assert "NOT" not in out
    assert [r["transport"] for r in _json_report()] == ["sendgrid (sandbox)", "sendgrid"]


def _dead_worker() -> str:
    """The id of a worker on this host whose process is gone (Linux pids stay below 2**22)."""
    return f"{socket.gethostname()}:4194304:deadbeef"


def test_a_resumed_send_counts_the_whole_send_and_a_finished_one_says_so(sending, project):
    """A first run sent one batch and died with the next in flight; the resumed run sends the
    rest, and its summary counts all of it, the uncertain batch included."""
    _add(sending, 6)
    settings = Settings()
    compiled = build_issue(settings, sending, "2016-q3").compiled
    send = ledger.start_live(sending, content_of(compiled), transport="outbox")
    assert send.id is not None
    done = ledger.worker_id()
    assert len(ledger.claim(sending, send.id, done, 2).recipients) == 2
    ledger.settle(sending, send.id, done, DeliveryStatus.accepted)
    assert len(ledger.claim(sending, send.id, _dead_worker(), 2).recipients) == 2

    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 1  # not everyone surely has it: the operator decides about the uncertain
    assert "About to resume send 1 of 2016-q3" in out and "2 of 6 recipients" in out
    assert "send 1 of 2016-q3 (outbox): 6 recipients: 4 accepted, 0 failed, 2 uncertain" in out
    assert "this run: 2 accepted, 0 failed, 0 uncertain" in out
    assert "see: newsletter report 2016-q3" in err
    assert len(list((project / "outbox").glob("*.eml"))) == 2  # this run's messages only

    code, out, err = run_cli("send", "2016-q3", "--yes")  # finished: nothing to do, exit 0
    assert code == 0, err
    assert out.startswith("2016-q3 was already sent: send 1 (outbox), finished ")
    assert "6 recipients: 4 accepted, 0 failed, 2 uncertain, 0 skipped. Nothing to do." in out
    assert "resume" not in out and "sending" not in out and "0 recipients" not in out
    assert "--resend-uncertain sends to them" in out

    issue = project / "issues" / "2016-q3.toml"  # edited after the send: still just "sent"
    issue.write_text(issue.read_text().replace("Dear friends", "Dear readers"))
    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 0 and "already sent" in out, err


def test_report_of_an_issue_that_does_not_exist_is_an_error(sending, project):
    for extra in ((), ("--format", "json")):
        code, out, err = run_cli("report", "2016-q9", *extra)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and "2016-q9.toml: no such issue file" in err
    code, out, _ = run_cli("report", "2016-q4")  # an issue not sent yet is not an error
    assert code == 0 and "2016-q4 has not been sent" in out
    _add(sending, 1)
    assert run_cli("send", "2016-q3", "--yes")[0] == 0
    (project / "issues" / "2016-q3.toml").unlink()  # sent, then its file removed: still there
    code, out, err = run_cli("report", "2016-q3")
    assert code == 0 and "send 1 (live)" in out, err


def test_times_are_shown_in_the_organisations_zone_with_utc_beside(sending):
    _add(sending, 1)
    assert run_cli("send", "2016-q3", "--yes")[0] == 0
    code, out, _ = run_cli("report", "2016-q3")
    assert code == 0
    now = datetime.now(UTC)
    bangkok = (now + timedelta(hours=7)).strftime("%Y-%m-%d")
    assert f"started at  │ {bangkok}" in out and " +07 " in out
    assert "send 1 (started " in out and " +07 (" in out and " UTC)): " in out
