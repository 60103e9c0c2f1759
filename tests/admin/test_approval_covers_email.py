"""An approval covers the email as built, not only the issue file: a synced post (or a template)
that changes after approval voids it, the send page says so and why, and Send now and scheduling
are refused until a publisher approves again (finding 2 of the issue #12 review)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.issues.build import build_issue, sync_markdown
from newsletter.models import Approval, Role, Send, SendKind
from newsletter.sending import approval, scheduler
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from tests.admin.conftest import StaffClient
from tests.subscribers.conftest import Outbox

SLUG = "2016-q3"
VOID = "The email changed since it was approved (posts or template); approve it again."


@pytest.fixture
def admin_settings(admin_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEWSLETTER_REQUIRE_APPROVAL", "true")
    return Settings()


def _approve(publisher: StaffClient) -> None:
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    seen = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page.text)
    compiled = re.search(r'name="compiled_hash" value="([0-9a-f]{64})"', page.text)
    assert seen and compiled
    form = {"content_hash": seen.group(1), "compiled_hash": compiled.group(1)}
    answer = publisher.post(f"/admin/issues/{SLUG}/approve", form)
    assert answer.status_code == 303, answer.text


def _retitle_every_post(project: Path) -> None:
    """A website edit: every post gets a new title (the issue file stays as it was)."""
    for post in (project / "content").glob("*.md"):
        post.write_text(re.sub(r'^title: "', 'title: "Changed: ', post.read_text(), flags=re.M))


def test_a_post_changed_after_approval_voids_it_until_approved_again(
    as_role: Callable[[Role], StaffClient],
    admin_settings: Settings,
    admin_engine: sa.Engine,
    project: Path,
) -> None:
    with Session(admin_engine) as session:
        subscribers.add(
            session, "r@example.net", "", confirmed=True, consent=ConsentInfo(source="t")
        )
        session.commit()
    publisher = as_role(Role.publisher)
    file_before = (admin_settings.issues_dir / f"{SLUG}.toml").read_text()
    _approve(publisher)
    with Session(admin_engine) as session:
        [given] = session.exec(select(Approval)).all()
    assert (
        given.compiled_hash == build_issue(admin_settings, admin_engine, SLUG).compiled.content_hash
    )

    _retitle_every_post(project)
    sync_markdown(admin_settings, admin_engine)
    assert (admin_settings.issues_dir / f"{SLUG}.toml").read_text() == file_before
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    assert VOID in page.text and "Approve this version" in page.text
    assert "Withdraw approval" not in page.text
    refused = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert refused.status_code == 409
    assert f"{SLUG} cannot be sent: the email changed since it was approved (posts or " in (
        refused.text
    )
    at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    refused = publisher.post(f"/admin/issues/{SLUG}/schedule", {"at": at})
    assert refused.status_code == 409 and "cannot be scheduled: the email changed" in refused.text
    # send-due (cron, or the server's pass) refuses it too
    outcomes = scheduler.send_due(
        admin_settings, admin_engine, OutboxTransport(admin_settings.outbox_dir), force=True
    )
    assert any(o.slug == SLUG and "the email changed since" in o.detail for o in outcomes)
    with Session(admin_engine) as session:
        assert not session.exec(select(Send).where(Send.kind == SendKind.live)).all()

    _approve(publisher)  # a publisher looks at the new email and approves it
    answer = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert answer.status_code == 303, answer.text
    outcomes = scheduler.send_due(
        admin_settings, admin_engine, OutboxTransport(admin_settings.outbox_dir)
    )
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.sent]
    [message] = Outbox(admin_settings.outbox_dir).messages()
    assert "Changed: " in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_approving_an_email_other_than_the_one_seen_is_refused(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, project: Path
) -> None:
    publisher = as_role(Role.publisher)
    page = publisher.get(f"/admin/issues/{SLUG}/send").text
    seen = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page)
    assert seen
    form = {"content_hash": seen.group(1), "compiled_hash": "0" * 64}
    answer = publisher.post(f"/admin/issues/{SLUG}/approve", form)
    assert answer.status_code == 409 and "has changed since you opened it (posts or" in answer.text


def test_an_approval_from_before_migration_0009_counts_as_void(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    publisher = as_role(Role.publisher)
    _approve(publisher)
    with admin_engine.begin() as connection:
        connection.execute(sa.update(Approval.__table__).values(compiled_hash=None))  # type: ignore[attr-defined]
    text = (admin_settings.issues_dir / f"{SLUG}.toml").read_text()
    standing = approval.current(admin_engine, SLUG, text)
    assert not standing.approved and standing.why_not == approval.NO_EMAIL_HASH
    refused = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert refused.status_code == 409 and "approved before approvals covered the email" in (
        refused.text
    )
