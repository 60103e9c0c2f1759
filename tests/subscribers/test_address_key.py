"""One person, one subscriber: addresses compared by their key (letter case aside, either form
of an international domain) at every door (signup over real HTTP, ``subscribers add``, CSV
import, erase, suppression, sending); international domains work end to end in the outbox and
SendGrid; non-ASCII local parts and addresses over 254 characters are refused with a clear
message, never a 500 and never a half-created row. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.errors import InvalidAddress
from newsletter.models import Consent, Subscriber, Suppression, utcnow
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.address import key_of, parse, sendable
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.fake_sendgrid import FakeSendGrid
from tests.subscribers.conftest import Outbox, deliver, live_server

FORM = ConsentInfo(source="https://mpat.example.org/join")
LONG = "a" * 250 + "@example.org"  # 262 characters
SENDER = "newsletter@mpat.example.org"


def people(engine: sa.Engine) -> list[Subscriber]:
    with Session(engine) as session:
        return list(session.exec(select(Subscriber).order_by(Subscriber.id)))  # type: ignore[arg-type]


def eml(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_the_key_folds_letter_case_and_the_form_of_the_domain():
    same = ["Ann.Lee@Example.ORG", " ann.lee@example.org ", "ANN.LEE@EXAMPLE.org"]
    assert {parse(a).key for a in same} == {"ann.lee@example.org"}
    assert parse("Ann.Lee@Example.ORG").email == "Ann.Lee@example.org"  # as typed, for display
    idn = ["bo@münchen.de", "Bo@MÜNCHEN.de", "bo@xn--mnchen-3ya.de", "BO@XN--MNCHEN-3YA.DE"]
    assert {parse(a).key for a in idn} == {"bo@münchen.de"}
    assert {key_of(a) for a in idn} == {"bo@münchen.de"}  # stored or sent, either form
    assert sendable("Bo@münchen.de") == "Bo@xn--mnchen-3ya.de"
    assert parse("a.b+news@example.org").key != parse("ab@example.org").key  # dots, tags kept


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("jörg@example.org", "the part before the @ must be plain ASCII"),
        ("用户@example.org", "the part before the @ must be plain ASCII"),
        (LONG, "too long: 262 characters, at most 254"),
        ("x" * 100_000, "too long: 100000 characters, at most 254"),
    ],
)
def test_refused_addresses_say_why_in_one_short_line(raw, says):
    with pytest.raises(InvalidAddress, match=says) as caught:
        parse(raw)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_signup_in_another_letter_case_is_the_same_subscriber(engine):
    with Session(engine) as session:
        assert subscribers.subscribe(session, "Ann@example.org", "Ann", FORM, utcnow()) is not None
        session.commit()
        # the hour between confirmation emails applies to the person, whatever the case
        assert subscribers.subscribe(session, "ann@EXAMPLE.org", "", FORM, utcnow()) is None
        session.commit()
        assert subscribers.find(session, "ANN@example.org") is not None
    [ann] = people(engine)
    assert (ann.email, ann.email_key) == ("Ann@example.org", "ann@example.org")


def _confirm_link(message: email.message.EmailMessage, base: str) -> str:
    found = re.search(rf"{re.escape(base)}/confirm/[A-Za-z0-9_.\-]+", Outbox.text(message))
    assert found is not None
    return found.group(0)


def test_signup_over_http_one_person_idn_domains_work_and_refusals_are_422(
    web_settings, store, outbox
):
    server = live_server(lambda base: Settings(base_url=base), store)
    with server as (base, settings), httpx.Client(base_url=base, follow_redirects=True) as http:
        assert http.post("/subscribe", data={"email": "Ann@Example.org"}).status_code == 200
        assert http.post("/subscribe", json={"email": "ann@example.ORG"}).status_code == 200
        assert [p.email for p in people(store)] == ["Ann@example.org"]
        assert deliver(settings, store).sent == 1
        assert len(outbox.messages()) == 1  # one person, one confirmation

        # an international domain: stored as typed, mailed in ASCII, and the link confirms
        answer = http.post("/subscribe", data={"email": "Dee@MÜNCHEN.de", "name": "Dee"})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        deliver(settings, store)
        [message] = [m for m in outbox.messages() if "xn--" in str(m["To"])]
        assert str(message["To"]) == "Dee <Dee@xn--mnchen-3ya.de>"
        page = httpx.get(_confirm_link(message, base))
        assert page.status_code == 200 and "You are subscribed" in page.text
        dee = [p for p in people(store) if p.email_key == "dee@münchen.de"]
        assert [(p.email, p.status) for p in dee] == [("Dee@münchen.de", "confirmed")]

        # refused: the form again with the reason, or a 422 JSON; nothing stored
        for address, says in (("jörg@example.org", "plain ASCII"), (LONG, "too long")):
            form = http.post("/subscribe", data={"email": address, "name": "J"})
            assert form.status_code == 422 and says in form.text and "<form" in form.text
            answer = http.post("/subscribe", json={"email": address})
            assert answer.status_code == 422
            assert says in answer.json()["detail"][0]["msg"]
    assert len(people(store)) == 2 and len(outbox.messages()) == 2


def test_a_signup_whose_confirmation_cannot_be_written_yet_is_stored_and_sent_later(
    web_settings, store, project
):
    """The transport failing (here the outbox folder is a file) fails no signup: the person and
    their consent are stored, the job waits, and goes out once the transport works again."""
    (project / "blocked").write_text("a file where the outbox folder should be")

    def settings_for(base: str) -> Settings:
        # retries due at once, so the test needs no waiting
        return Settings(base_url=base, outbox_dir=project / "blocked", email_job_retry_base_delay=0)

    with live_server(settings_for, store) as (base, settings), httpx.Client(base_url=base) as http:
        answer = http.post("/subscribe", data={"email": "ann@example.org"})
        assert answer.status_code == 303
        assert deliver(settings, store).retried == 1
    assert [p.email for p in people(store)] == ["ann@example.org"]
    with Session(store) as session:
        assert len(session.exec(select(Consent)).all()) == 1
    (project / "blocked").unlink()
    assert deliver(settings, store).sent == 1
    assert len(Outbox(project / "blocked").to("ann@example.org")) == 1


def test_add_knows_the_person_in_any_case_and_refuses_what_cannot_be_mailed(
    web_settings, store, outbox
):
    assert run_cli("subscribers", "add", "Ann@Example.org", "--confirmed")[0] == 0
    code, _, err = run_cli("subscribers", "add", "ANN@example.org")
    assert code == 1 and "already on the list" in err
    for address, says in (("jörg@example.org", "plain ASCII"), (LONG, "too long")):
        code, _, err = run_cli("subscribers", "add", address)
        assert code == 1 and says in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli("subscribers", "add", "dee@münchen.de")
    assert code == 0, err
    [message] = outbox.messages()
    assert str(message["To"]) == "dee@xn--mnchen-3ya.de"
    assert [p.email for p in people(store)] == ["Ann@example.org", "dee@münchen.de"]


def test_import_skips_other_cases_reports_repeats_and_refused_rows(web_settings, store, project):
    assert run_cli("subscribers", "add", "BO@example.org", "--confirmed")[0] == 0
    rows = [
        "Email Address,First Name",
        "Ann@example.org,Ann",  # line 2
        "bo@EXAMPLE.org,Bo",  # already on the list as BO@example.org
        "ann@EXAMPLE.ORG,Ann again",  # line 4: repeats line 2
        "jörg@example.org,Jörg",  # line 5: refused
        f"{LONG},Long",  # line 6: refused
        "dee@MÜNCHEN.de,Dee",
        "Dee@xn--mnchen-3ya.de,Dee again",  # line 8: repeats line 7
    ]
    (project / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = run_cli("subscribers", "import", "list.csv")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "2 imported (pending), 3 skipped as duplicates, 2 invalid" in flat
    assert "line 4: ann@example.org repeats line 2" in flat
    assert "line 8: Dee@münchen.de repeats line 7" in flat
    assert "line 5: 'jörg@example.org' cannot be used" in flat
    assert "line 6: the email address is too long" in flat
    assert [p.email for p in people(store)] == [
        "BO@example.org",
        "Ann@example.org",
        "dee@münchen.de",
    ]


def test_erase_and_suppression_go_by_the_key_and_add_needs_an_explicit_override(
    web_settings, store, project
):
    assert run_cli("subscribers", "add", "Ann@example.org", "--confirmed")[0] == 0
    code, out, _ = run_cli("subscribers", "erase", "ANN@EXAMPLE.ORG")
    assert code == 0 and "erased" in out
    assert people(store) == []
    (project / "list.csv").write_text("email\nann@Example.org\n", encoding="utf-8")
    code, out, _ = run_cli("subscribers", "import", "list.csv")
    assert "0 imported" in out and "1 suppressed (erased)" in " ".join(out.split())
    for extra in ([], ["--confirmed"]):
        code, _, err = run_cli("subscribers", "add", "aNN@example.org", *extra)
        assert code == 1 and "was erased" in err and "--override-erasure" in err
        assert len(err.strip().splitlines()) == 1
    assert people(store) == []

    code, out, err = run_cli(
        "subscribers", "add", "aNN@example.org", "--confirmed", "--override-erasure"
    )
    assert code == 0, err
    [ann] = people(store)
    assert (ann.email, ann.status) == ("aNN@example.org", "confirmed")
    with Session(store) as session:
        assert session.exec(select(Suppression)).all() == []
        [consent] = subscribers.history(session, ann)[0]
    assert "--override-erasure" in consent.source
    code, out, _ = run_cli("subscribers", "show", "ann@example.org")
    assert code == 0 and "override-erasure" in out


def _sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-for-signing-links")


def _use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeSendGrid) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org")  # a live send
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", fake.url)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_TIMEOUT", "5")
    monkeypatch.setenv("NEWSLETTER_SEND_RETRY_BASE_DELAY", "0.01")


def test_a_sendgrid_request_never_holds_one_person_twice(synced, project, monkeypatch):
    _sending(monkeypatch)
    rows = ["email", "Ann@example.org", "ann@example.org", "bo@example.org", "Dee@münchen.de"]
    (project / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, _, err = run_cli("subscribers", "import", "list.csv", "--confirmed", "--source", "t")
    assert code == 0, err
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        _use_fake(monkeypatch, fake)
        code, _, err = run_cli("send", "2016-q3", "--yes")
        assert code == 0, err
        code, _, err = run_cli(
            "send", "2016-q3", "--test", "Proof@example.org", "proof@EXAMPLE.org"
        )
        assert code == 0, err
        assert fake.rejected == []
        for accepted in fake.accepted:
            keys = [a.lower() for a in accepted.recipients]
            assert len(keys) == len(set(keys))
            assert all(a.isascii() for a in accepted.recipients)
        live, test = fake.accepted
    assert sorted(live.recipients) == ["Ann@example.org", "Dee@xn--mnchen-3ya.de", "bo@example.org"]
    assert test.recipients == ["Proof@example.org"]


def test_a_live_send_through_the_outbox_mails_idn_domains_and_skips_what_it_cannot(
    synced, project, monkeypatch
):
    _sending(monkeypatch)
    for address in ("dee@münchen.de", "bo@example.org"):
        assert run_cli("subscribers", "add", address, "--confirmed")[0] == 0
    # an address from before non-ASCII local parts were refused
    with synced.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO subscriber (key, email, email_key, name, status, created_at) "
                "VALUES ('k0', 'jörg@example.org', 'jörg@example.org', '', 'confirmed', "
                "'2024-01-01 00:00:00')"
            )
        )
    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 0, err
    assert "2 accepted, 0 failed, 0 uncertain" in out
    tos = sorted(str(eml(p)["To"]) for p in (project / "outbox").glob("*.eml"))
    assert tos == ["bo@example.org", "dee@xn--mnchen-3ya.de"]
    code, out, _ = run_cli("report", "2016-q3", "--format", "json")
    [row] = json.loads(out)
    assert (row["accepted"], row["skipped"], row["uncertain"]) == (2, 1, 0)
    # staff can still look at and erase such an address; an absurd one is refused in one line
    code, out, err = run_cli("subscribers", "show", "Jörg@example.org")
    assert code == 0 and "status: confirmed" in out, err
    assert run_cli("subscribers", "erase", "JÖRG@example.org")[0] == 0
    assert [p.email for p in people(synced)] == ["dee@münchen.de", "bo@example.org"]
    code, _, err = run_cli("subscribers", "show", "x" * 10_000 + "@example.org")
    assert code == 1 and "too long" in err and len(err) < 300
