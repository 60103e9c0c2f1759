"""``newsletter staff ...`` end to end: the commands, their one-line refusals, the activity log
they write, and the printed link working in the web app; ``serve --public-only/--admin-only``."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.config import Settings
from newsletter.staff import accounts, activity
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from tests.conftest import run_cli

PASSWORD = "plum-orbit-lantern-47"
LINK = re.compile(r"http://localhost:8000/admin/link/([A-Za-z0-9_-]+)")


def test_add_prints_a_link_that_lets_them_in(admin_settings, admin_engine):
    code, out, err = run_cli(
        "staff", "add", "Ann@Example.org", "--name", "Ann Lee", "--role", "editor"
    )
    assert code == 0, err
    assert "added Ann@example.org (editor)" in out and "works once, for 24 hours" in out
    found = LINK.search(out)
    assert found is not None
    client = TestClient(
        create_app(admin_settings, admin_engine, OutboxTransport(admin_settings.outbox_dir)),
        base_url=admin_settings.base_url,
    )
    answer = client.post(
        f"/admin/link/{found.group(1)}",
        data={"password": PASSWORD, "password_again": PASSWORD},
        headers={"Origin": admin_settings.base_url},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert client.get("/admin/account", follow_redirects=False).status_code == 200
    entry = activity.entries(admin_engine, action="staff_add")[0]
    assert (entry.actor, entry.subject, entry.detail) == ("cli", "Ann@example.org", "role editor")


def test_add_with_a_password_from_stdin(admin_settings, admin_engine):
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        ["staff", "add", "bo@example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "/admin/link/" not in result.stdout and PASSWORD not in result.stdout
    assert accounts.authenticate(admin_engine, "bo@example.org", PASSWORD) is not None
    weak = runner.invoke(
        cli_app,
        ["staff", "add", "cy@example.org", "--role", "viewer", "--password-stdin"],
        input="password\n",
    )
    assert weak.exit_code == 1 and "too short" in weak.stderr and "password\n" not in weak.stderr
    assert accounts.find(admin_engine, "cy@example.org") is None  # nothing added


def test_list_role_disable_enable_reset(admin_settings, admin_engine):
    run_cli("staff", "add", "ann@example.org", "--name", "Ann", "--role", "viewer")
    run_cli("staff", "add", "bo@example.org", "--role", "publisher")
    code, out, _ = run_cli("staff", "list")
    assert code == 0 and "2 staff members" in out and "invited" in out and "never" in out
    code, out, _ = run_cli("staff", "role", "ANN@example.org", "publisher")
    assert code == 0 and "ann@example.org: viewer -> publisher" in out
    code, out, _ = run_cli("staff", "disable", "ann@example.org")
    assert code == 0 and "disabled ann@example.org" in out
    code, _, err = run_cli("staff", "disable", "ann@example.org")
    assert code == 1 and "already disabled" in err
    code, _, err = run_cli("staff", "reset", "ann@example.org")
    assert code == 1 and "enable the account first" in err
    assert run_cli("staff", "enable", "ann@example.org")[0] == 0
    code, out, _ = run_cli("staff", "reset", "ann@example.org")
    assert code == 0 and "password of ann@example.org cleared" in out and LINK.search(out)
    code, out, _ = run_cli("staff", "list", "--format", "json")
    rows = {row["email"]: row for row in json.loads(out)}
    assert rows["ann@example.org"]["role"] == "publisher"
    assert rows["ann@example.org"]["status"] == "invited"
    actions = [e.action for e in activity.entries(admin_engine, actor="cli")]
    assert actions == [
        "staff_reset",
        "staff_enable",
        "staff_disable",
        "staff_role",
        "staff_add",
        "staff_add",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["staff", "add", "not-an-address", "--role", "viewer"], "is not a valid email address"),
        (["staff", "role", "nobody@example.org", "admin"], "no staff member has the address"),
        (["staff", "disable", "nobody@example.org"], "no staff member has the address"),
        (["staff", "reset", "nobody@example.org"], "no staff member has the address"),
    ],
)
def test_refusals_are_one_line_and_exit_1(admin_settings, admin_engine, args, words):
    code, _, err = run_cli(*args)
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1


def test_adding_twice_and_unknown_roles_are_refused(admin_settings, admin_engine):
    assert run_cli("staff", "add", "ann@example.org", "--role", "viewer")[0] == 0
    code, _, err = run_cli("staff", "add", "ANN@example.org", "--role", "admin")
    assert code == 1 and "already has a staff account" in err
    code, _, err = run_cli("staff", "add", "bo@example.org", "--role", "owner")
    assert code == 2 and "owner" in err


def test_hostile_names_are_shown_escaped(admin_settings, admin_engine):
    run_cli("staff", "add", "ann@example.org", "--name", "[red]Ann\x1b[2J", "--role", "viewer")
    _, out, _ = run_cli("staff", "list")
    assert "\x1b" not in out and "[red]Ann" in out


def test_create_app_parts(admin_settings: Settings, admin_engine: sa.Engine):
    transport = OutboxTransport(admin_settings.outbox_dir)
    public = TestClient(create_app(admin_settings, admin_engine, transport, parts="public"))
    staff = TestClient(create_app(admin_settings, admin_engine, transport, parts="admin"))
    assert public.get("/admin/login").status_code == 404
    assert public.get("/subscribe").status_code == 200
    assert staff.get("/admin/login").status_code == 200
    assert staff.get("/subscribe").status_code == 404
    assert staff.get("/static/admin/htmx.min.js").status_code == 200


@pytest.mark.parametrize(
    ("flags", "admin", "public"),
    [([], 200, 200), (["--public-only"], 404, 200), (["--admin-only"], 200, 404)],
)
def test_serve_flags_choose_the_parts(
    admin_settings, admin_engine, monkeypatch, flags, admin, public
):
    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.append(self.config.app))
    code, _, err = run_cli("serve", *flags)
    assert code == 0, err
    client = TestClient(served[0])
    assert client.get("/admin/login").status_code == admin
    assert client.get("/subscribe").status_code == public


def test_serve_refuses_both_flags(admin_settings):
    code, _, err = run_cli("serve", "--public-only", "--admin-only")
    assert code == 1 and "exclude each other" in err
