"""/admin/subscribers: who may read and write, keyset pages, search and filters, the person's
page, the actions (through the CLI's rules), add, the CSV import in two steps, the export."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.models import Activity, Role, Subscriber, Suppression, utcnow
from newsletter.subscribers import store
from newsletter.subscribers.store import ConsentInfo
from tests.admin.conftest import StaffClient
from tests.subscribers.conftest import Outbox, deliver

AsRole = Callable[[Role], StaffClient]
SEP = "\n"


def seed(engine: sa.Engine, count: int, *, prefix: str = "person", confirmed: bool = True) -> None:
    """``count`` subscribers, one second apart (the newest last)."""
    start = utcnow() - timedelta(days=1)
    with session_scope(engine) as session:
        for n in range(count):
            added = store.add(session, f"{prefix}{n:03}@example.org", f"Name {n:03}",
                              confirmed=confirmed, consent=ConsentInfo("seed"))  # fmt: skip
            added.created_at = start + timedelta(seconds=n)
            session.add(added)


def ids_of(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/admin/subscribers/(\d+)"', html)]


def link(html: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else ""


def person_id(engine: sa.Engine, address: str) -> int:
    with Session(engine) as session:
        found = store.find(session, address)
        assert found is not None and found.id is not None
        return found.id


def log_entries(engine: sa.Engine) -> list[Activity]:
    with Session(engine) as session:
        return list(session.exec(select(Activity)))


def test_publisher_reads_but_cannot_write(as_role: AsRole, admin_engine: sa.Engine) -> None:
    seed(admin_engine, 2)
    publisher = as_role(Role.publisher)
    page = publisher.get("/admin/subscribers")
    assert page.status_code == 200 and "person001@example.org" in page.text
    assert "Import a CSV file" not in page.text  # the admin's links are not shown
    who = person_id(admin_engine, "person000@example.org")
    person = publisher.get(f"/admin/subscribers/{who}")
    assert person.status_code == 200 and "Status history" in person.text
    assert "Erase this person" not in person.text
    for url in (f"/admin/subscribers/{who}/unsubscribe", f"/admin/subscribers/{who}/erase",
                "/admin/subscribers/add", "/admin/subscribers/import"):  # fmt: skip
        assert publisher.post(url, {"confirm": "person000@example.org"}).status_code == 403, url
    assert publisher.get("/admin/subscribers/export").status_code == 403
    assert as_role(Role.editor).get("/admin/subscribers").status_code == 403
    with Session(admin_engine) as session:
        assert store.find(session, "person000@example.org") is not None


def test_keyset_pages_newest_first_and_back(as_role: AsRole, admin_engine: sa.Engine) -> None:
    seed(admin_engine, 120)
    admin = as_role(Role.admin)
    first = admin.get("/admin/subscribers").text
    assert len(ids_of(first)) == 50 and "person119@example.org" in first
    assert not link(first, "prev")
    second = admin.get(link(first, "next")).text
    third = admin.get(link(second, "next")).text
    assert len(ids_of(second)) == 50 and len(ids_of(third)) == 20
    assert not link(third, "next") and "person000@example.org" in third
    every = ids_of(first) + ids_of(second) + ids_of(third)
    assert len(set(every)) == 120  # nobody twice, nobody left out
    back = admin.get(link(third, "prev")).text
    assert ids_of(back) == ids_of(second)
    assert "OFFSET" not in link(second, "next").upper()
    assert admin.get("/admin/subscribers?older=junk.1&newer=;drop").status_code == 200


def test_search_filters_and_counts(as_role: AsRole, admin_engine: sa.Engine) -> None:
    seed(admin_engine, 3)
    seed(admin_engine, 2, prefix="waiting", confirmed=False)
    with session_scope(admin_engine) as session:
        store.add(session, "Ann.Lee@Example.org", "Ann Lee", confirmed=True,
                  consent=ConsentInfo("a fair, paper form"))  # fmt: skip
    admin = as_role(Role.admin)
    by_address = admin.get("/admin/subscribers", params={"q": "ann.lee@"}).text
    assert ids_of(by_address) == [person_id(admin_engine, "ann.lee@example.org")]
    by_name = admin.get("/admin/subscribers", params={"q": "lee"}).text
    assert len(ids_of(by_name)) == 1
    assert len(ids_of(admin.get("/admin/subscribers", params={"q": "name 00"}).text)) == 5
    pending = admin.get("/admin/subscribers", params={"status": "pending"}).text
    assert len(ids_of(pending)) == 2 and "waiting000@" in pending
    by_source = admin.get("/admin/subscribers", params={"source": "paper"}).text
    assert len(ids_of(by_source)) == 1
    today = utcnow().date().isoformat()
    recent = admin.get("/admin/subscribers", params={"since": today}).text
    assert len(ids_of(recent)) == 1  # the seeded ones signed up yesterday
    assert re.search(r'figure">4</span> confirmed', pending)
    assert re.search(r'figure">2</span> pending', pending)
    nothing = admin.get("/admin/subscribers", params={"q": "%_\\"}).text
    assert ids_of(nothing) == [] and "Nobody matches these filters" in nothing


def test_person_page_history_consent_and_actions(as_role: AsRole, admin_engine: sa.Engine) -> None:
    seed(admin_engine, 1)
    admin = as_role(Role.admin)
    who = person_id(admin_engine, "person000@example.org")
    done = admin.post(f"/admin/subscribers/{who}/unsubscribe")
    assert done.status_code == 303
    page = admin.get(f"/admin/subscribers/{who}").text
    assert "unsubscribed by staff" in page and "added by staff" in page and "seed" in page
    refused = admin.post(f"/admin/subscribers/{who}/resubscribe", {"source": "  "})
    assert refused.status_code == 400 and "consent" in refused.text
    with Session(admin_engine) as session:
        assert str(store.require(session, "person000@example.org").status) == "unsubscribed"
    again = admin.post(f"/admin/subscribers/{who}/resubscribe", {"source": "asked by phone"})
    assert again.status_code == 303
    page = admin.get(f"/admin/subscribers/{who}").text
    assert "resubscribed by staff: asked by phone" in page
    assert "resubscribed by staff" in page
    not_pending = admin.post(f"/admin/subscribers/{who}/confirmation")
    assert not_pending.status_code == 409 and "only a pending address" in not_pending.text
    entries = log_entries(admin_engine)
    assert {"subscriber_unsubscribe", "subscriber_resubscribe"} <= {e.action for e in entries}
    assert all("person000" not in f"{e.subject} {e.detail}" for e in entries)
    assert f"subscriber #{who}" in {e.subject for e in entries}


def test_add_pending_sends_and_confirmed_needs_a_source(
    as_role: AsRole, admin_engine: sa.Engine, admin_settings: Settings
) -> None:
    admin = as_role(Role.admin)
    refused = admin.post("/admin/subscribers/add", {"email": "bo@example.org", "confirmed": "yes"})
    assert refused.status_code == 400 and "consent source" in refused.text
    added = admin.post("/admin/subscribers/add", {"email": "bo@example.org", "name": "Bo"})
    assert added.status_code == 303
    who = person_id(admin_engine, "bo@example.org")
    page = admin.get(added.headers["location"]).text
    assert "confirmation email is on its way" in page and "pending" in page
    assert deliver(admin_settings, admin_engine).sent == 1  # what the email worker does
    assert len(Outbox(admin_settings.outbox_dir).to("bo@example.org")) == 1
    soon = admin.post(f"/admin/subscribers/{who}/confirmation")
    assert soon.status_code == 409 and "less than an hour ago" in soon.text
    yes = admin.post("/admin/subscribers/add",
                     {"email": "cy@example.org", "confirmed": "yes", "source": "signed form"})  # fmt: skip
    assert yes.status_code == 303
    with Session(admin_engine) as session:
        assert str(store.require(session, "cy@example.org").status) == "confirmed"
    twice = admin.post("/admin/subscribers/add", {"email": "CY@example.org"})
    assert twice.status_code == 400 and "already on the list" in twice.text


def test_erase_needs_the_typed_address_and_keeps_the_suppression(
    as_role: AsRole, admin_engine: sa.Engine, admin_app: object, admin_settings: object
) -> None:
    seed(admin_engine, 1)
    admin = as_role(Role.admin)
    who = person_id(admin_engine, "person000@example.org")
    wrong = admin.post(f"/admin/subscribers/{who}/erase", {"confirm": "someone@example.org"})
    assert wrong.status_code == 400
    erased = admin.post(f"/admin/subscribers/{who}/erase", {"confirm": "PERSON000@example.org"})
    assert erased.status_code == 303
    assert admin.get(f"/admin/subscribers/{who}").status_code == 404
    with Session(admin_engine) as session:
        assert session.exec(select(Subscriber)).first() is None
        assert store.suppressed(session, "person000@example.org")
        assert session.exec(select(Suppression)).one()
    again = admin.post("/admin/subscribers/add", {"email": "person000@example.org"})
    assert again.status_code == 400 and "suppressed" in again.text
    assert "person000" not in str([(e.subject, e.detail) for e in log_entries(admin_engine)])
    # the person may sign up again themselves: a fresh confirmation, the suppression kept until then
    signup = admin.client.post("/subscribe", data={"email": "person000@example.org"})
    assert signup.status_code < 500
    with Session(admin_engine) as session:
        assert store.suppressed(session, "person000@example.org")


BAD = "Email Address;First Name;Last Name\nann@example.org;Ann;Lee\nnot-an-address;Bo;Ek\n"
GOOD = "Email Address;First Name;Last Name\nann@example.org;Ann;Lee\nbo@example.org;Bo;Ek\n"


def upload(admin: StaffClient, text: str, **form: str) -> object:
    files = {"file": ("people.csv", text.encode(), "text/csv")}
    data = {"csrf_token": admin.csrf_token, **form}
    headers = {"Origin": admin.origin, "Sec-Fetch-Site": "same-origin"}
    return admin.client.post("/admin/subscribers/import", data=data, files=files, headers=headers)


def test_import_refuses_a_bad_line_then_imports_the_fixed_file(
    as_role: AsRole, admin_engine: sa.Engine
) -> None:
    admin = as_role(Role.admin)
    refused = upload(admin, BAD)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert "line 3:" in text and "not-an-address" in text and "semicolons" in text
    assert (
        "Email Address" in text and "First Name + Last Name" in text and "ann@example.org" in text
    )
    assert "/run" not in text  # no way to go on
    with Session(admin_engine) as session:
        assert session.exec(select(Subscriber)).first() is None
    checked = upload(admin, GOOD)
    assert checked.status_code == 200  # type: ignore[attr-defined]
    run = re.search(r'action="(/admin/subscribers/import/[^/"]+/run)"', checked.text)  # type: ignore[attr-defined]
    assert run and "Import 2 addresses" in checked.text  # type: ignore[attr-defined]
    with Session(admin_engine) as session:
        assert session.exec(select(Subscriber)).first() is None  # still nothing written
    started = admin.post(run.group(1), {"confirmed": "no"})
    assert started.status_code == 303
    progress = started.headers["location"]
    for _ in range(100):
        page = admin.get(progress, headers={"HX-Request": "true"}).text
        if "Done:" in page:
            break
        time.sleep(0.05)
    assert "Done: 2 imported" in page and "hx-trigger" not in page
    assert admin.get(progress).status_code == 200  # the full page, without JavaScript
    assert admin.post(run.group(1), {"confirmed": "no"}).status_code == 404  # once only
    with Session(admin_engine) as session:
        people = session.exec(select(Subscriber)).all()
    assert {(p.email, p.name, str(p.status)) for p in people} == {
        ("ann@example.org", "Ann Lee", "pending"), ("bo@example.org", "Bo Ek", "pending")}  # fmt: skip
    page = admin.get(f"/admin/subscribers/{person_id(admin_engine, 'bo@example.org')}").text
    assert "import: dashboard" in page
    assert "subscribers_import" in {e.action for e in log_entries(admin_engine)}


def test_import_as_confirmed_needs_a_source_and_the_upload_limit(
    as_role: AsRole, admin_engine: sa.Engine
) -> None:
    admin = as_role(Role.admin)
    refused = upload(admin, GOOD, confirmed="yes")
    assert refused.status_code == 400 and "consent source" in refused.text  # type: ignore[attr-defined]
    big = "email\n" + "x@example.org\n" * 60_000  # 840 KB: over the admin's 512 KiB
    assert upload(admin, big).status_code == 200  # type: ignore[attr-defined]
    headers = {"Origin": admin.origin, "Sec-Fetch-Site": "same-origin",
               "Content-Type": "multipart/form-data; boundary=x"}  # fmt: skip
    huge = b"-" * (21 * 1024 * 1024)
    answer = admin.client.post("/admin/subscribers/import", content=huge, headers=headers)
    assert answer.status_code == 413
    other = admin.client.post("/admin/subscribers/add", content=b"-" * 600_000, headers=headers)
    assert other.status_code == 413


def test_export_streams_formula_safe_cells(as_role: AsRole, admin_engine: sa.Engine) -> None:
    with session_scope(admin_engine) as session:
        store.add(session, "eve@example.org", "=HYPERLINK(\"http://x\")", confirmed=True,
                  consent=ConsentInfo("seed"))  # fmt: skip
        store.add(session, "ok@example.org", "Plain", confirmed=False, consent=ConsentInfo("s"))
    admin = as_role(Role.admin)
    answer = admin.get("/admin/subscribers/export", params={"status": "confirmed"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "content-length" not in answer.headers  # streamed
    lines = answer.text.strip().split(SEP)
    assert lines[0] == "email,name,status,created_at,confirmed_at,unsubscribed_at"
    assert len(lines) == 2 and lines[1].startswith("eve@example.org,\"'=HYPERLINK(")
    assert "subscribers_export" in {e.action for e in log_entries(admin_engine)}


@pytest.mark.parametrize("path", ["/admin/subscribers/999", "/admin/subscribers/import/x"])
def test_unknown_person_or_upload_is_404(as_role: AsRole, path: str) -> None:
    assert as_role(Role.admin).get(path).status_code == 404
