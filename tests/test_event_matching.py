"""Provider events change only what we sent: signed events over real HTTP, SQLite and PostgreSQL.

An event acts on a subscriber only through a delivery of ours that it matches (send id +
subscriber id + the address that delivery went to, or message id + address); anything else is
unmatched and changes nothing. And ``parse_event`` is total over any JSON value.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.models import Delivery, Subscriber, subscriber_table, utcnow
from newsletter.sending import events, ledger, matching
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from newsletter.web.app import create_app
from tests.webhook_kit import SigningKey, add_confirmed, event, for_delivery, live_send, served

SECRET = "test-secret-key-for-signing-links-0123456789"
KEY = SigningKey()


@dataclass
class Hook:
    url: str
    engine: sa.Engine

    def post(self, items: list[Any]) -> dict[str, Any]:
        body = json.dumps(items).encode()
        answer = httpx.post(
            f"{self.url}/webhooks/sendgrid",
            content=body,
            headers=KEY.headers(body),
            timeout=60,
            trust_env=False,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def status(self, email: str) -> str:
        with Session(self.engine) as session:
            person = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
            return str(person.status)

    def statuses(self) -> dict[str, str]:
        with Session(self.engine) as session:
            return {s.email: str(s.status) for s in session.exec(select(Subscriber))}

    def deliveries(self) -> list[str]:
        with Session(self.engine) as session:
            return sorted(str(d.status) for d in session.exec(select(Delivery)))


@pytest.fixture
def hook(project, database_url) -> Iterator[Hook]:
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    settings = Settings(secret_key=SECRET, sendgrid_webhook_public_key=KEY.public)
    with served(create_app(settings, engine, OutboxTransport(project / "outbox"))) as url:
        yield Hook(url, engine)
    engine.dispose()


def _add(engine: sa.Engine, email: str) -> int:
    with Session(engine) as session:
        person = subscribers.add(session, email, "", confirmed=True, consent=ConsentInfo("test"))
        session.commit()
        assert person.id is not None
        return person.id


def test_an_event_with_no_delivery_of_ours_changes_nobody(hook):
    add_confirmed(hook.engine, 2)
    send_id, sent = live_send(hook.engine)
    later = _add(hook.engine, "later@example.net")  # joined after the send: not in it
    r0 = sent["reader0@example.net"][0]
    before = hook.statuses()
    answer = hook.post(
        [
            event("spamreport", "reader0@example.net", subscriber_id=str(r0)),  # no send id
            event("bounce", "reader1@example.net", subscriber_id=str(r0), type="bounce"),
            event(
                "unsubscribe", "later@example.net", send_id=str(send_id), subscriber_id=str(later)
            ),
            event("spamreport", "reader0@example.net"),  # an address alone
            event("dropped", "reader1@example.net", reason="Bounced Address"),
        ]
    )
    assert hook.statuses() == before
    assert hook.deliveries() == ["accepted", "accepted"]
    assert (answer["applied"], answer["unmatched"], answer["subscribers"]) == (5, 5, 0)
    assert "5 events matched no delivery of ours" in answer["notes"][0]


def test_an_event_for_another_address_than_the_delivery_went_to_changes_nobody(hook):
    add_confirmed(hook.engine, 2)
    send_id, sent = live_send(hook.engine)
    r0, message_id = sent["reader0@example.net"]
    ids = {"send_id": str(send_id), "subscriber_id": str(r0)}
    answer = hook.post(
        [
            event("spamreport", "someone.else@example.org", **ids),
            event("bounce", "reader1@example.net", **ids, type="bounce"),  # the wrong person's
            for_delivery("unsubscribe", message_id, "someone.else@example.org"),
        ]
    )
    assert hook.statuses() == {
        "reader0@example.net": "confirmed",
        "reader1@example.net": "confirmed",
    }
    assert hook.deliveries() == ["accepted", "accepted"]
    assert answer["unmatched"] == 3


def test_a_late_spam_report_for_an_erased_person_does_not_mark_the_next_signup(hook):
    """On SQLite (before AUTOINCREMENT) the newcomer gets the erased person's id; the report
    carries that id, and the address tells the two apart."""
    add_confirmed(hook.engine, 2)
    send_id, sent = live_send(hook.engine)
    erased_id, message_id = sent["reader1@example.net"]
    with Session(hook.engine) as session:
        assert subscribers.erase(session, "reader1@example.net")
        session.commit()
    newcomer = _add(hook.engine, "newcomer@example.net")
    late = [
        event("spamreport", "reader1@example.net", send_id=str(send_id), subscriber_id=str(i))
        for i in sorted({erased_id, newcomer})  # the same id where SQLite reused it
    ]
    late.append(for_delivery("spamreport", message_id, "reader1@example.net"))
    answer = hook.post(late)
    assert hook.status("newcomer@example.net") == "confirmed"
    assert hook.status("reader0@example.net") == "confirmed"
    assert answer["subscribers"] == 0 and answer["unmatched"] == len(late)


def test_a_matching_event_applies_whatever_the_letter_case(hook):
    add_confirmed(hook.engine, 2)
    send_id, sent = live_send(hook.engine)
    r0 = sent["reader0@example.net"][0]
    message_id = sent["reader1@example.net"][1]
    answer = hook.post(
        [
            event("spamreport", "Reader0@EXAMPLE.net", send_id=str(send_id), subscriber_id=str(r0)),
            for_delivery("bounce", message_id, " READER1@example.NET", type="bounce"),
        ]
    )
    assert hook.status("reader0@example.net") == "complained"
    assert hook.status("reader1@example.net") == "bounced"
    assert hook.deliveries() == ["bounced", "delivered"]
    assert (answer["unmatched"], answer["subscribers"], answer["notes"]) == (0, 2, [])


def test_events_on_a_test_proof_change_no_subscriber(hook):
    add_confirmed(hook.engine, 1)
    content = ledger.Content("2016-q3", "[TEST] Issue", "<p>hi</p>", "hi", "hash")
    proof = ledger.start_test(hook.engine, content, ["reader0@example.net"])
    assert proof.id is not None
    worker = ledger.worker_id()
    ledger.claim(hook.engine, proof.id, worker, 10)
    ledger.settle(hook.engine, proof.id, worker, events.Status.accepted, message_id="proof1")
    answer = hook.post([for_delivery("spamreport", "proof1", "reader0@example.net")])
    assert answer["deliveries"] == 1 and answer["subscribers"] == 0  # the proof's row only
    assert hook.status("reader0@example.net") == "confirmed"


# --- parse_event over arbitrary JSON ----------------------------------------------------------

FIELDS = (
    "event", "sg_event_id", "email", "timestamp", "send_id", "subscriber_id", "sg_message_id",
    "reason", "response", "type", "status", "sg_machine_open",
)  # fmt: skip
ODD: tuple[Any, ...] = (
    None, True, False, 0, -1, 7, 2**63, -(10**30), 10**40, 1.5, -0.0, 1e308, "", " ", "bounce",
    "spamreport", "²", "١٢", "9" * 40, "\x00", "\ud800", "a" * 5000, "4.2.0", "blocked",
    "x@example.org", "123", ["bounce"], {"event": "bounce"}, [], {}, "a@xn--zz.de",
    "a@xn--9999999999.de", "a@xn--é.de", "@xn--", "a@b@xn--mnchen-3ya.de",
)  # fmt: skip


def _junk(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(ODD)
    if roll < 0.55:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if roll < 0.7:
        return {rng.choice((*FIELDS, "x", "")): _junk(rng, depth + 1) for _ in range(4)}
    # an event-shaped object: every field present, each valid or junk
    valid = event(rng.choice(sorted(events.KNOWN)), "r@example.org", send_id="1", subscriber_id="2")
    return {k: valid.get(k, "x") if rng.random() < 0.5 else _junk(rng, depth + 1) for k in FIELDS}


def test_parse_event_is_total_over_generated_junk():
    rng = random.Random(20261129)
    kinds = 0
    for _ in range(20_000):
        item = _junk(rng)
        parsed = events.parse_event(item)  # never raises
        if parsed is None:
            continue
        kinds += 1
        assert parsed.kind in events.KNOWN and isinstance(parsed.sg_event_id, str)
        assert isinstance(parsed.email, str) and isinstance(parsed.reason, str)
        for number in (parsed.send_id, parsed.subscriber_id):
            assert number is None or (isinstance(number, int) and 0 <= number < 10**18)
        assert isinstance(parsed.timestamp, int) and isinstance(parsed.message_id, str)
        stored = parsed.sg_event_id + parsed.email + parsed.reason + parsed.message_id
        matching.address_key(parsed.email)  # what matching does with it never raises either
        assert "\x00" not in stored and stored.encode("utf-8")  # any database can store it
        assert parsed.delivery_status is not None or parsed.kind not in events.DELIVERY_EVENTS
    assert kinds > 1000  # the generator does reach whole events too


@pytest.mark.parametrize(
    "bad",
    [
        {"event": ["bounce"]},
        {"event": {"bounce": 1}},
        {"event": 7},
        {"sg_event_id": ["x"]},
        {"sg_event_id": 12},
        {"email": ["reader0@example.net"]},
        {"send_id": "²"},
        {"subscriber_id": 10**40},
        {"reason": {"a": 1}, "response": ["b"]},
        {"timestamp": "١٢٣"},
    ],
)
def test_parse_event_ignores_wrong_types_field_by_field(bad):
    item = {**event("bounce", "r@example.org", send_id="1", subscriber_id="2"), **bad}
    parsed = events.parse_event(item)
    if "event" in bad or "sg_event_id" in bad:
        assert parsed is None
    else:
        assert parsed is not None and parsed.kind == "bounce"
        assert parsed.email in ("", "r@example.org") and parsed.reason == ""


def test_signed_junk_is_ignored_and_changes_nothing(hook):
    add_confirmed(hook.engine, 1)
    send_id, sent = live_send(hook.engine)
    ids = {"send_id": str(send_id), "subscriber_id": str(sent["reader0@example.net"][0])}
    rng = random.Random(7)
    junk = [_junk(rng) for _ in range(300)]
    junk = json.loads(json.dumps(junk))  # what survives JSON (no NaN, no lone surrogates)
    junk += [
        {**event("spamreport", "reader0@example.net", **ids), "event": ["spamreport"]},
        {**event("spamreport", "reader0@example.net", **ids), "sg_event_id": 5},
    ]
    before = hook.statuses()
    answer = hook.post(junk)
    assert hook.statuses() == before
    assert answer["received"] == len(junk) and answer["subscribers"] == 0


def test_an_international_domain_matches_in_its_ascii_form(hook):
    """A send hands SendGrid the ASCII form of a domain stored as typed; its events carry that."""
    now = utcnow()
    with hook.engine.begin() as connection:
        connection.execute(
            subscriber_table.insert(),
            [{"key": "k" * 32, "email": "Dee@münchen.de", "name": "", "status": "confirmed",
              "created_at": now, "confirmed_at": now}],
        )  # fmt: skip
    send_id, sent = live_send(hook.engine)
    subscriber_id, message_id = sent["Dee@xn--mnchen-3ya.de"]  # the ledger sends the ASCII form
    ids = {"send_id": str(send_id), "subscriber_id": str(subscriber_id)}
    answer = hook.post(
        [
            for_delivery("delivered", message_id, "dee@xn--mnchen-3ya.de"),
            event("spamreport", "DEE@XN--MNCHEN-3YA.DE", **ids),
        ]
    )
    assert answer["unmatched"] == 0
    assert hook.status("Dee@münchen.de") == "complained"
    assert matching.address_key("dee@xn--strae-oqa.de") == matching.address_key("Dee@Straße.de")
    assert matching.address_key("x@xn--zz.de") == "x@xn--zz.de"  # not punycode: as is
