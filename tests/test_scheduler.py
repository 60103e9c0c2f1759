"""`newsletter schedule` and `newsletter send-due`: one pass for cron, exactly once, stale refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.issues.build import build_issue
from newsletter.models import Schedule
from newsletter.sending import ledger
from newsletter.sending.sender import content_of
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


def _issue_due_at(project, slug: str, at: datetime) -> None:
    issue = project / "issues" / f"{slug}.toml"
    text = issue.read_text()
    old = next(line for line in text.splitlines() if line.startswith("send_at"))
    issue.write_text(text.replace(old, f"send_at = {at.isoformat(timespec='seconds')}"))


def test_send_due_prints_nothing_when_nothing_is_due(due, database_url):
    """A real process, as cron runs it: no output at all (cron mails any output), exit 0."""
    later = datetime.now(UTC) + timedelta(days=3, hours=1)
    _issue_due_at(due, "2016-q3", later)
    (due / "issues" / "2016-q4.toml").write_text(
        (due / "issues" / "2016-q4.toml").read_text().replace("send_at", "# send_at")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(NEWSLETTER_DATABASE_URL=database_url, NEWSLETTER_SECRET_KEY=SECRET)
    command = [sys.executable, "-m", "newsletter", "send-due"]
    done = subprocess.run(command, env=env, cwd=due, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = subprocess.run(
        [*command, "--verbose"], env=env, cwd=due, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("send-due at ") and " +07 (" in done.stdout
    local = later.astimezone(ZoneInfo("Asia/Bangkok"))
    utc = f"{later:%H:%M}" if later.date() == local.date() else f"{later:%Y-%m-%d %H:%M}"
    expected = f"2016-q3: not due (due {local:%Y-%m-%d %H:%M} +07 ({utc} UTC), in 3 days)"
    assert expected in done.stdout
    assert "2016-q4: not scheduled (no send_at in its file that can be read" in done.stdout


def test_send_due_leaves_a_send_another_process_is_making_quietly(due, synced):
    _issue_due_at(due, "2016-q3", datetime.now(UTC) - timedelta(minutes=1))
    _issue_due_at(due, "2016-q4", datetime.now(UTC) + timedelta(days=1))
    settings = Settings()
    compiled = build_issue(settings, synced, "2016-q3").compiled
    send = ledger.start_live(synced, content_of(compiled), transport="outbox")
    assert send.id is not None
    # every recipient in flight with a live worker (this process): another send-due is at it
    assert len(ledger.claim(synced, send.id, ledger.worker_id(), 10).recipients) == 3
    assert run_cli("send-due") == (0, "", "")
    code, out, _ = run_cli("send-due", "-v")
    assert code == 0 and "2016-q3: being sent by another process (send 1 (outbox)" in out
    assert "3 in flight" in out


def test_schedule_refuses_a_time_in_the_past(due, synced):
    code, out, err = run_cli("schedule", "2016-q3", "--at", _at(-timedelta(minutes=5)))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "is in the past (now " in err and " +07 (" in err and "newsletter send 2016-q3" in err
    with Session(synced) as session:
        assert session.get(Schedule, "2016-q3") is None  # nothing written


def test_schedule_refuses_an_issue_already_sent_or_being_sent(due, synced):
    code, out, _ = run_cli("schedule", "2016-q3", "--at", "2030-01-10 09:00")  # local time
    assert code == 0
    assert out.startswith("2016-q3 is due 2030-01-10 09:00 +07 (02:00 UTC), in ")
    assert "(instead of send_at 2016-10-04 09:00 +07 (02:00 UTC) in its file)" in out
    assert run_cli("send", "2016-q3", "--yes")[0] == 0
    code, out, err = run_cli("schedule", "2016-q3", "--at", _at(timedelta(days=1)))
    assert code == 1 and err.count("\n") == 1
    assert "2016-q3 was already sent (send 1, finished " in err and " +07 (" in err

    settings = Settings()  # q4: a live send started (and stopped), not finished
    compiled = build_issue(settings, synced, "2016-q4").compiled
    ledger.start_live(synced, content_of(compiled), transport="outbox")
    code, out, err = run_cli("schedule", "2016-q4", "--at", _at(timedelta(days=1)))
    assert code == 1 and err.count("\n") == 1
    assert "2016-q4 is being sent already (send 2, sending, started " in err
    assert "newsletter send 2016-q4 resumes it" in err
