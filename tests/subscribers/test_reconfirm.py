"""``newsletter subscribers reconfirm``: the confirmation (re-permission) email, in bulk, to
imported pending addresses that were never asked; each person at most once, whatever happens.
The command queues the emails, spaced ``1 / --per-second`` apart; the email worker (here
``newsletter worker --once``) sends them."""

from __future__ import annotations

import re
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import run_cli
from tests.subscribers.conftest import Outbox, status_of

LIST = "email,name\nann@example.org,Ann\nbo@example.org,Bo\ncy@example.org,Cy\n"


def _import(project: Path) -> None:
    (project / "list.csv").write_text(LIST, encoding="utf-8")
    code, _out, err = run_cli("subscribers", "import", "list.csv")
    assert code == 0, err


def _work() -> None:
    """``newsletter worker --once`` until no job is queued (they are due 1/--per-second apart)."""
    deadline = time.monotonic() + 30
    while True:
        code, _, err = run_cli("worker", "--once")
        assert code == 0, err
        _, jobs, _ = run_cli("jobs")
        if "queued: 0 " in jobs or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _recipients(outbox: Outbox) -> list[str]:
    return sorted(str(m["To"]) for m in outbox.messages())


def test_reconfirm_asks_each_imported_address_once(project, store, outbox, client: TestClient):
    _import(project)
    assert run_cli("subscribers", "add", "dee@example.org", "--confirmed")[0] == 0
    code, out, err = run_cli("subscribers", "reconfirm", "--yes", "--per-second", "100")
    assert code == 0, err
    assert "3 of 3 pending subscribers never sent a confirmation email" in " ".join(out.split())
    assert "3 confirmation emails queued" in out and outbox.messages() == []
    _work()
    assert _recipients(outbox) == [
        "Ann <ann@example.org>",
        "Bo <bo@example.org>",
        "Cy <cy@example.org>",
    ]
    code, out, _err = run_cli("subscribers", "reconfirm", "--yes")
    assert code == 0 and "nobody to ask" in out
    _work()
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
    assert code == 0 and "2 of 3 pending" in " ".join(out.split()) and "2 confirmation" in out
    code, out, _ = run_cli("subscribers", "reconfirm", "--yes", "--limit", "2")
    assert code == 0 and "1 of 1 pending" in " ".join(out.split()) and "1 confirmation" in out
    _work()
    assert len(outbox.messages()) == 3


def test_an_email_that_cannot_go_yet_is_retried_by_the_worker(project, store, monkeypatch):
    _import(project)
    blocked = project / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(blocked))
    monkeypatch.setenv("NEWSLETTER_EMAIL_JOB_RETRY_BASE_DELAY", "0")  # retries due at once
    code, out, err = run_cli("subscribers", "reconfirm", "--yes", "--per-second", "100")
    assert code == 0, err
    time.sleep(0.1)  # the three are due 10 ms apart
    code, out, _ = run_cli("worker", "--once")
    assert code == 0 and "0 sent, 3 retried, 0 failed" in out
    blocked.unlink()
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(project / "outbox"))
    _work()
    assert len(Outbox(project / "outbox").messages()) == 3
    code, out, _ = run_cli("subscribers", "reconfirm", "--yes")
    assert code == 0 and "nobody to ask" in out


def test_reconfirm_asks_before_sending(project, store, outbox):
    _import(project)
    code, _out, _err = run_cli("subscribers", "reconfirm")  # no --yes, no answer: nothing sent
    assert code == 1
    assert outbox.messages() == []
