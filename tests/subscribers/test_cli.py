"""``newsletter subscribers ...`` through the CLI, on a real database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.subscribers.conftest import Outbox

MAILCHIMP = (
    "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,UNSUB_TIME\n"
    "ann@example.org,Ann,Lee,2,2016-01-02 10:00:00,\n"
    "BO@Example.org,Bo,,2,2016-01-02 10:00:00,\n"
    "not an address,X,,1,,\n"
    "ann@example.org,Ann,Again,2,,\n"
    "left@example.org,Left,,1,,2016-05-01 09:00:00\n"
    "erased@example.org,Gone,,1,,\n"
)


def _json_list(*args: str) -> list[dict[str, Any]]:
    code, out, err = run_cli("subscribers", "list", "--format", "json", *args)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_add_list_count_show(web_settings, outbox: Outbox):
    assert run_cli("subscribers", "add", "ann@example.org", "--name", "Ann Lee")[0] == 0
    assert len(outbox.to("ann@example.org")) == 1  # a pending address gets a confirmation
    assert run_cli("subscribers", "add", "bo@example.org", "--confirmed")[0] == 0
    code, _, err = run_cli("subscribers", "add", "bo@example.org")
    assert code == 1 and "already on the list" in err
    code, _, err = run_cli("subscribers", "add", "nobody")
    assert code == 1 and "not a valid email address" in err and "Traceback" not in err
    rows = _json_list()
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("ann@example.org", "Ann Lee", "pending"),
        ("bo@example.org", "", "confirmed"),
    ]
    assert [r["email"] for r in _json_list("--status", "confirmed")] == ["bo@example.org"]
    code, out, _ = run_cli("subscribers", "list", "--format", "csv")
    assert next(csv.DictReader(io.StringIO(out)))["email"] == "ann@example.org"
    code, out, _ = run_cli("subscribers", "count")
    assert "pending       1" in out and "confirmed     1" in out and "total         2" in out
    code, out, _ = run_cli("subscribers", "show", "ann@example.org")
    assert code == 0 and "status: pending" in out and "added by staff" in out


def test_import_reports_every_kind_of_row_and_never_resubscribes(web_settings, project):
    run_cli("subscribers", "add", "erased@example.org", "--confirmed")
    assert run_cli("subscribers", "erase", "erased@example.org")[0] == 0
    (project / "list.csv").write_text(MAILCHIMP, encoding="utf-8")
    code, _, err = run_cli("subscribers", "import", "list.csv", "--confirmed")
    assert code == 1 and "--source" in err
    code, out, err = run_cli(
        "subscribers", "import", "list.csv", "--confirmed", "--source", "Mailchimp 2016 opt-ins"
    )
    assert code == 0, err
    flat = " ".join(out.split())
    assert "2 imported (confirmed), 1 skipped as duplicates, 1 invalid" in flat
    assert "1 suppressed (erased), 1 unsubscribed in the file" in flat
    assert "line 4:" in flat
    rows = {r["email"]: r for r in _json_list()}
    assert set(rows) == {"ann@example.org", "BO@example.org"}
    assert rows["ann@example.org"]["name"] == "Ann Lee"
    code, out, _ = run_cli("subscribers", "show", "ann@example.org")
    assert "list.csv: Mailchimp 2016 opt-ins" in out
    # an unsubscribed address stays unsubscribed when the file is imported again
    code, out, _ = run_cli("subscribers", "export")
    exported = list(csv.DictReader(io.StringIO(out)))
    assert {r["status"] for r in exported} == {"confirmed"}
    code, out, _ = run_cli("subscribers", "import", "list.csv")
    assert "0 imported (pending), 3 skipped as duplicates" in " ".join(out.split())


def test_import_without_an_email_column_names_the_file(web_settings, project):
    (project / "bad.csv").write_text("name,phone\nAnn,123\n")
    code, _, err = run_cli("subscribers", "import", "bad.csv")
    assert code == 1 and "bad.csv:1" in err and "no email column" in err
    code, _, err = run_cli("subscribers", "import", "missing.csv")
    assert code == 1 and "missing.csv" in err


@pytest.mark.parametrize(
    ("delimiter", "said"), [(",", "commas"), (";", "semicolons"), ("\t", "tabs")]
)
def test_import_finds_the_delimiter_and_skips_blank_rows(web_settings, project, delimiter, said):
    """Spreadsheets in many locales save CSV with semicolons, and write blank rows as ``;;``."""
    rows = [
        ["E-mail", "First name", "Last name"],
        ["ann@example.org", "Ann", "Lee, Dr"],
        ["", "", ""],
        [],
        ["bo@example.org", "Bo", ""],
    ]
    text = "\n".join(
        delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in row) for row in rows
    )
    (project / "list.csv").write_text(text + "\n", encoding="utf-8")
    code, out, err = run_cli("subscribers", "import", "list.csv", "--source", "Spreadsheet")
    assert code == 0, err
    flat = " ".join(out.split())
    assert f"read list.csv as cells separated by {said}" in flat
    assert "2 imported (pending), 0 skipped as duplicates, 0 invalid" in flat
    people = {p["email"]: p["name"] for p in _json_list()}
    assert people == {"ann@example.org": "Ann Lee, Dr", "bo@example.org": "Bo"}


def test_erase_leaves_nothing_but_the_suppression(web_settings):
    run_cli("subscribers", "add", "ann@example.org", "--confirmed", "--name", "Ann")
    code, out, _ = run_cli("subscribers", "erase", "ann@example.org")
    assert code == 0 and "erased" in out
    assert _json_list() == []
    code, _, err = run_cli("subscribers", "show", "ann@example.org")
    assert code == 1 and "not on the list" in err
    code, out, _ = run_cli("subscribers", "export")
    assert "ann" not in out


def test_serve_refuses_to_start_without_a_secret(project):
    code, _, err = run_cli("serve", "--port", "0")
    assert code == 1 and "secret_key is empty" in err and "NEWSLETTER_SECRET_KEY" in err


def test_add_leaves_a_confirmation_the_transport_could_not_take_queued(
    web_settings, project, monkeypatch
):
    (project / "blocked").write_text("not a folder")
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(project / "blocked"))
    code, out, err = run_cli("subscribers", "add", "ann@example.org")
    assert code == 0 and "confirmation email is queued" in " ".join(out.split())
    assert "Traceback" not in err
    code, out, _ = run_cli("jobs")
    assert code == 0 and "queued: 1" in out
