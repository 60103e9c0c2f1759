"""`newsletter schedule` and `newsletter send-due`: one pass for cron, exactly once, stale refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli

SECRET = "test-secret-key-for-signing-links"


@pytest.fixture
def due(project, synced, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    with Session(synced) as session:
        for i in range(3):
            subscribers.add(
                session, f"r{i}@example.net", "", confirmed=True, consent=ConsentInfo(source="t")
            )
        session.commit()
    return project


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S%z")


def test_issue_file_send_at_long_past_is_refused_once(due):
    code, out, err = run_cli("send-due")
    assert code == 1
    assert "2016-q3: refused: stale (was due 3" in err and "days ago" in err and "--force" in err
    assert "2016-q4: refused: stale" in err
    code, out, err = run_cli("send-due")  # refused once; later runs stay quiet and succeed
    assert (code, out, err) == (0, "", "")
    code, out, err = run_cli("send-due", "--verbose")  # the full picture on demand
    assert code == 0 and "2016-q3: skipped: refused earlier as stale" in out
    assert "was due 2016-10-04 09:00 +07 (02:00 UTC), refused " in out
    assert not (due / "outbox").exists()


def test_scheduled_issue_is_sent_once_when_due(due):
    soon = datetime.now(UTC) + timedelta(seconds=3)
    code, out, _ = run_cli("schedule", "2016-q3", "--at", soon.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assert code == 0 and "is due" in out
    code, out, err = run_cli("send-due", "--force", "-v")  # q4's 2017 date is forced through too
    assert "2016-q3: not due (due " in out and "2016-q4: sent" in out
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    code, out, err = run_cli("send-due")
    assert code == 0, err
    assert "2016-q3: sent (send" in out and "3 accepted" in out and "2016-q4" not in out
    assert run_cli("send-due") == (0, "", "")  # sent: not reported again on every tick
    code, out, err = run_cli("send-due", "--verbose")
    assert code == 0 and "2016-q3: already sent (send 2, finished " in out
    assert len(list((due / "outbox").glob("*.eml"))) == 6  # q3 and the forced q4, 3 each


def test_force_sends_a_stale_issue(due):
    code, out, err = run_cli("send-due", "--force")
    assert code == 0, err
    assert "2016-q3: sent" in out and "2016-q4: sent" in out


def test_rescheduling_clears_a_stale_refusal(due):
    assert run_cli("send-due")[0] == 1
    soon = datetime.now(UTC) + timedelta(seconds=2)
    run_cli("schedule", "2016-q4", "--at", soon.strftime("%Y-%m-%dT%H:%M:%S%z"))
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    code, out, err = run_cli("send-due", "--verbose")
    assert code == 0, err
    assert "2016-q4: sent" in out and "2016-q3: skipped" in out


def test_a_failing_issue_makes_send_due_exit_non_zero(due):
    issue = due / "issues" / "2016-q3.toml"
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    issue.write_text(issue.read_text().replace("2016-10-04T09:00:00+07:00", a_minute_ago))
    toml = due / "newsletter.toml"
    toml.write_text(toml.read_text().replace("postal_address =", "# postal_address ="))
    code, _, err = run_cli("send-due")
    assert code == 1 and "2016-q3: failed" in err and "postal_address" in err


def test_schedule_rejects_an_unknown_issue(due):
    code, _, err = run_cli("schedule", "2016-q9", "--at", _at(timedelta(days=1)))
    assert code == 1 and "no such issue file" in err
