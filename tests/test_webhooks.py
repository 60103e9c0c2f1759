"""POST /webhooks/sendgrid over real HTTP, with events signed by a P-256 key made here the way
SendGrid signs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.models import (
    DeliveryStatus,
    StatusEvent,
    Subscriber,
    WebhookEvent,
    utcnow,
)
from newsletter.sending import report as reporting
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from newsletter.transports.outbox import OutboxTransport
from newsletter.web.app import create_app
from newsletter.web.webhooks import startup_warning
from tests.conftest import run_cli
from tests.webhook_kit import (
    SIGNATURE,
    TIMESTAMP,
    SigningKey,
    add_confirmed,
    event,
    for_delivery,
    live_send,
    served,
)

SECRET = "test-secret-key-for-signing-links"
KEY = SigningKey()


@dataclass
class Hook:
    url: str
    engine: sa.Engine
    key: SigningKey = KEY

    def post(self, events: Any, *, key: SigningKey | None = None, **kw: Any) -> httpx.Response:
        body = events if isinstance(events, bytes) else json.dumps(events).encode()
        headers = kw.pop("headers", None) or (key or self.key).headers(body, **kw)
        return httpx.post(
            f"{self.url}/webhooks/sendgrid",
            content=body,
            headers=headers,
            timeout=60,
            trust_env=False,
        )

    def person(self, email: str) -> Subscriber:
        with Session(self.engine) as session:
            return session.exec(select(Subscriber).where(Subscriber.email == email)).one()

    def history(self, email: str) -> list[StatusEvent]:
        person = self.person(email)
        with Session(self.engine) as session:
            query = select(StatusEvent).where(StatusEvent.subscriber_id == person.id)
            return list(session.exec(query))

    def report(self, slug: str = "2016-q3", **kw: Any) -> dict[str, Any]:
        with Session(self.engine) as session:
            return reporting.report(session, slug, **kw)[-1]

    def applied_ids(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(WebhookEvent)).all())


def _app(engine: sa.Engine, project: Any, **settings: Any) -> Any:
    values = {"secret_key": SECRET, "sendgrid_webhook_public_key": KEY.public, **settings}
    config = Settings(**values)
    return create_app(config, engine, OutboxTransport(project / "outbox"))


@pytest.fixture
def hook(project, database_url) -> Iterator[Hook]:
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    with served(_app(engine, project, track_engagement=True, soft_bounce_limit=2)) as url:
        yield Hook(url, engine)
    engine.dispose()


def test_events_matched_by_custom_args_update_deliveries_and_the_list(hook):
    add_confirmed(hook.engine, 7)
    send_id, sent = live_send(hook.engine)

    def ev(kind: str, i: int, **fields: Any) -> dict[str, Any]:
        email = f"reader{i}@example.net"
        ids = {"send_id": str(send_id), "subscriber_id": str(sent[email][0])}
        return event(kind, email, **ids, **fields)

    events = [
        ev("processed", 0), ev("delivered", 0, response="250 OK"),
        ev("bounce", 1, type="bounce", status="5.1.1", reason="550 5.1.1 unknown user"),
        ev("delivered", 2), ev("spamreport", 2),
        ev("delivered", 3), ev("unsubscribe", 3),
        ev("bounce", 4, type="blocked", status="5.7.1", reason="554 blocked by policy"),
        ev("dropped", 5, reason="Bounced Address"),
        ev("deferred", 6, response="421 try later", attempt="1", status="4.2.1"),
        ev("no_such_event", 6), {"event": "delivered"}, "not an object",
    ]  # fmt: skip
    answer = hook.post(events)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ignored"] == 3
    assert (answer.json()["received"], answer.json()["applied"]) == (13, 10)
    assert answer.json()["subscribers"] == 4
    statuses = {i: hook.person(f"reader{i}@example.net").status for i in range(7)}
    assert statuses == {
        0: "confirmed", 1: "bounced", 2: "complained", 3: "unsubscribed",
        4: "confirmed", 5: "bounced", 6: "confirmed",
    }  # fmt: skip
    (change,) = hook.history("reader1@example.net")[-1:]
    assert change.reason.startswith("sendgrid webhook: bounce (550 5.1.1 unknown user")
    row = hook.report()
    assert (row["delivered"], row["bounced"], row["soft_bounced"]) == (3, 1, 1)
    assert (row["dropped"], row["deferred"], row["accepted"]) == (1, 1, 0)
    assert (row["complaints"], row["unsubscribes"]) == (1, 1)
    assert row["reasons"]["dropped"] == {"Bounced Address": 1}
    assert row["reasons"]["bounced"] == {"550 5.1.1 unknown user": 1}


def test_the_same_event_twice_in_a_batch_and_again_in_a_retry_is_applied_once(hook):
    add_confirmed(hook.engine, 1)
    _, sent = live_send(hook.engine)
    unsubscribe = event(
        "unsubscribe", "reader0@example.net", sg_message_id=sent["reader0@example.net"][1] + ".x"
    )
    first = hook.post([unsubscribe, unsubscribe])
    assert first.json()["applied"] == 1 and first.json()["duplicates"] == 1
    retry = hook.post([unsubscribe])
    assert retry.status_code == 200 and retry.json()["duplicates"] == 1
    assert [e.to_status for e in hook.history("reader0@example.net")][-1:] == ["unsubscribed"]
    assert (
        sum(e.reason.startswith("sendgrid webhook") for e in hook.history("reader0@example.net"))
        == 1
    )


@pytest.mark.parametrize(
    "case", ["other key", "stale", "future", "bad base64", "empty", "no headers", "tampered"]
)
def test_a_bad_signature_is_403_and_changes_nothing(hook, case):
    add_confirmed(hook.engine, 1)
    body = json.dumps([event("spamreport", "reader0@example.net")]).encode()
    headers = {
        "other key": lambda: SigningKey().headers(body),
        "stale": lambda: KEY.headers(body, int(time.time()) - 301),
        "future": lambda: KEY.headers(body, int(time.time()) + 600),
        "bad base64": lambda: {**KEY.headers(body), SIGNATURE: "%%%not base64%%%"},
        "empty": lambda: {**KEY.headers(body), SIGNATURE: "", TIMESTAMP: ""},
        "no headers": lambda: {"Content-Type": "application/json"},
        "tampered": lambda: KEY.headers(body.replace(b"spamreport", b"open")),
    }[case]()
    answer = hook.post(body, headers=headers)
    assert answer.status_code == 403
    assert "signature" in answer.json()["detail"]
    assert hook.person("reader0@example.net").status == "confirmed"
    assert hook.applied_ids() == 0


@pytest.mark.parametrize(
    "body", [b'{"event": "open"}', b"not json", b"", b'"text"', b"[1] trailing"]
)
def test_a_body_that_is_not_a_json_array_is_400(hook, body):
    answer = hook.post(body)
    assert answer.status_code == 400
    assert "JSON array" in answer.json()["detail"]


def test_events_for_unknown_messages_change_nothing(hook):
    add_confirmed(hook.engine, 1)
    live_send(hook.engine)
    answer = hook.post(
        [
            event(
                "bounce", "nobody@example.net", send_id="999", subscriber_id="999", type="bounce"
            ),
            for_delivery("delivered", "unknownmessageid", "reader0@example.net"),
            event("unsubscribe", "stranger@example.com"),
        ]
    )
    assert answer.status_code == 200
    assert answer.json()["unmatched"] == 3 and answer.json()["subscribers"] == 0
    assert hook.person("reader0@example.net").status == "confirmed"
    assert hook.report()["delivered"] == 0


def test_sg_message_id_prefix_and_address_find_the_delivery(hook):
    add_confirmed(hook.engine, 3)
    _, sent = live_send(hook.engine)
    events = [
        for_delivery("delivered", sent[f"reader{i}@example.net"][1], f"reader{i}@example.net")
        for i in range(2)
    ]
    events.append(
        for_delivery(
            "bounce",
            sent["reader2@example.net"][1],
            "reader2@example.net",
            type="bounce",
            reason="550 gone",
        )
    )
    assert hook.post(events).status_code == 200
    row = hook.report()
    assert (row["delivered"], row["bounced"]) == (2, 1)
    assert hook.person("reader2@example.net").status == "bounced"


def test_a_later_event_is_not_undone_by_an_earlier_one_arriving_late(hook):
    add_confirmed(hook.engine, 1)
    send_id, sent = live_send(hook.engine)
    ids = {"send_id": str(send_id), "subscriber_id": str(sent["reader0@example.net"][0])}
    hook.post([event("delivered", "reader0@example.net", **ids)])
    hook.post(
        [
            event("processed", "reader0@example.net", **ids),
            event("deferred", "reader0@example.net", **ids),
        ]
    )
    assert hook.report()["delivered"] == 1


def test_crash_then_settle_uncertain_deliveries_from_processed_events(hook):
    add_confirmed(hook.engine, 5)
    send_id, sent = live_send(hook.engine, batch=2, status=DeliveryStatus.uncertain)
    before = hook.report()
    assert (before["uncertain"], before["uncertain_settled"]) == (5, 0)
    events = [
        event("processed", email, send_id=str(send_id), subscriber_id=str(sid))
        for email, (sid, _) in sorted(sent.items())[:4]
    ]
    answer = hook.post(events)
    assert answer.json()["settled"] == 4
    after = hook.report()
    assert after["uncertain_settled"] == 4 and after["uncertain_remaining"] == 1
    assert after["accepted"] == 4


def test_soft_bounces_count_and_the_limit_within_the_window_marks_bounced(hook):
    add_confirmed(hook.engine, 1)
    email = "reader0@example.net"
    for issue in ("2016-q3", "2016-q4"):
        _, sent = live_send(hook.engine, issue)
        # a blocked bounce, then a bounce with a 4.x.x status: both are soft
        kind = {"type": "blocked"} if issue == "2016-q3" else {"type": "bounce", "status": "4.2.2"}
        soft = for_delivery("bounce", sent[email][1], email, reason="421 busy", **kind)
        assert hook.post([soft]).status_code == 200
        if issue == "2016-q3":
            assert hook.person(email).status == "confirmed"  # one soft bounce: still mailed
    assert hook.person(email).status == "bounced"  # soft_bounce_limit = 2
    assert "2 soft bounces" in hook.history(email)[-1].reason


def test_group_resubscribe_restores_only_who_had_been_confirmed(hook):
    add_confirmed(hook.engine, 1)
    with Session(hook.engine) as session:
        never = subscribers.add(
            session, "never@example.net", "", confirmed=False, consent=ConsentInfo("test")
        )
        subscribers.unsubscribe(session, never.key, "test", utcnow())
        session.commit()
    send_id, sent = live_send(hook.engine)  # events act through a delivery of ours
    ids = {"send_id": str(send_id), "subscriber_id": str(sent["reader0@example.net"][0])}
    hook.post([event("group_unsubscribe", "reader0@example.net", asm_group_id=10, **ids)])
    assert hook.person("reader0@example.net").status == "unsubscribed"
    hook.post(
        [
            event("group_resubscribe", "reader0@example.net", asm_group_id=10, **ids),
            event("group_resubscribe", "never@example.net", asm_group_id=10),  # sent nothing
        ]
    )
    assert hook.person("reader0@example.net").status == "confirmed"
    assert hook.person("never@example.net").status == "unsubscribed"


def test_opens_and_clicks_are_counted_per_send_with_machine_opens_apart(hook, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_TRACK_ENGAGEMENT", "true")
    add_confirmed(hook.engine, 2)
    send_id, sent = live_send(hook.engine)

    def ids(email: str) -> dict[str, str]:
        return {"send_id": str(send_id), "subscriber_id": str(sent[email][0])}

    r0, r1 = "reader0@example.net", "reader1@example.net"
    hook.post(
        [
            event("open", r0, **ids(r0), sg_machine_open=False),
            event("open", r1, **ids(r1), sg_machine_open=True),
            event("open", r1, **ids(r1)),
            event("click", r0, **ids(r0), url="https://example.org/"),
            event("open", r0, send_id=str(send_id)),  # no delivery of ours: not counted
        ]
    )
    row = hook.report(engagement=True)
    assert (row["opens"], row["machine_opens"], row["clicks"]) == (2, 1, 1)
    code, out, _ = run_cli("report", "2016-q3")
    assert code == 0 and "2 opens (+1 machine opens), 1 clicks" in out


def test_engagement_is_not_counted_unless_tracked(project, database_url):
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    add_confirmed(engine, 1)
    send_id, _ = live_send(engine)
    with served(_app(engine, project)) as url:
        answer = Hook(url, engine).post(
            [event("open", "reader0@example.net", send_id=str(send_id))]
        )
    assert answer.status_code == 200
    row = Hook(url, engine).report(engagement=True)
    assert row["opens"] == 0 and "opens" not in Hook(url, engine).report()
    engine.dispose()


def test_a_huge_batch_in_one_request(hook):
    add_confirmed(hook.engine, 5000)
    _, sent = live_send(hook.engine)
    events = [for_delivery("delivered", mid, email) for email, (_, mid) in sent.items()]
    answer = hook.post(events)
    assert answer.status_code == 200
    assert answer.json()["deliveries"] == 5000
    assert hook.report()["delivered"] == 5000
    code, out, _ = run_cli("report", "2016-q3", "--format", "json")
    assert code == 0 and json.loads(out)[0]["delivered"] == 5000


def test_verification_off_accepts_unsigned_events_and_warns(project, database_url, caplog):
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    add_confirmed(engine, 1)
    send_id, sent = live_send(engine)
    caplog.set_level(logging.WARNING, logger="newsletter.webhooks")
    app = _app(engine, project, sendgrid_webhook_verify=False, sendgrid_webhook_public_key="")
    assert "sendgrid_webhook_verify is off" in caplog.text
    caplog.clear()
    ids = {"send_id": str(send_id), "subscriber_id": str(sent["reader0@example.net"][0])}
    body = json.dumps([event("unsubscribe", "reader0@example.net", **ids)]).encode()
    with served(app) as url:
        answer = httpx.post(f"{url}/webhooks/sendgrid", content=body, timeout=60, trust_env=False)
    assert answer.status_code == 200
    assert "sendgrid_webhook_verify is off" in caplog.text
    assert Hook(url, engine).person("reader0@example.net").status == "unsubscribed"
    engine.dispose()


def test_no_key_is_503_and_serve_warns(project, database_url):
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    with served(_app(engine, project, sendgrid_webhook_public_key="")) as url:
        answer = Hook(url, engine).post([event("open", "a@example.net")])
    assert answer.status_code == 503
    assert "sendgrid_webhook_public_key" in answer.json()["detail"]
    warning = startup_warning(Settings(transport="sendgrid"))
    assert warning is not None and "sendgrid_webhook_public_key" in warning
    assert startup_warning(Settings(sendgrid_webhook_public_key=KEY.public)) is None
    engine.dispose()


@pytest.mark.parametrize("key", ["not base64 at all", "TUlJQg==", "RSA"])
def test_a_bad_public_key_stops_the_app(project, database_url, key):
    if key == "RSA":
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        der = (
            rsa.generate_private_key(65537, 2048)
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        key = base64.b64encode(der).decode()
    engine = db.make_engine(database_url)
    with pytest.raises(ConfigError, match="sendgrid_webhook_public_key"):
        _app(engine, project, sendgrid_webhook_public_key=key)
    engine.dispose()


def test_signed_events_of_the_wrong_shape_are_ignored_never_a_500(hook):
    add_confirmed(hook.engine, 1)
    send_id, sent = live_send(hook.engine)
    email = "reader0@example.net"
    ids = {"send_id": str(send_id), "subscriber_id": str(sent[email][0])}
    hostile: list[Any] = [
        event(["bounce"], email, **ids),  # type: ignore[arg-type]
        event({"kind": "bounce"}, email, **ids),  # type: ignore[arg-type]
        {**event("bounce", email, **ids), "sg_event_id": ["x"]},
        {**event("bounce", email, **ids), "type": ["blocked"], "status": 5, "reason": {}},
        [[["nested"]]],
        None,
        7,
    ]
    answer = hook.post([*hostile, event("delivered", email, **ids)])
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["received"] == 8 and result["applied"] >= 1
    assert hook.person(email).status == "bounced"  # the one well-formed bounce applied
    for body in ({"event": "bounce"}, "text", [1] * 3, b"[" * 100_000, b"{]"):
        answer = hook.post(body)
        assert answer.status_code in (200, 400), (body, answer.status_code)
        assert answer.headers["x-content-type-options"] == "nosniff"
