"""Signing in and out through HTTP: the same answer for every failure, throttling per account
and per IP, the cookie's flags, sessions that end at once, CSRF, and sign-in links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.models import Role, Staff, StaffSession, utcnow
from newsletter.staff import accounts, activity, links, sessions
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from newsletter.web.admin.auth import cookie_name, lifetimes
from newsletter.web.admin.signin import NO_MATCH, safe_next
from newsletter.web.ratelimit import ACCOUNT_CEILING
from tests.admin.conftest import add_staff, sign_in

PASSWORD = "plum-orbit-lantern-47"
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


def staff_with_password(engine: sa.Engine, role: Role = Role.editor, email: str = "") -> Staff:
    staff = add_staff(engine, role, email)
    assert staff.id is not None
    return accounts.set_password(engine, staff.id, PASSWORD)


def post_login(client: TestClient, settings: Settings, email: str, password: str, **extra):
    data = {"email": email, "password": password, **extra}
    headers = {"Origin": settings.base_url, **SAME_SITE}
    return client.post("/admin/login", data=data, headers=headers, follow_redirects=False)


def app_with(monkeypatch, engine: sa.Engine, **env: str) -> tuple[FastAPI, Settings]:
    for key, value in env.items():
        monkeypatch.setenv(f"NEWSLETTER_{key.upper()}", value)
    settings = Settings()
    return create_app(settings, engine, OutboxTransport(settings.outbox_dir)), settings


def test_sign_in_starts_a_session_and_goes_where_asked(anonymous, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    page = anonymous.get("/admin/login?next=/admin/activity")
    assert page.status_code == 200
    assert '<label for="email">' in page.text and '<label for="password">' in page.text
    answer = post_login(
        anonymous, admin_settings, "EDITOR@example.org", PASSWORD, next="/admin/activity"
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/activity"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("nl_staff=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http base_url: a Secure cookie would never come back
    assert anonymous.get("/admin/activity", follow_redirects=False).status_code == 200
    entries = activity.entries(admin_engine, action="signin")
    assert [(e.actor, e.staff_id) for e in entries] == [("editor@example.org", staff.id)]
    assert accounts.find(admin_engine, "editor@example.org").last_signin_at is not None  # type: ignore[union-attr]


def test_https_base_url_gives_a_secure_host_prefixed_cookie(monkeypatch, admin_engine):
    app, settings = app_with(monkeypatch, admin_engine, base_url="https://news.example.org")
    staff_with_password(admin_engine)
    client = TestClient(app, base_url=settings.base_url)
    answer = post_login(client, settings, "editor@example.org", PASSWORD)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-nl_staff=")
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    assert client.get("/admin/account", follow_redirects=False).status_code == 200


def test_every_failure_gets_the_same_answer(anonymous, admin_settings, admin_engine):
    staff_with_password(admin_engine, email="ann@example.org")
    staff_with_password(admin_engine, email="gone@example.org")
    accounts.disable(admin_engine, "gone@example.org")
    add_staff(admin_engine, Role.viewer, "new@example.org")  # invited: no password yet
    answers = []
    for email, password in [
        ("nobody@example.org", PASSWORD),
        ("ann@example.org", PASSWORD + "x"),
        ("gone@example.org", PASSWORD),
        ("new@example.org", PASSWORD),
    ]:
        answer = post_login(anonymous, admin_settings, email, password)
        assert answer.status_code == 401 and "set-cookie" not in answer.headers
        answers.append(answer.text.replace(email, "EMAIL"))
    assert NO_MATCH in answers[0] and len(set(answers)) == 1
    failed = activity.entries(admin_engine, action="signin_failed")
    assert len(failed) == 4 and all(e.ip == "testclient" for e in failed)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/admin",
        "/\\evil.example",
        "/subscribe",
        "/admin/login",
        "javascript:alert(1)",
    ],
)
def test_next_is_only_a_local_admin_path(target):
    assert safe_next(target) == "/admin/issues"
    assert safe_next("/admin/issues/2016-q3?tab=send") == "/admin/issues/2016-q3?tab=send"


def _from(app: FastAPI, settings: Settings, ip: str) -> TestClient:
    return TestClient(app, base_url=settings.base_url, client=(ip, 5000))


def _unclocked(page: str) -> str:
    """A page with its "(at 14:05 UTC)" times made one."""
    return re.sub(r"\(at \d\d:\d\d UTC\)", "(at HH:MM UTC)", page)


def test_failures_are_throttled_per_address_and_ip(monkeypatch, admin_engine):
    app, settings = app_with(
        monkeypatch, admin_engine, signin_rate_limit="3/15 minutes", signin_ip_rate_limit="off"
    )
    staff_with_password(admin_engine, email="ann@example.org")
    staff_with_password(admin_engine, email="bo@example.org")
    guesser, office = _from(app, settings, "192.0.2.66"), _from(app, settings, "198.51.100.7")
    for _ in range(3):
        answer = post_login(guesser, settings, "ann@example.org", "wrong-password-1")
        assert answer.status_code == 401
    refused = post_login(guesser, settings, "ANN@example.org", PASSWORD)  # even the right one
    assert refused.status_code == 429 and "set-cookie" not in refused.headers
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    assert "Too many failed sign-ins" in refused.text and "try again in 15 minutes" in refused.text
    assert post_login(guesser, settings, "bo@example.org", PASSWORD).status_code == 303
    # the guesser did not lock Ann out: from her own IP her password works
    assert post_login(office, settings, "ann@example.org", PASSWORD).status_code == 303
    for _ in range(3):  # an unknown address is throttled the same: its existence does not show
        post_login(guesser, settings, "nobody@example.org", "wrong-password-1")
    unknown = post_login(guesser, settings, "nobody@example.org", PASSWORD)
    assert unknown.status_code == 429
    # the same page but for the address, and the clock time it gives, which may have turned a
    # minute between the two answers
    assert _unclocked(unknown.text.replace("nobody", "ann")) == _unclocked(
        refused.text.replace("nobody", "ann")
    )
    assert post_login(office, settings, "nobody@example.org", "x").status_code == 401


def test_failures_from_many_ips_meet_a_ceiling_per_address(monkeypatch, admin_engine):
    """A guess spread over many IPs is slowed: ACCOUNT_CEILING times signin_rate_limit per
    address from every IP together (here 2 x 10 = 20), a success from one IP does not reset it."""
    app, settings = app_with(
        monkeypatch, admin_engine, signin_rate_limit="2/15 minutes", signin_ip_rate_limit="off"
    )
    assert ACCOUNT_CEILING == 10
    staff_with_password(admin_engine, email="ann@example.org")
    for n in range(9):  # 18 failures, 2 from each of 9 IPs: each pair is used up
        for _ in range(2):
            client = _from(app, settings, f"203.0.113.{n}")
            assert post_login(client, settings, "ann@example.org", "wrong-1").status_code == 401
        assert post_login(client, settings, "ann@example.org", PASSWORD).status_code == 429
    home = _from(app, settings, "198.51.100.7")
    assert post_login(home, settings, "ann@example.org", PASSWORD).status_code == 303
    last = _from(app, settings, "203.0.113.99")
    for _ in range(2):  # 20: the ceiling
        assert post_login(last, settings, "ann@example.org", "wrong-1").status_code == 401
    for ip in ("198.51.100.7", "198.51.100.8"):
        refused = post_login(_from(app, settings, ip), settings, "ann@example.org", PASSWORD)
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    # an unknown address meets the same ceiling
    for n in range(10):
        for _ in range(2):
            client = _from(app, settings, f"203.0.113.{n}")
            assert post_login(client, settings, "no@example.org", "wrong-1").status_code == 401
    fresh = _from(app, settings, "198.51.100.9")
    assert post_login(fresh, settings, "no@example.org", "wrong-1").status_code == 429


def test_failures_are_throttled_per_ip(monkeypatch, admin_engine):
    app, settings = app_with(
        monkeypatch, admin_engine, signin_rate_limit="off", signin_ip_rate_limit="3/15 minutes"
    )
    staff_with_password(admin_engine, email="ann@example.org")
    one = TestClient(app, base_url=settings.base_url, client=("192.0.2.1", 5000))
    other = TestClient(app, base_url=settings.base_url, client=("192.0.2.2", 5000))
    for n in range(3):
        assert post_login(one, settings, f"p{n}@example.org", "wrong-password-1").status_code == 401
    assert post_login(one, settings, "ann@example.org", PASSWORD).status_code == 429
    assert post_login(other, settings, "ann@example.org", PASSWORD).status_code == 303


def test_signing_in_again_ends_the_old_session(anonymous, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    post_login(anonymous, admin_settings, "editor@example.org", PASSWORD)
    first = anonymous.cookies.get(cookie_name(admin_settings))
    post_login(anonymous, admin_settings, "editor@example.org", PASSWORD)
    second = anonymous.cookies.get(cookie_name(admin_settings))
    assert first and second and first != second
    life = lifetimes(admin_settings)
    assert sessions.find(admin_engine, first, life) is None
    assert sessions.find(admin_engine, second, life) is not None
    assert staff.id is not None and len(sessions.live(admin_engine, staff.id, life)) == 1


def test_sign_out_everywhere_refuses_the_other_browser_at_once(
    admin_app, admin_settings, admin_engine
):
    staff = staff_with_password(admin_engine)
    laptop = sign_in(admin_app, admin_settings, admin_engine, staff)
    phone = sign_in(admin_app, admin_settings, admin_engine, staff)
    assert laptop.get("/admin/account").status_code == 200
    answer = phone.post("/admin/account/sessions/everywhere")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    for client in (laptop, phone):
        refused = client.get("/admin/account")
        assert refused.status_code == 303
        assert refused.headers["location"] == "/admin/login?next=%2Fadmin%2Faccount"
        assert client.post("/admin/account/sessions/others").status_code == 401
    assert (
        activity.entries(admin_engine, action="signout_everywhere")[0].detail == "2 sessions ended"
    )


def test_sign_out_of_other_sessions_keeps_this_one(admin_app, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    laptop = sign_in(admin_app, admin_settings, admin_engine, staff)
    phone = sign_in(admin_app, admin_settings, admin_engine, staff)
    page = phone.get("/admin/account")
    assert page.text.count('/end"') == 2 and "(this browser)" in page.text
    assert phone.post("/admin/account/sessions/others").status_code == 303
    assert phone.get("/admin/account").status_code == 200
    assert laptop.get("/admin/account").status_code == 303


def test_ending_one_session_from_the_list(admin_app, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    laptop = sign_in(admin_app, admin_settings, admin_engine, staff)
    phone = sign_in(admin_app, admin_settings, admin_engine, staff)
    other = add_staff(admin_engine, Role.viewer, "other@example.org")
    stranger = sign_in(admin_app, admin_settings, admin_engine, other)
    laptop_id = _session_id(admin_engine, laptop.client.cookies.get(cookie_name(admin_settings)))
    assert stranger.post(f"/admin/account/sessions/{laptop_id}/end").status_code == 303
    assert laptop.get("/admin/account").status_code == 200  # not theirs to end
    assert phone.post(f"/admin/account/sessions/{laptop_id}/end").status_code == 303
    assert laptop.get("/admin/account").status_code == 303
    assert phone.get("/admin/account").status_code == 200


def _session_id(engine: sa.Engine, token: str | None) -> int:
    with Session(engine) as session:
        found = session.exec(
            select(StaffSession).where(StaffSession.token_hash == sessions.token_hash(token or ""))
        ).one()
    assert found.id is not None
    return found.id


def test_a_disabled_staff_member_is_refused_at_once(admin_app, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    client = sign_in(admin_app, admin_settings, admin_engine, staff)
    assert client.get("/admin/activity").status_code == 200
    accounts.disable(admin_engine, staff.email)
    assert client.get("/admin/activity").status_code == 303
    assert client.post("/admin/logout").headers["location"] == "/admin/login?signed_out=1"


def test_idle_and_absolute_expiry(admin_app, admin_settings, admin_engine):
    staff = staff_with_password(admin_engine)
    assert staff.id is not None
    life = lifetimes(admin_settings)
    start = utcnow()
    idle, _ = sessions.start(admin_engine, staff.id, life, now=start)
    assert sessions.find(admin_engine, idle, life, now=start + life.idle) is None
    token, _ = sessions.start(admin_engine, staff.id, life, now=start)
    seen = start + life.idle - timedelta(seconds=1)
    assert sessions.find(admin_engine, token, life, now=seen) is not None  # touched: seen now
    assert sessions.find(admin_engine, token, life, now=seen + life.idle) is None
    token, _ = sessions.start(admin_engine, staff.id, life, now=start)
    # kept alive by requests, it still ends at its absolute age
    moment = start
    while moment + life.idle / 2 < start + life.absolute:
        moment += life.idle / 2
        assert sessions.find(admin_engine, token, life, now=moment) is not None
    assert sessions.find(admin_engine, token, life, now=start + life.absolute) is None
    # through HTTP: a session last seen longer ago than the idle timeout is refused
    client = sign_in(admin_app, admin_settings, admin_engine, staff)
    assert client.get("/admin/account").status_code == 200
    with admin_engine.begin() as connection:
        connection.execute(
            sa.update(StaffSession).values(last_seen_at=utcnow() - life.idle - timedelta(seconds=1))
        )
    assert client.get("/admin/account").status_code == 303


def test_csrf_refusals(as_role, admin_engine):
    client = as_role(Role.viewer)
    target = "/admin/account/sessions/others"
    assert client.post(target, csrf=False).status_code == 403
    assert client.post(target, {"csrf_token": "forged"}, csrf=False).status_code == 403
    assert client.post(target, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(target, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post(target, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert client.get("/admin/account").status_code == 200  # nothing happened
    with_header = client.client.post(
        target, headers={"X-CSRF-Token": client.csrf_token}, follow_redirects=False
    )
    assert with_header.status_code == 303  # htmx sends the token as a header
    assert client.post("/admin/logout", csrf=False).status_code == 403
    assert client.get("/admin/account").status_code == 200


def test_sign_in_form_from_another_site_is_refused(anonymous, admin_engine):
    staff_with_password(admin_engine)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = anonymous.post(
            "/admin/login",
            data={"email": "editor@example.org", "password": PASSWORD},
            headers=headers,
            follow_redirects=False,
        )
        assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_session_less_forms_without_origin_or_sec_fetch_site_are_refused(
    anonymous, admin_settings, admin_engine
):
    """A browser always sends Origin on a form POST: the sign-in and link forms, which have no
    form token, refuse a POST with neither header (login CSRF from a client that omits both)."""
    staff = staff_with_password(admin_engine)
    assert staff.id is not None
    token = links.create(admin_engine, staff.id, links.RESET)
    forms = [
        ("/admin/login", {"email": "editor@example.org", "password": PASSWORD}),
        (f"/admin/link/{token}", {"password": PASSWORD + "2", "password_again": PASSWORD + "2"}),
    ]
    for url, data in forms:
        answer = anonymous.post(url, data=data, follow_redirects=False)
        assert answer.status_code == 403 and "set-cookie" not in answer.headers, url
        assert "did not say which site it came from" in answer.text, url
    assert not activity.entries(admin_engine, action="signin")
    assert links.peek(admin_engine, token) is not None  # the link is not used up
    # either header alone is enough, as a browser sends them
    for headers in ({"Origin": admin_settings.base_url}, SAME_SITE):
        answer = anonymous.post(
            forms[0][0], data=forms[0][1], headers=headers, follow_redirects=False
        )
        assert answer.status_code == 303, headers


def test_logout(as_role, admin_engine, admin_settings):
    client = as_role(Role.editor)
    answer = client.post("/admin/logout")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login?signed_out=1"
    assert (
        'nl_staff=""' in answer.headers["set-cookie"] or "Max-Age=0" in answer.headers["set-cookie"]
    )
    assert "You are signed out." in client.get("/admin/login?signed_out=1").text
    assert activity.entries(admin_engine, action="signout")[0].actor == "editor@example.org"
    client.client.cookies.clear()
    assert client.get("/admin/account").status_code == 303


def test_a_sign_in_link_sets_the_password_once(anonymous, admin_settings, admin_engine):
    staff = add_staff(admin_engine, Role.editor, "ann@example.org", "Ann Lee")
    assert staff.id is not None
    token = links.create(admin_engine, staff.id, links.INVITE)
    url = f"/admin/link/{token}"
    form = anonymous.get(url)
    assert form.status_code == 200 and "ann@example.org" in form.text
    assert '<label for="password">' in form.text and '<label for="password_again">' in form.text
    headers = {"Origin": admin_settings.base_url}

    def send(first: str, second: str):
        data = {"password": first, "password_again": second}
        return anonymous.post(url, data=data, headers=headers, follow_redirects=False)

    assert "The two passwords differ." in send(PASSWORD, PASSWORD + "x").text
    weak = send("Ann Lee", "Ann Lee")
    assert weak.status_code == 400 and "too short" in weak.text
    assert "your email address or your name" in send("ann@example.org", "ann@example.org").text
    done = send(PASSWORD, PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/admin/issues"
    assert anonymous.get("/admin/account", follow_redirects=False).status_code == 200
    assert accounts.authenticate(admin_engine, "ann@example.org", PASSWORD) is not None
    assert [e.action for e in activity.entries(admin_engine)][:2] == ["signin", "password_set"]
    used, unknown = anonymous.get(url), anonymous.get("/admin/link/made-up-token")
    late = links.create(admin_engine, staff.id, links.RESET, now=utcnow() - timedelta(hours=25))
    expired = anonymous.get(f"/admin/link/{late}")
    assert used.status_code == unknown.status_code == expired.status_code == 404
    assert used.text == unknown.text == expired.text and "does not work" in used.text
    assert send(PASSWORD, PASSWORD).status_code == 404


def test_activity_page_filters_and_pages(as_role, admin_engine):
    for n in range(60):
        activity.record(admin_engine, actor="cli", action="staff_add", subject=f"p{n}@example.org")
    activity.record(admin_engine, actor="ann@example.org", action="save", subject="2016-q3")
    client = as_role(Role.viewer)
    page = client.get("/admin/activity")
    assert page.status_code == 200 and "2016-q3" in page.text and 'rel="next"' in page.text
    for name in ("actor", "action", "subject"):
        assert f'<label for="{name}">' in page.text
    older = page.text.split('href="/admin/activity?before=')[1].split('"')[0]
    second = client.get(f"/admin/activity?before={older}")
    assert "p0@example.org" in second.text and "p59@example.org" not in second.text
    assert "Newest" in second.text
    only = client.get("/admin/activity?subject=2016-q3&action=save")
    assert "ann@example.org" in only.text and "p1@example.org" not in only.text
    assert client.get("/admin/activity?before=nonsense").status_code == 200
