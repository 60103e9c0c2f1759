"""The home page (/admin/): what it shows, each set-up warning exactly when its condition holds
(settings from the environment, rows through the real code where practical), and the growth
chart's weekly buckets on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.issues.build import sync_markdown
from newsletter.models import (
    Role,
    delivery_table,
    send_table,
    status_event_table,
    utcnow,
)
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from newsletter.web.admin.growth import first_week, growth, weekly
from newsletter.web.admin.home import quarter_of
from newsletter.web.admin.setup_warnings import SQLITE_CEILING, setup_warnings
from tests.admin.conftest import StaffClient, add_staff, sign_in


def _page(settings: Settings, engine: sa.Engine) -> str:
    """The home page as a viewer sees it with these settings."""
    app = create_app(settings, engine, OutboxTransport(settings.outbox_dir))
    staff = add_staff(engine, Role.viewer, email=f"viewer{utcnow().timestamp()}@example.org")
    page = sign_in(app, settings, engine, staff).get("/admin/")
    assert page.status_code == 200
    return page.text


def _warnings(text: str) -> set[str]:
    import re

    return set(re.findall(r'id="warning-([a-z0-9-]+)"', text))


def _send(engine: sa.Engine, slug: str, transport: str, *statuses: str) -> int:
    with engine.begin() as connection:
        send_id = connection.execute(
            send_table.insert().values(
                issue_slug=slug, kind="live", live_slug=slug, status="finished",
                content_hash="0" * 64, subject=f"Issue {slug}", html="<p>x</p>", text="x",
                audience=len(statuses), started_at=utcnow(), transport=transport,
                started_by="test",
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        for i, status in enumerate(statuses):
            connection.execute(
                delivery_table.insert().values(
                    send_id=send_id, email=f"x{i}@example.net", status=status, updated_at=utcnow()
                )
            )
    return int(send_id)


def test_admin_and_admin_slash_are_the_home_page_for_every_role(
    as_role: Callable[[Role], StaffClient],
) -> None:
    for role in Role:
        for url in ("/admin", "/admin/"):
            page = as_role(role).get(url)
            assert page.status_code == 200, (role, url)
            assert "<h1>Home</h1>" in page.text
    text = as_role(Role.viewer).get("/admin/").text
    nav = text[text.index("<nav") : text.index("</nav>")]
    assert nav.index(">Home<") < nav.index(">Issues<")  # first in the navigation
    assert '<a href="/admin/" aria-current="page">Home</a>' in nav
    issues = as_role(Role.viewer).get("/admin/issues").text
    assert '<a href="/admin/" aria-current="page">' not in issues  # Home is not every page


def test_the_page_shows_the_next_issue_the_last_sends_statuses_and_posts(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    with Session(admin_engine) as session:
        for i in range(3):
            subscribers.add(
                session, f"r{i}@example.net", "", confirmed=i < 2, consent=ConsentInfo("t")
            )
        session.commit()
    _send(admin_engine, "2016-q2", "outbox", "accepted", "delivered", "uncertain")
    label, _, _ = quarter_of(utcnow().astimezone(admin_settings.zone).date())
    day = utcnow().astimezone(admin_settings.zone).date()
    (admin_settings.content_dir / "this-quarter.md").write_text(
        f'---\ntitle: "Fresh"\ndate: {day.isoformat()}\nurl: https://example.org/fresh/\n---\n\nBody.\n'
    )
    sync_markdown(admin_settings, admin_engine)
    text = as_role(Role.viewer).get("/admin/").text
    # the sample issues were due in 2016 and 2017: none is next; both are missed, newest first
    upcoming = text[text.index('id="next-title"') : text.index('id="sends-title"')]
    assert "No issue is scheduled." in upcoming
    missed = upcoming[upcoming.index('id="missed-title"') :]
    assert missed.index('href="/admin/issues/2016-q4/send"') < missed.index(
        'href="/admin/issues/2016-q3/send"'
    )
    sends = text[text.index('id="sends-title"') : text.index('id="subscribers-title"')]
    assert "2016-q2" in sends and 'data-label="Uncertain">1<' in sends
    assert 'data-label="Accepted">2<' in sends and 'data-label="Delivered">1<' in sends
    tiles = text[text.index('class="tiles"') : text.index('id="growth-title"')]
    assert "<dt>confirmed</dt><dd>2</dd>" in tiles and "<dt>pending</dt><dd>1</dd>" in tiles
    assert "<dt>all</dt><dd>3</dd>" in tiles
    assert f"Posts this quarter ({label})" in text
    posts = text[text.index('id="posts-title"') :]
    assert 'data-label="Posts">1<' in posts  # the markdown source, this quarter's one post
    assert 'role="img" aria-labelledby="growth-title growth-desc"' in text  # confirmations drawn
    assert "style=" not in text  # the admin CSP forbids style attributes


def test_the_next_issue_is_the_first_scheduled_one_after_the_missed_ones(
    as_role: Callable[[Role], StaffClient], admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    def upcoming() -> str:
        text = as_role(Role.viewer).get("/admin/").text
        return text[text.index('id="next-title"') : text.index('id="sends-title"')]

    q4 = (admin_settings.issues_dir / "2016-q4.toml").read_text()
    later = utcnow() + timedelta(days=3)
    (admin_settings.issues_dir / "2030-q1.toml").write_text(
        q4.replace("send_at = 2017-01-10T09:00:00+07:00", f"send_at = {later.isoformat()}").replace(
            'quarter = "2016-Q4"', 'quarter = "2016-Q4"\n# a later copy'
        )
    )
    # two missed 2016 issues come first in time; the scheduled one is still the next
    section = upcoming()
    assert '<p class="next"><a href="/admin/issues/2030-q1">2030-q1</a>' in section
    assert "state-scheduled" in section and "(in 2 days" in section
    assert 'href="/admin/issues/2016-q3/send"' in section.split('id="missed-title"')[1]
    _send(admin_engine, "2016-q3", "outbox", "accepted")  # sent: no longer missed
    _send(admin_engine, "2016-q4", "outbox", "accepted")
    section = upcoming()
    assert 'id="missed-title"' not in section and "2030-q1" in section
    _send(admin_engine, "2030-q1", "outbox", "accepted")
    assert "No issue is scheduled." in upcoming()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, set()),  # localhost over http with the outbox: a developer's machine
        ({"BASE_URL": "https://news.example.org"}, {"outbox"}),
        ({"BASE_URL": "http://news.example.org"}, {"outbox", "http"}),
        ({"BASE_URL": "http://news.example.org", "TRANSPORT": "sendgrid"}, {"http"}),
        ({"BASE_URL": "https://news.example.org", "TRANSPORT": "sendgrid"}, set()),
        ({"BASE_URL": "http://127.0.0.1:8000"}, set()),
    ],
)
def test_transport_and_base_url_warnings(
    admin_settings: Settings,
    admin_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: set[str],
) -> None:
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.test-key-for-the-settings")
    for name, value in env.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    settings = Settings()
    assert _warnings(_page(settings, admin_engine)) == expected


def test_webhook_warning_while_a_live_sendgrid_send_has_never_heard_an_event(
    admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    _send(admin_engine, "2016-q1", "sendgrid (sandbox)", "accepted")
    assert "webhook" not in _warnings(_page(admin_settings, admin_engine))  # sandbox: no events
    _send(admin_engine, "2016-q2", "outbox + sendgrid", "accepted")
    text = _page(admin_settings, admin_engine)
    assert _warnings(text) == {"webhook"}
    assert "/webhooks/sendgrid" in text and "docs/webhooks.md" in text
    with admin_engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO webhook_event (sg_event_id, received_at) VALUES ('e1', :at)"),
            {"at": utcnow().replace(tzinfo=None)},
        )
    assert _warnings(_page(admin_settings, admin_engine)) == set()


def test_uncertain_warning_for_a_live_send_only(
    admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    send_id = _send(admin_engine, "2016-q2", "outbox", "accepted", "uncertain", "uncertain")
    text = _page(admin_settings, admin_engine)
    assert _warnings(text) == {"uncertain-2016-q2"}
    assert "2 uncertain deliveries" in text and "--resend-uncertain" in text
    with admin_engine.begin() as connection:
        connection.execute(
            delivery_table.update()
            .where(delivery_table.c.send_id == send_id)
            .values(status="delivered")
        )
    assert _warnings(_page(admin_settings, admin_engine)) == set()


def test_sqlite_warning_above_the_ceiling_only_on_sqlite(
    admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    on_sqlite = admin_settings.database_url.startswith("sqlite")
    keys = {w.key for w in setup_warnings(admin_settings, admin_engine, SQLITE_CEILING + 1)}
    assert keys == ({"sqlite"} if on_sqlite else set())
    assert not setup_warnings(admin_settings, admin_engine, SQLITE_CEILING)
    if on_sqlite:
        text = next(iter(setup_warnings(admin_settings, admin_engine, SQLITE_CEILING + 1)))
        assert text.docs == "docs/deploy.md#postgresql"


def _event(engine: sa.Engine, subscriber_id: int, at: datetime, to: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            status_event_table.insert().values(
                subscriber_id=subscriber_id, at=at, from_status="confirmed", to_status=to,
                reason="test",
            )
        )  # fmt: skip


def test_growth_counts_each_event_in_its_week(engine: sa.Engine) -> None:
    with Session(engine) as session:
        person = subscribers.add(
            session, "w@example.net", "", confirmed=True, consent=ConsentInfo("t")
        )
        session.commit()
        assert person.id is not None
        pid = person.id
    now = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # a Thursday, long before the add below
    monday = datetime(2025, 6, 2, tzinfo=UTC)
    sunday_night = monday - timedelta(seconds=1)  # the week before
    _event(engine, pid, monday, "unsubscribed")
    _event(engine, pid, monday + timedelta(days=3, hours=11), "bounced")
    _event(engine, pid, sunday_night, "complained")
    _event(engine, pid, sunday_night - timedelta(days=2), "complained")
    _event(engine, pid, first_week(now), "confirmed")  # the chart's very first moment
    _event(engine, pid, first_week(now) - timedelta(microseconds=1), "confirmed")  # too old
    _event(engine, pid, monday + timedelta(hours=1), "pending")  # not a confirmation or departure
    found = weekly(engine, now)
    assert found[monday] == {"unsubscribed": 1, "bounced": 1}
    assert found[monday - timedelta(weeks=1)] == {"complained": 2}
    assert found[first_week(now)] == {"confirmed": 1}
    assert len(found) == 3  # the add's own confirmation (today) is after the chart's weeks
    chart = growth(engine, now)
    assert len(chart.bars) == 53 and chart.bars[-1].start == monday
    assert chart.bars[-1].counts == {"unsubscribed": 1, "bounced": 1} and chart.peak == 2
    _event(engine, pid, monday + timedelta(days=1), "confirmed")  # a new version: counted
    assert growth(engine, now).bars[-1].counts == {
        "unsubscribed": 1, "bounced": 1, "confirmed": 1,
    }  # fmt: skip
    other = _person(engine, "v@example.net")
    _event(engine, other, monday + timedelta(days=2), "unsubscribed")  # appended: added to kept
    assert growth(engine, now).bars[-1].counts == {
        "unsubscribed": 2, "bounced": 1, "confirmed": 1,
    }  # fmt: skip
    with Session(engine) as session:  # an erasure deletes the person's history: counted again
        assert subscribers.erase(session, "w@example.net")
        session.commit()
    assert growth(engine, now).bars[-1].counts == {"unsubscribed": 1}
    assert growth(engine, now).peak == 1


def _person(engine: sa.Engine, email: str) -> int:
    with Session(engine) as session:
        person = subscribers.add(session, email, "", confirmed=True, consent=ConsentInfo("t"))
        session.commit()
        assert person.id is not None
        return person.id


def test_quarter_of() -> None:
    from datetime import date

    assert quarter_of(date(2026, 11, 29)) == ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1))
    assert quarter_of(date(2026, 1, 1)) == ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1))
    assert quarter_of(date(2026, 6, 30)) == ("2026-Q2", date(2026, 4, 1), date(2026, 7, 1))
