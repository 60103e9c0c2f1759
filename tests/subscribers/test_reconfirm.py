"""``newsletter subscribers reconfirm``: the confirmation (re-permission) email, in bulk, to
imported pending addresses that were never asked; each person at most once, whatever happens."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import run_cli
from tests.subscribers.conftest import Outbox, status_of

LIST = "email,name\nann@example.org,Ann\nbo@example.org,Bo\ncy@example.org,Cy\n"


def _import(project: Path) -> None:
    (project / "list.csv").write_text(LIST, encoding="utf-8")
    code, _out, err = run_cli("subscribers", "import", "list.csv")
    assert code == 0, err


def _recipients(outbox: Outbox) -> list[str]:
    return sorted(str(m["To"]) for m in outbox.messages())


def test_reconfirm_asks_each_imported_address_once(project, store, outbox, client: TestClient):
    _import(project)
    assert run_cli("subscribers", "add", "dee@example.org", "--confirmed")[0] == 0
    code, out, err = run_cli("subscribers", "reconfirm", "--yes", "--per-second", "100")
    assert code == 0, err
    assert "3 of 3 pending subscribers never sent a confirmation email" in " ".join(out.split())
    assert "3 sent, 0 not sent" in out
    assert _recipients(outbox) == [
        "Ann <ann@example.org>",
        "Bo <bo@example.org>",
        "Cy <cy@example.org>",
    ]
    code, out, _err = run_cli("subscribers", "reconfirm", "--yes")
    assert code == 0 and "nobody to ask" in out
    assert len(outbox.messages()) == 3  # nobody asked twice
    link = re.search(
        r"https?://\S+/confirm/[A-Za-z0-9_.\-]+", Outbox.text(outbox.to("bo@example.org")[0])
    )
    assert link is not None
    page = client.get(link.group(0))
    assert page.status_code == 200 and status_of(store, "bo@example.org") == "confirmed"


def test_reconfirm_in_parts_with_a_limit(project, store, outbox):
    _import(project)
    code, out, _ = run_cli("subscribers", "reconfirm", "--yes", "--limit", "2")
    assert code == 0 and "2 of 3 pending" in " ".join(out.split()) and "2 sent" in out
    code, out, _ = run_cli("subscribers", "reconfirm", "--yes", "--limit", "2")
    assert code == 0 and "1 of 1 pending" in " ".join(out.split()) and "1 sent" in out
    assert len(outbox.messages()) == 3


def test_a_failed_email_is_retried_by_the_next_run(project, store, monkeypatch):
    _import(project)
    blocked = project / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(blocked))
    code, out, err = run_cli("subscribers", "reconfirm", "--yes", "--per-second", "100")
    assert code == 1 and "0 sent, 3 not sent" in out
    assert "run the same command again" in err
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(project / "outbox"))
    code, out, _ = run_cli("subscribers", "reconfirm", "--yes", "--per-second", "100")
    assert code == 0 and "3 sent" in out
    assert len(Outbox(project / "outbox").messages()) == 3


def test_reconfirm_asks_before_sending(project, store, outbox):
    _import(project)
    code, _out, _err = run_cli("subscribers", "reconfirm")  # no --yes, no answer: nothing sent
    assert code == 1
    assert outbox.messages() == []
