"""The issue list, the send page and the report page, by role: proofs, approval, scheduling,
send now, stop and the report's chart, through real requests against a real database."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.issues.filetext import content_hash
from newsletter.models import Activity, Role, Schedule, Send, SendKind, delivery_table, utcnow
from newsletter.sending import scheduler
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from newsletter.web.ratelimit import PROOF_LIMIT
from tests.admin.conftest import StaffClient
from tests.subscribers.conftest import Outbox

SLUG = "2016-q3"


def _subscribers(engine: sa.Engine, n: int) -> None:
    with Session(engine) as session:
        for i in range(n):
            subscribers.add(
                session, f"r{i}@example.net", "", confirmed=True, consent=ConsentInfo(source="t")
            )
        session.commit()


def _hash(settings: Settings) -> str:
    return content_hash((settings.issues_dir / f"{SLUG}.toml").read_text())


def _actions(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return [a.action for a in session.exec(select(Activity).order_by(Activity.id))]  # type: ignore[arg-type]


def test_the_list_shows_every_issue_with_its_state(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings
) -> None:
    page = as_role(Role.viewer).get("/admin/issues")
    assert page.status_code == 200
    assert "2016-q3" in page.text and "2016-q4" in page.text
    assert "2016-Q3" in page.text  # the quarter
    assert "stale" in page.text  # both sample files were due in 2016 and never sent
    assert 'action="/admin/issues/next-quarter"' not in page.text  # viewers cannot start one
    assert 'action="/admin/issues/next-quarter"' in as_role(Role.editor).get("/admin/issues").text


def test_a_viewer_reads_the_send_page_but_cannot_act(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings
) -> None:
    viewer = as_role(Role.viewer)
    page = viewer.get(f"/admin/issues/{SLUG}/send")
    assert page.status_code == 200 and "Pre-send checks" in page.text
    assert "Approve this version" not in page.text and "Send proof" not in page.text
    for action in ("approve", "withdraw", "schedule", "unschedule", "send-now", "stop"):
        assert viewer.post(f"/admin/issues/{SLUG}/{action}").status_code == 403, action
    assert viewer.post(f"/admin/issues/{SLUG}/proofs").status_code == 403
    editor = as_role(Role.editor)
    assert editor.post(f"/admin/issues/{SLUG}/approve").status_code == 403
    assert (
        editor.post(f"/admin/issues/{SLUG}/schedule", {"at": "2030-01-01T09:00"}).status_code == 403
    )


def test_an_unknown_or_hostile_slug_is_404(as_role: Callable[[Role], StaffClient]) -> None:
    viewer = as_role(Role.viewer)
    for slug in ("2016-q9", "..%2Fnewsletter", "UPPER"):
        assert viewer.get(f"/admin/issues/{slug}/send").status_code == 404
        assert viewer.get(f"/admin/issues/{slug}/report").status_code == 404


def test_a_proof_goes_to_the_signed_in_person_with_test_in_its_subject(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    editor = as_role(Role.editor)
    answer = editor.post(f"/admin/issues/{SLUG}/proofs")
    assert answer.status_code == 303, answer.text
    [message] = Outbox(admin_settings.outbox_dir).messages()
    assert str(message["To"]) == "editor@example.org"
    assert str(message["Subject"]).startswith("[TEST] ")
    answer = editor.post(
        f"/admin/issues/{SLUG}/proofs", {"addresses": "a@example.com, b@example.com\nc@example.com"}
    )
    assert answer.status_code == 303
    assert len(Outbox(admin_settings.outbox_dir).messages()) == 4
    with Session(admin_engine) as session:
        proofs = session.exec(select(Send).where(Send.kind == SendKind.test)).all()
    assert {p.started_by for p in proofs} == {"editor@example.org"}
    page = editor.get(f"/admin/issues/{SLUG}/send")
    assert "a@example.com, b@example.com, c@example.com" in page.text
    assert "editor@example.org" in page.text
    too_many = ",".join(f"p{i}@example.com" for i in range(11))
    answer = editor.post(f"/admin/issues/{SLUG}/proofs", {"addresses": too_many})
    assert answer.status_code == 400 and "at most 10 addresses" in answer.text
    assert _actions(admin_engine) == ["proof", "proof"]


def test_proofs_are_limited_per_staff_member_and_hour(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    assert PROOF_LIMIT == "50/hour"
    editor, publisher = as_role(Role.editor), as_role(Role.publisher)
    url = f"/admin/issues/{SLUG}/proofs"
    for n in range(5):  # 5 x 10 = 50 recipients: the limit, reached
        ten = ", ".join(f"p{n}-{i}@example.com" for i in range(10))
        assert editor.post(url, {"addresses": ten}).status_code == 303
    refused = editor.post(url)  # even one more, to oneself
    assert refused.status_code == 429
    assert "proofs go to at most 50 recipients an hour per person" in refused.text
    assert "try again in 60 minutes" in refused.text
    assert len(Outbox(admin_settings.outbox_dir).messages()) == 50
    assert publisher.post(url).status_code == 303  # counted per person
    assert len(Outbox(admin_settings.outbox_dir).messages()) == 51
    assert _actions(admin_engine) == ["proof"] * 6


def test_approval_by_another_publisher_then_a_change_voids_it(
    as_role: Callable[[Role], StaffClient],
    admin_settings: Settings,
    admin_engine: sa.Engine,
) -> None:
    publisher = as_role(Role.publisher)
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    seen = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page.text)
    assert seen and seen.group(1) == _hash(admin_settings)
    answer = publisher.post(f"/admin/issues/{SLUG}/approve", {"content_hash": seen.group(1)})
    assert answer.status_code == 303
    page = publisher.get(answer.headers["location"])
    assert "Approved by publisher@example.org" in page.text and "Withdraw approval" in page.text
    path = admin_settings.issues_dir / f"{SLUG}.toml"
    path.write_text(path.read_text().replace('subject = "', 'subject = "Changed: '))
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    assert "Changed since it was approved by publisher@example.org at " in page.text
    stale = publisher.post(f"/admin/issues/{SLUG}/approve", {"content_hash": seen.group(1)})
    assert stale.status_code == 409 and "has changed since you opened it" in stale.text
    assert publisher.post(f"/admin/issues/{SLUG}/withdraw").status_code == 303
    assert _actions(admin_engine) == ["approve", "withdraw"]


def _bangkok_local(at: datetime) -> str:
    return at.astimezone(ZoneInfo("Asia/Bangkok")).strftime("%Y-%m-%dT%H:%M")


def test_scheduling_writes_send_at_into_the_file_and_due_times_agree(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    publisher = as_role(Role.publisher)
    path = admin_settings.issues_dir / f"{SLUG}.toml"
    before = path.read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    with Session(admin_engine) as session:  # a `newsletter schedule` row: the dashboard's wins
        session.add(Schedule(issue_slug=SLUG, send_at=utcnow(), updated_at=utcnow()))
        session.commit()
    at = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    answer = publisher.post(f"/admin/issues/{SLUG}/schedule", {"at": _bangkok_local(at)})
    assert answer.status_code == 303, answer.text
    text = path.read_text()
    assert tomllib.loads(text)["send_at"] == at.astimezone(ZoneInfo("Asia/Bangkok"))
    assert all(line in text for line in comments)  # every comment kept
    assert content_hash(text) == content_hash(before)  # scheduling is not a content change
    assert scheduler.due_times(admin_settings, admin_engine)[SLUG] == at
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    assert "in 1 day" in page.text or "in 2 days" in page.text or " h" in page.text
    assert "UTC)" in page.text  # the time with UTC beside it
    listed = publisher.get("/admin/issues").text
    assert "scheduled" in listed
    answer = publisher.post(f"/admin/issues/{SLUG}/unschedule")
    assert answer.status_code == 303
    assert "send_at" not in tomllib.loads(path.read_text())
    assert scheduler.due_times(admin_settings, admin_engine)[SLUG] is None
    assert _actions(admin_engine) == ["schedule", "unschedule"]


def test_a_time_in_the_past_is_refused(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings
) -> None:
    publisher = as_role(Role.publisher)
    path = admin_settings.issues_dir / f"{SLUG}.toml"
    before = path.read_text()
    past = datetime.now(UTC) - timedelta(hours=1)
    answer = publisher.post(f"/admin/issues/{SLUG}/schedule", {"at": _bangkok_local(past)})
    assert answer.status_code == 409 and "is in the past" in answer.text
    answer = publisher.post(f"/admin/issues/{SLUG}/schedule", {"at": "tomorrow"})
    assert answer.status_code == 409 and "give a date and time" in answer.text
    assert path.read_text() == before


def test_send_now_needs_the_slug_typed_then_the_due_pass_sends_it(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    _subscribers(admin_engine, 5)
    publisher = as_role(Role.publisher)
    answer = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": "2016-q4"})
    assert answer.status_code == 400 and "type the issue's name" in answer.text
    answer = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=queued")
    with Session(admin_engine) as session:
        [send] = session.exec(select(Send).where(Send.kind == SendKind.live)).all()
    assert send.started_by == "publisher@example.org" and send.audience == 5
    page = publisher.get(f"/admin/issues/{SLUG}/send")
    assert 'hx-get="/admin/issues/2016-q3/progress"' in page.text  # polled while sending
    outcomes = scheduler.send_due(admin_settings, admin_engine, _outbox(admin_settings))
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.sent]
    assert len(Outbox(admin_settings.outbox_dir).messages()) == 5
    fragment = publisher.get(f"/admin/issues/{SLUG}/progress")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "hx-trigger" not in fragment.text and "sent" in fragment.text  # polling ends
    again = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert again.status_code == 409 and "already sent" in again.text
    assert _actions(admin_engine) == ["send"]


def _outbox(settings: Settings) -> OutboxTransport:
    return OutboxTransport(settings.outbox_dir)


def test_stop_asks_a_running_send_to_stop(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    _subscribers(admin_engine, 3)
    publisher = as_role(Role.publisher)
    assert publisher.post(f"/admin/issues/{SLUG}/stop").status_code == 409  # nothing to stop
    publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    answer = publisher.post(f"/admin/issues/{SLUG}/stop")
    assert answer.status_code == 303
    assert "stopped" in publisher.get(f"/admin/issues/{SLUG}/send").text  # none in flight
    outcomes = scheduler.send_due(admin_settings, admin_engine, _outbox(admin_settings))
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.stopped]
    assert not admin_settings.outbox_dir.exists() or not list(admin_settings.outbox_dir.iterdir())
    page = publisher.get(f"/admin/issues/{SLUG}/send").text
    assert "Resume sending" in page
    answer = publisher.post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    assert answer.status_code == 303
    outcomes = scheduler.send_due(admin_settings, admin_engine, _outbox(admin_settings))
    assert [o.action for o in outcomes if o.slug == SLUG] == [scheduler.Action.sent]
    assert len(Outbox(admin_settings.outbox_dir).messages()) == 3


def test_the_report_page_draws_an_svg_chart_with_a_table(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    _subscribers(admin_engine, 4)
    viewer = as_role(Role.viewer)
    assert "has not been sent" in viewer.get(f"/admin/issues/{SLUG}/report").text
    as_role(Role.publisher).post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    scheduler.send_due(admin_settings, admin_engine, _outbox(admin_settings))
    page = viewer.get(f"/admin/issues/{SLUG}/report")
    assert page.status_code == 200
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert 'role="img"' in svg and "<rect" in svg and 'fill="#2b6cb0"' in svg
    assert "style=" not in page.text and "<script>" not in page.text  # the admin CSP holds
    assert "The chart's numbers as a table" in page.text
    assert re.search(r"<th scope=\"row\">Audience</th><td>4</td>", page.text)
    assert "WRITTEN TO THE OUTBOX" in page.text


def test_the_report_follows_each_new_event(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    """The figures are kept per version of what they count: a delivery's new status (as the
    Event Webhook writes it: status and updated_at) shows at the next request."""
    _subscribers(admin_engine, 3)
    viewer = as_role(Role.viewer)
    as_role(Role.publisher).post(f"/admin/issues/{SLUG}/send-now", {"confirm_slug": SLUG})
    scheduler.send_due(admin_settings, admin_engine, _outbox(admin_settings))
    delivered = re.compile(r"<th scope=\"row\">Delivered</th><td>(\d+)</td>")
    first = viewer.get(f"/admin/issues/{SLUG}/report").text
    assert delivered.search(first) and delivered.search(first).group(1) == "0"  # type: ignore[union-attr]
    assert viewer.get(f"/admin/issues/{SLUG}/report").text == first  # the same version
    d = delivery_table.c
    with admin_engine.begin() as connection:
        one = connection.execute(sa.select(sa.func.min(d.id))).scalar_one()
        connection.execute(
            delivery_table.update()
            .where(d.id == one)
            .values(status="delivered", updated_at=utcnow())
        )
    again = viewer.get(f"/admin/issues/{SLUG}/report").text
    assert delivered.search(again).group(1) == "1"  # type: ignore[union-attr]
