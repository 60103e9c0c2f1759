"""/admin/staff, two-factor sign-in and the last-admin rule, through HTTP and the CLI.

An admin invites a colleague (the link arrives in the outbox), who sets a password through it,
sets up two-factor sign-in with a code computed here by pyotp, signs out and back in with
password and code; a replayed code is refused, a recovery code works once."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import provenance
from newsletter.models import Role, StaffRecoveryCode, utcnow
from newsletter.staff import accounts, activity, totp
from newsletter.staff.invitation import SUBJECT
from tests.admin.conftest import add_staff, sign_in
from tests.admin.test_signin import app_with
from tests.conftest import run_cli
from tests.subscribers.conftest import Outbox, deliver

PASSWORD = "plum-orbit-lantern-47"
NEW = "Bea@example.org"
LINK = re.compile(r"http://localhost:8000/admin/link/([A-Za-z0-9_-]+)")
CODES = re.compile(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>")


def browser_post(client: TestClient, origin: str, url: str, data: dict[str, str]):
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    return client.post(url, data=data, headers=headers, follow_redirects=False)


def secret_of(engine, email: str) -> str:
    return accounts.get(engine, email).totp_secret


def code_at(secret: str, seconds_ahead: int = 0) -> str:
    at = utcnow() + timedelta(seconds=seconds_ahead)
    return pyotp.TOTP(secret).at(at)


def test_invite_link_password_totp_then_sign_in_with_a_code(
    as_role, admin_app, admin_settings, admin_engine
):
    admin = as_role(Role.admin)
    page = admin.get("/admin/staff")
    assert page.status_code == 200 and "Invite a staff member" in page.text
    answer = admin.post(
        "/admin/staff/invite", {"email": "Bea@Example.org", "name": "Bea Ko", "role": "publisher"}
    )
    assert answer.status_code == 200
    assert "The sign-in link is being emailed to Bea@example.org" in answer.text
    shown = LINK.search(answer.text)
    assert shown is not None
    assert deliver(admin_settings, admin_engine).sent == 1  # what the email worker does
    mails = Outbox(admin_settings.outbox_dir).to("Bea@example.org")
    assert len(mails) == 1 and mails[0]["Subject"] == SUBJECT
    assert admin_settings.from_email in str(mails[0]["From"])
    assert shown.group(0) in Outbox.text(mails[0]) and shown.group(0) in Outbox.html(mails[0])
    assert admin.get("/admin/staff").text.count(shown.group(1)) == 0  # shown once only
    assert activity.entries(admin_engine, action="staff_add")[0].actor == admin.staff.email

    bea = TestClient(admin_app, base_url=admin_settings.base_url)
    origin = admin_settings.base_url
    done = browser_post(
        bea, origin, f"/admin/link/{shown.group(1)}",
        {"password": PASSWORD, "password_again": PASSWORD},
    )  # fmt: skip
    assert done.status_code == 303
    setup = bea.get("/admin/account/two-factor")
    assert setup.status_code == 200 and "<svg" in setup.text and "style=" not in setup.text
    secret = secret_of(admin_engine, "bea@example.org")
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in setup.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', setup.text)
    assert csrf is not None
    wrong = browser_post(
        bea, origin, "/admin/account/two-factor", {"code": "000000", "csrf_token": csrf[1]}
    )
    assert wrong.status_code == 400 and "not right" in wrong.text
    on = browser_post(
        bea, origin, "/admin/account/two-factor",
        {"code": code_at(secret), "csrf_token": csrf[1]},
    )  # fmt: skip
    recovery = CODES.findall(on.text)
    assert on.status_code == 200 and len(recovery) == totp.RECOVERY_CODES
    with Session(admin_engine) as session:
        stored = {row.code_hash for row in session.exec(select(StaffRecoveryCode))}
    assert not any(code in stored or code.replace("-", "") in stored for code in recovery)
    assert "recovery codes" in bea.get("/admin/account/two-factor").text
    assert not CODES.findall(bea.get("/admin/account/two-factor").text)  # never again
    browser_post(bea, origin, "/admin/logout", {"csrf_token": csrf[1]})

    # password, then the code step: no session before the code
    step = browser_post(
        bea, origin, "/admin/login", {"email": "bea@example.org", "password": PASSWORD}
    )
    assert step.status_code == 303 and step.headers["location"].startswith("/admin/login/code")
    assert "nl_staff=" not in step.headers["set-cookie"]
    assert bea.get("/admin/issues", follow_redirects=False).status_code == 303  # not in yet
    assert bea.get("/admin/login/code").status_code == 200
    code = code_at(secret, 30)  # the next step's code (the current one was used to set up)
    signed = browser_post(bea, origin, "/admin/login/code", {"code": code})
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/issues"
    assert bea.get("/admin/issues", follow_redirects=False).status_code == 200

    # the same code again, on a new password step: refused (no replay)
    other = TestClient(admin_app, base_url=admin_settings.base_url)
    browser_post(other, origin, "/admin/login", {"email": "bea@example.org", "password": PASSWORD})
    replay = browser_post(other, origin, "/admin/login/code", {"code": code})
    assert replay.status_code == 401 and "used already" in replay.text
    # a recovery code works, once
    first = browser_post(other, origin, "/admin/login/code", {"code": recovery[0].upper()})
    assert first.status_code == 303 and first.headers["location"] == "/admin/issues"
    third = TestClient(admin_app, base_url=admin_settings.base_url)
    browser_post(third, origin, "/admin/login", {"email": "bea@example.org", "password": PASSWORD})
    again = browser_post(third, origin, "/admin/login/code", {"code": recovery[0]})
    assert again.status_code == 401
    bea_id = accounts.get(admin_engine, "bea@example.org").id
    assert bea_id is not None and totp.recovery_left(admin_engine, bea_id) == 9
    signins = [e.detail for e in activity.entries(admin_engine, action="signin", actor=NEW)]
    assert signins[:2] == ["with a recovery code (9 left)", "with a code"]
    failed = [e.detail for e in activity.entries(admin_engine, action="signin_failed", actor=NEW)]
    assert failed == ["wrong recovery code", "wrong code"]
    assert activity.entries(admin_engine, action="totp_on")[0].actor == NEW


def test_the_code_step_opens_nothing_and_is_throttled(monkeypatch, admin_engine):
    app, settings = app_with(monkeypatch, admin_engine, signin_rate_limit="3/15 minutes")
    staff = add_staff(admin_engine, Role.editor, "cy@example.org")
    assert staff.id is not None
    accounts.set_password(admin_engine, staff.id, PASSWORD)
    secret = totp.start(admin_engine, staff.id)
    assert totp.confirm(admin_engine, staff.id, code_at(secret)) is not None
    client = TestClient(app, base_url=settings.base_url)
    origin = settings.base_url
    browser_post(client, origin, "/admin/login", {"email": "cy@example.org", "password": PASSWORD})
    pending = client.cookies.get("nl_staff_code")
    assert pending
    # the half-signed-in token is no session, and no sign-in link either
    assert client.get("/admin/account", follow_redirects=False).status_code == 303
    assert client.get(f"/admin/link/{pending}").status_code == 404
    for _ in range(3):
        assert browser_post(
            client, origin, "/admin/login/code", {"code": "123456"}
        ).status_code in (
            401,
            429,
        )
    right = browser_post(client, origin, "/admin/login/code", {"code": code_at(secret, 30)})
    assert right.status_code == 429  # even a right code waits, as with passwords


def test_totp_required_sends_an_admin_to_set_it_up(monkeypatch, admin_engine):
    app, settings = app_with(monkeypatch, admin_engine, totp_required_for_admins="true")
    admin = sign_in(app, settings, admin_engine, add_staff(admin_engine, Role.admin))
    editor = sign_in(app, settings, admin_engine, add_staff(admin_engine, Role.editor))
    assert admin.get("/admin/issues").headers["location"] == "/admin/account/two-factor"
    assert admin.get("/admin/staff").status_code == 303
    assert admin.post("/admin/staff/invite", {"email": "x@example.org"}).status_code == 403
    assert admin.get("/admin/account/two-factor").status_code == 200
    assert editor.get("/admin/issues").status_code == 200  # only admins must
    secret = secret_of(admin_engine, admin.staff.email)
    assert admin.post("/admin/account/two-factor", {"code": code_at(secret)}).status_code == 200
    assert admin.get("/admin/issues").status_code == 200
    off = admin.post("/admin/account/two-factor/off", {"code": code_at(secret, 30)})
    assert "must use two-factor" in off.text
    assert accounts.get(admin_engine, admin.staff.email).totp_enabled_at is not None


def test_the_last_admin_stays_on_the_web(as_role, admin_engine):
    admin = as_role(Role.admin)
    staff_id = admin.staff.id
    for action, data in (("disable", {}), ("role", {"role": "editor"}), ("reset", {})):
        answer = admin.post(f"/admin/staff/{staff_id}/{action}", data)
        assert answer.status_code == 400, action
        assert "last enabled admin" in answer.text
    found = accounts.get(admin_engine, admin.staff.email)
    assert (found.role, found.disabled_at) == (Role.admin, None)
    # with a second admin, the first can be made editor, and then the second is the last
    other = add_staff(admin_engine, Role.admin, "second@example.org")
    assert admin.post(f"/admin/staff/{other.id}/role", {"role": "editor"}).status_code == 303
    assert admin.post(f"/admin/staff/{other.id}/role", {"role": "admin"}).status_code == 303
    assert admin.post(f"/admin/staff/{other.id}/disable").status_code == 303
    assert admin.post(f"/admin/staff/{staff_id}/disable").status_code == 400
    assert admin.post(f"/admin/staff/{other.id}/enable").status_code == 303
    assert [e.action for e in activity.entries(admin_engine, subject="second@example.org")][:4] == [
        "staff_enable",
        "staff_disable",
        "staff_role",
        "staff_role",
    ]


def test_the_last_admin_stays_on_the_cli(admin_settings, admin_engine):
    add_staff(admin_engine, Role.admin, "only@example.org")
    code, _, err = run_cli("staff", "disable", "only@example.org")
    assert code == 1 and "last enabled admin" in err and "disabling them" in err
    code, _, err = run_cli("staff", "role", "only@example.org", "viewer")
    assert code == 1 and "last enabled admin" in err
    assert accounts.get(admin_engine, "only@example.org").role == Role.admin
    code, out, _ = run_cli("staff", "reset", "only@example.org")  # the operator's way back in
    assert code == 0 and "/admin/link/" in out


def test_staff_actions_sign_out_reset_and_email_failure(as_role, admin_engine, admin_settings):
    admin = as_role(Role.admin)
    editor = as_role(Role.editor)
    listing = admin.get("/admin/staff").text
    assert "editor@example.org" in listing and "Live sessions" in listing
    assert admin.post(f"/admin/staff/{editor.staff.id}/signout").status_code == 303
    assert editor.get("/admin/issues").status_code == 303  # signed out
    reset = admin.post(f"/admin/staff/{editor.staff.id}/reset")
    assert reset.status_code == 200 and LINK.search(reset.text)
    assert accounts.get(admin_engine, "editor@example.org").password_hash == ""
    again = admin.post(f"/admin/staff/{editor.staff.id}/reset")  # before the worker ran
    done = deliver(admin_settings, admin_engine)
    assert (done.sent, done.dropped) == (1, 1)  # the first link was replaced: not sent
    [mail] = Outbox(admin_settings.outbox_dir).to("editor@example.org")
    second = LINK.search(again.text)
    assert second is not None and second.group(0) in Outbox.text(mail)
    bad = admin.post("/admin/staff/invite", {"email": "not an address", "role": "viewer"})
    assert bad.status_code == 400 and 'value="not an address"' in bad.text


def test_an_email_that_cannot_go_yet_waits_and_the_link_is_still_shown(
    monkeypatch, admin_engine, tmp_path
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    app, settings = app_with(monkeypatch, admin_engine, outbox_dir=str(blocked))
    admin = sign_in(app, settings, admin_engine, add_staff(admin_engine, Role.admin))
    invited = admin.post("/admin/staff/invite", {"email": "dee@example.org", "role": "viewer"})
    assert invited.status_code == 200
    assert "pass the link below" in invited.text and LINK.search(invited.text)
    assert accounts.get(admin_engine, "dee@example.org").role == Role.viewer
    assert deliver(settings, admin_engine).retried == 1  # queued again, for later


@pytest.mark.parametrize("role", [Role.viewer, Role.editor, Role.publisher])
def test_only_admins_see_staff_and_settings_in_the_navigation(as_role, role):
    page = as_role(role).get("/admin/account").text
    assert 'href="/admin/staff"' not in page and 'href="/admin/settings"' not in page


def test_settings_page_says_where_each_value_came_from(monkeypatch, admin_engine, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('organisation_name = "From The File"\ntimezone = "Europe/Berlin"\n')
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(config))
    monkeypatch.setenv("NEWSLETTER_TIMEZONE", "Asia/Bangkok")  # env wins over the file
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.very-secret-value")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", str(admin_engine.url))
    app, settings = app_with(monkeypatch, admin_engine)
    admin = sign_in(app, settings, admin_engine, add_staff(admin_engine, Role.admin))
    page = admin.get("/admin/settings")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)

    def row(name: str) -> str:
        found = re.search(rf"<code>{name}</code></th>(.*?)</tr>", text)
        assert found is not None, name
        return found.group(1)

    assert "From The File" in row("organisation_name") and "settings file" in row(
        "organisation_name"
    )
    assert "Asia/Bangkok" in row("timezone") and "NEWSLETTER_TIMEZONE" in row("timezone")
    assert "default" in row("from_name")
    assert "<strong>set</strong>" in row("sendgrid_api_key")
    assert "<strong>set</strong>" in row("secret_key") and "environment" in row("secret_key")
    assert "very-secret-value" not in page.text and settings.secret_key.get_secret_value() not in (
        page.text
    )
    assert "<strong>not set</strong>" in row("sendgrid_webhook_public_key")


def test_a_database_password_is_never_shown():
    shown = provenance.shown("database_url", "postgresql+psycopg://app:hunter2-long@db:5432/nl")
    assert shown == "postgresql+psycopg://app:***@db:5432/nl"
