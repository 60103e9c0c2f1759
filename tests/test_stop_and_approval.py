"""The dashboard's rules in the core: a stop request stops a real send after the batch in flight
(and it resumes to exactly once); with require_approval, every live send and every scheduling
needs an approval of the current content, by someone who did not make the last edit."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.errors import CheckFailed, SendError
from newsletter.issues import revisions
from newsletter.issues.filetext import content_hash
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Role,
    Send,
    SendKind,
    SendStatus,
    subscriber_table,
)
from newsletter.sending import approval, ledger, scheduler, send_time, stopping, summary
from newsletter.sending.sender import Progress, Sender, SendOptions, checked_build
from newsletter.subscribers.tokens import Tokens
from newsletter.transports.outbox import OutboxTransport
from tests.admin.conftest import add_staff
from tests.conftest import run_cli
from tests.subscribers.conftest import Outbox

SECRET = "test-secret-key-for-signing-links"
SLUG = "2016-q3"


def _confirmed(engine: sa.Engine, n: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "key": secrets.token_hex(16),
            "email": f"reader{i}@example.net",
            "email_key": f"reader{i}@example.net",
            "name": "",
            "status": "confirmed",
            "created_at": now,
            "confirmed_at": now,
        }
        for i in range(n)
    ]
    with engine.begin() as connection:
        connection.execute(subscriber_table.insert(), rows)


@pytest.fixture
def live(project: Path, synced: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    return Settings()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stop_request_stops_after_the_batch_in_flight_and_resumes_exactly_once(
    live: Settings, synced: sa.Engine, workers: int
) -> None:
    _confirmed(synced, 2000)
    transport = OutboxTransport(live.outbox_dir)

    def stop_after_five(progress: Progress) -> None:
        if progress.batches == 5:
            assert stopping.request_stop(synced, SLUG) is not None

    options = SendOptions.from_settings(
        live, concurrency=workers, on_batch=stop_after_five, started_by="cli"
    )
    sender = Sender(synced, transport, Tokens.from_settings(live), options)
    sender.batch_size = 100
    build = checked_build(live, synced, SLUG)
    send = sender.start_live(build.compiled)
    progress = sender.run(send)
    assert progress.stopped
    assert send.id is not None
    totals = summary.totals(synced, send.id, send.audience)
    assert totals.in_flight == 0 and totals.accepted % 100 == 0
    assert 500 <= totals.accepted <= 500 + 100 * (workers - 1)  # the batches in flight finished
    assert totals.pending == 2000 - totals.accepted
    assert len(Outbox(live.outbox_dir).messages()) == totals.accepted
    with Session(synced) as session:
        row = session.get(Send, send.id)
        assert row is not None and row.status == SendStatus.stopped and row.started_by == "cli"
    # send-due (cron's or the server's) leaves a stopped send alone
    outcomes = scheduler.send_due(live, synced, transport)
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.stopped]
    assert summary.totals(synced, send.id, send.audience).accepted == totals.accepted
    # `newsletter send` resumes it deliberately: the rest, nobody twice
    code, out, err = run_cli("send", SLUG, "--yes")
    assert code == 0, err
    assert f"About to resume send {send.id}" in out
    recipients = Counter(str(m["To"]) for m in Outbox(live.outbox_dir).messages())
    assert len(recipients) == 2000 and set(recipients.values()) == {1}
    with Session(synced) as session:
        row = session.get(Send, send.id)
        assert row is not None and row.status == SendStatus.finished
        assert row.stop_requested_at is None


def test_a_stop_with_nothing_in_flight_stops_at_once(live: Settings, synced: sa.Engine) -> None:
    assert stopping.request_stop(synced, SLUG) is None  # no send: nothing to stop
    _confirmed(synced, 3)
    build = checked_build(live, synced, SLUG)
    from newsletter.sending.sender import content_of

    ledger.start_live(synced, content_of(build.compiled))
    stopped = stopping.request_stop(synced, SLUG)
    assert stopped is not None and stopped.status == SendStatus.stopped


@pytest.fixture
def strict(live: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSLETTER_REQUIRE_APPROVAL", "true")
    return Settings()


def _text(settings: Settings) -> str:
    return (settings.issues_dir / f"{SLUG}.toml").read_text()


def test_without_approval_live_sends_and_scheduling_are_refused_but_proofs_go(
    strict: Settings, synced: sa.Engine
) -> None:
    _confirmed(synced, 2)
    code, _, err = run_cli("send", SLUG, "--yes")
    assert code == 1
    assert "2016-q3 cannot be sent (not approved yet): require_approval is on" in err
    assert len(err.strip().splitlines()) == 1
    at = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M%z")
    code, _, err = run_cli("schedule", SLUG, "--at", at)
    assert code == 1 and "cannot be scheduled (not approved yet)" in err
    code, _out, err = run_cli("send", SLUG, "--test", "proof@example.com")
    assert code == 0, err
    assert [str(m["Subject"])[:7] for m in Outbox(strict.outbox_dir).messages()] == ["[TEST] "]
    outcomes = scheduler.send_due(strict, synced, OutboxTransport(strict.outbox_dir), force=True)
    assert {o.action for o in outcomes} == {scheduler.Action.failed}
    assert all("not approved yet" in o.detail for o in outcomes)
    with Session(synced) as session:
        assert not session.exec(select(Send).where(Send.kind == SendKind.live)).all()


def test_the_last_editor_cannot_approve_and_any_change_voids_an_approval(
    strict: Settings, synced: sa.Engine
) -> None:
    _confirmed(synced, 2)
    alice = add_staff(synced, Role.publisher, "alice@example.org")
    bob = add_staff(synced, Role.publisher, "bob@example.org")
    text = _text(strict)
    revisions.record(synced, SLUG, text, kind="saved", author=alice.email, staff_id=alice.id)
    digest = content_hash(text)
    with pytest.raises(SendError, match="you made the last edit of 2016-q3"):
        approval.approve(strict, synced, SLUG, digest, staff_id=alice.id, approver=alice.email)
    approval.approve(strict, synced, SLUG, digest, staff_id=bob.id, approver=bob.email)
    assert approval.current(synced, SLUG, _text(strict)).approved
    # scheduling (send_at only) keeps it
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    send_time.schedule(strict, synced, SLUG, at, author=bob.email, staff_id=bob.id)
    assert approval.current(synced, SLUG, _text(strict)).approved
    assert "send_at" in _text(strict)
    # any other change voids it, and says so
    path = strict.issues_dir / f"{SLUG}.toml"
    path.write_text(_text(strict).replace('subject = "', 'subject = "New: '))
    standing = approval.current(synced, SLUG, _text(strict), strict.zone)
    assert not standing.approved
    assert standing.why_not.startswith("changed since it was approved by bob@example.org at ")
    code, _, err = run_cli("send", SLUG, "--yes")
    assert code == 1 and "changed since it was approved by bob@example.org" in err
    # approved again (the edit was made outside the dashboard: anyone else may approve)
    now_hash = content_hash(_text(strict))
    approval.approve(strict, synced, SLUG, now_hash, staff_id=alice.id, approver=alice.email)
    path.write_text(_text(strict).replace(f"send_at = {_send_at(_text(strict))}", "# unscheduled"))
    code, _, err = run_cli("send", SLUG, "--yes")
    assert code == 1 and "changed since" in err  # a comment is content too
    approval.withdraw(synced, SLUG)
    approval.approve(
        strict, synced, SLUG, content_hash(_text(strict)), staff_id=bob.id,
        approver=bob.email,
    )  # fmt: skip
    code, _out, err = run_cli("send", SLUG, "--yes")
    assert code == 0, err
    assert len(Outbox(strict.outbox_dir).messages()) == 2


def _send_at(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("send_at")).split(" = ")[1]


def test_approval_is_refused_when_the_issue_fails_its_checks(
    strict: Settings, synced: sa.Engine, project: Path
) -> None:
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace("postal_address =", "# postal_address ="))
    broken = Settings()
    digest = content_hash(_text(broken))
    with pytest.raises(CheckFailed, match="postal_address"):
        approval.approve(broken, synced, SLUG, digest, staff_id=None, approver="someone")
    assert approval.withdraw(synced, SLUG) == 0


def test_send_now_and_unschedule_keep_the_ledger_and_the_file_in_step(
    live: Settings, synced: sa.Engine
) -> None:
    _confirmed(synced, 3)
    send = send_time.send_now(live, synced, SLUG, author="p@example.org")
    assert send.started_by == "p@example.org" and send.audience == 3
    due = scheduler.due_times(live, synced)[SLUG]
    assert due is not None and due <= datetime.now(UTC)
    outcomes = scheduler.send_due(live, synced, OutboxTransport(live.outbox_dir))
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.sent]
    with pytest.raises(SendError, match="already sent"):
        send_time.unschedule(live, synced, SLUG, author="p@example.org")
    assert {d.status for d in _deliveries(synced, send.id)} == {DeliveryStatus.accepted}


def _deliveries(engine: sa.Engine, send_id: int | None) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).where(Delivery.send_id == send_id)))
