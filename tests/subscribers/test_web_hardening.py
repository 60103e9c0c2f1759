"""The web app's edge against a hostile visitor: security headers on every answer, HEAD, no
Host-built redirects, trusted proxies only, body and field limits, a read-only database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings, get_settings
from newsletter.errors import ConfigError
from newsletter.issues.build import build_issue
from newsletter.models import Consent, Subscriber
from newsletter.sending.ledger import start_live
from newsletter.sending.sender import content_of
from newsletter.web.proxies import Proxies
from tests.conftest import run_cli
from tests.subscribers.conftest import live_server, make_app, status_of

HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


def _assert_guarded(answer: httpx.Response) -> None:
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, policy
    assert "base-uri 'none'" in policy and "'unsafe-inline'" not in policy, policy
    assert "script-src" not in policy  # default-src 'none': no script of any kind
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("GET", "/subscribe", {}),
        ("GET", "/archive", {}),
        ("GET", "/healthz", {}),
        ("GET", "/static/site.css", {}),
        ("GET", "/nowhere", {}),
        ("DELETE", "/subscribe", {}),
        ("GET", "/confirm/not-a-token", {}),
        ("GET", "/archive/no-such-issue", {}),
        ("POST", "/subscribe", {"json": {"email": "not an address"}}),
        ("POST", "/subscribe", {"data": {"email": "ann@example.org"}}),
        ("POST", "/webhooks/sendgrid", {"content": b"[]"}),
    ],
)
def test_every_answer_carries_the_security_headers(client, method, path, kw):
    _assert_guarded(client.request(method, path, **kw))


def test_the_archive_shows_email_html_under_a_policy_that_runs_nothing(
    web_settings, synced, client
):
    built = build_issue(web_settings, synced, "2016-q3")
    start_live(synced, content_of(built.compiled))
    page = client.get("/archive/2016-q3")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy and "sandbox" in policy
    assert page.headers["x-frame-options"] == "DENY"
    _assert_guarded(client.get("/archive"))  # the list is one of our pages


def test_the_pages_use_no_inline_style_or_script(client):
    for path in ("/subscribe", "/archive", "/nowhere"):
        page = client.get(path).text
        assert "<style" not in page and "style=" not in page and "<script" not in page
        assert '<link rel="stylesheet" href="http://localhost:8000/static/site.css">' in page
    css = client.get("/static/site.css")
    assert css.headers["content-type"].startswith("text/css") and "body {" in css.text


def test_head_is_answered_wherever_get_is(client):
    for path in ("/subscribe", "/archive", "/healthz", "/static/site.css"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
        _assert_guarded(head)
    assert client.head("/nowhere").status_code == 404


def test_a_hostile_host_header_never_becomes_a_link_or_a_redirect(client):
    hostile = {"host": "evil.example"}
    for path in ("/subscribe/", "/archive/", "/subscribe"):
        answer = client.get(path, headers=hostile, follow_redirects=False)
        assert "location" not in answer.headers and "evil.example" not in answer.text
    assert client.get("/subscribe/", follow_redirects=False).status_code == 404
    form = client.post("/subscribe", data={"email": "bad"}, headers=hostile)
    assert form.status_code == 422 and "evil.example" not in form.text


def test_head_and_headers_over_real_http(web_settings, store):
    with live_server(lambda _base: web_settings, store) as (base, _):
        for path in ("/subscribe", "/healthz", "/archive"):
            head = httpx.head(f"{base}{path}", trust_env=False)
            assert head.status_code == 200 and head.content == b"", path
            assert int(head.headers["content-length"]) > 0
            _assert_guarded(head)
        preflight = httpx.options(f"{base}/subscribe", trust_env=False)
        _assert_guarded(preflight)
        assert "server" not in preflight.headers


def _consent_ip(engine: sa.Engine, address: str) -> str:
    with Session(engine) as session:
        person = session.exec(select(Subscriber).where(Subscriber.email == address)).one()
        consent = session.exec(select(Consent).where(Consent.subscriber_id == person.id)).one()
        return consent.ip


def _post(base: str, body: dict[str, str], forwarded: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": forwarded, "x-forwarded-proto": "https"} if forwarded else {}
    return httpx.post(f"{base}/subscribe", json=body, headers=headers, trust_env=False)


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(web_settings, store):
    settings = Settings(signup_rate_limit="1/minute")
    with live_server(lambda _base: settings, store) as (base, _):
        assert _post(base, {"email": "ann@example.org"}, "198.51.100.1").status_code == 200
        again = _post(base, {"email": "bo@example.org"}, "198.51.100.2")
        assert again.status_code == 429  # one client, whatever it claims to be
    assert _consent_ip(store, "ann@example.org") == "127.0.0.1"
    assert status_of(store, "bo@example.org") is None


def test_a_trusted_proxy_is_believed_right_to_left(web_settings, store):
    settings = Settings(signup_rate_limit="1/minute", trusted_proxies=["127.0.0.0/8"])
    with live_server(lambda _base: settings, store) as (base, _):
        assert _post(base, {"email": "ann@example.org"}, "203.0.113.9").status_code == 200
        # the client wrote the left part itself: only what our proxy appended counts
        forged = _post(base, {"email": "bo@example.org"}, "192.0.2.77, 203.0.113.10")
        assert forged.status_code == 200
        same = _post(base, {"email": "cy@example.org"}, "192.0.2.78, 203.0.113.10")
        assert same.status_code == 429
        # a chain of our own proxies is skipped
        chain = _post(base, {"email": "di@example.org"}, "203.0.113.11, 127.0.0.5")
        assert chain.status_code == 200
    assert _consent_ip(store, "ann@example.org") == "203.0.113.9"
    assert _consent_ip(store, "bo@example.org") == "203.0.113.10"
    assert _consent_ip(store, "di@example.org") == "203.0.113.11"


def test_proxies_walk_the_forwarded_for_chain():
    proxies = Proxies(["10.0.0.0/8", "::1"])
    assert proxies.client("10.1.2.3", "192.0.2.1, 198.51.100.2, 10.0.0.9") == "198.51.100.2"
    assert proxies.client("203.0.113.5", "192.0.2.1") == "203.0.113.5"  # untrusted peer
    assert proxies.client("::1", "10.0.0.1, 10.0.0.2") == "10.0.0.1"  # all ours: leftmost
    assert proxies.client("10.0.0.1", "junk, 10.0.0.2") == "10.0.0.2"  # garbage stops the walk
    assert proxies.client("testclient", "192.0.2.1") == "testclient"
    assert Proxies([]).client("127.0.0.1", "192.0.2.1") == "127.0.0.1"
    assert proxies.scheme("10.0.0.1", "http, https", "http") == "https"
    assert proxies.scheme("192.0.2.1", "https", "http") == "http"


@pytest.mark.parametrize("value", [["not-an-ip"], ["10.0.0.0/33"]])
def test_trusted_proxies_must_be_addresses_or_networks(clean_env, monkeypatch, value):
    monkeypatch.setenv("NEWSLETTER_TRUSTED_PROXIES", json.dumps(value))
    with pytest.raises(ConfigError, match="trusted_proxies"):
        get_settings()


def _signups(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Subscriber)).all())


def test_a_large_signup_body_is_refused_before_it_is_read(web_settings, store):
    big = b"email=ann%40example.org&name=" + b"x" * 200_000
    with live_server(lambda _base: web_settings, store) as (base, _):
        declared = httpx.post(
            f"{base}/subscribe",
            content=big,
            headers={"content-type": "application/x-www-form-urlencoded"},
            trust_env=False,
        )
        assert declared.status_code == 413 and "at most 8 KB" in declared.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield big[:1000]
            for start in range(1000, len(big), 1000):
                yield big[start : start + 1000]

        streamed = httpx.post(
            f"{base}/subscribe",
            content=chunks(),
            headers={"content-type": "application/json", "accept": "application/json"},
            trust_env=False,
        )
        assert streamed.status_code == 413 and "8 KB" in streamed.json()["detail"]
        _assert_guarded(streamed)
    assert _signups(store) == 0


def test_healthz_answers_while_a_huge_signup_is_posted(web_settings, store):
    """A multi-megabyte address used to be read whole and validated on the event loop, which
    stopped every other request for seconds. It is refused at the door now: the bound below
    is a liveness check with a wide margin, not a speed figure."""
    body = json.dumps({"email": "a." * 5_000_000 + "@example.org"}).encode()  # 5 s to validate
    answers: dict[str, Any] = {}
    with live_server(lambda _base: web_settings, store) as (base, _):

        def signup() -> None:
            answers["signup"] = httpx.post(
                f"{base}/subscribe",
                content=body,
                headers={"content-type": "application/json"},
                timeout=60,
                trust_env=False,
            )

        worker = threading.Thread(target=signup)
        worker.start()
        waits: list[float] = []
        while len(waits) < 3 or (worker.is_alive() and len(waits) < 500):
            started = time.monotonic()
            health = httpx.get(f"{base}/healthz", timeout=60, trust_env=False)
            waits.append(time.monotonic() - started)
            assert health.status_code == 200
        worker.join(60)
    assert max(waits) < 1.5, f"/healthz waited {max(waits):.1f} s"
    assert answers["signup"].status_code == 413
    assert _signups(store) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 6000,
        b'{"email": ' + b"[" * 6000,
        b'{"email": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}",
        b'{"email": 1e999999, "name": ["x"]}',
        b'{"email": "ann@example.org", "name": ' + b"9" * 5000 + b"}",
        b"\xff\xfe not utf-8",
    ],
)
def test_hostile_json_bodies_get_a_422_never_a_500(client, store, body):
    answer = client.post("/subscribe", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert _signups(store) == 0


def test_fields_are_bounded_before_the_database_and_never_echoed_whole(client, store):
    long_address = "a" * 300 + "@example.org"
    answer = client.post("/subscribe", json={"email": long_address})
    assert answer.status_code == 422
    message = answer.json()["detail"][0]["msg"]
    assert len(message) < 130 and "254" in message and long_address not in message
    name = client.post("/subscribe", json={"email": "ann@example.org", "name": "n" * 201})
    assert name.status_code == 422 and name.json()["detail"][0]["loc"] == ["body", "name"]
    page = client.post("/subscribe", data={"email": "b" * 250 + "@example"})
    assert page.status_code == 422
    alert = page.text.split('role="alert"')[1].split("</p>")[0]
    assert len(alert) < 200 and "b" * 61 not in alert
    assert _signups(store) == 0
    ok = client.post("/subscribe", json={"email": "ann@example.org", "name": "n" * 200})
    assert ok.status_code == 200


def test_consent_headers_are_cut_to_their_columns_and_a_null_origin_is_no_source(client, store):
    headers = {"referer": "https://example.org/" + "p" * 2000, "user-agent": "u" * 2000}
    answer = client.post("/subscribe", data={"email": "ann@example.org"}, headers=headers)
    assert answer.status_code == 200
    with Session(store) as session:
        consent = session.exec(select(Consent)).one()
    assert len(consent.source) == 500 and len(consent.user_agent) == 500
    null = client.post("/subscribe", data={"email": "bo@example.org"}, headers={"origin": "null"})
    assert null.status_code == 200
    with Session(store) as session:
        sources = {c.source for c in session.exec(select(Consent))}
    assert "null" not in sources and "http://localhost:8000/subscribe" in sources


def _read_only(database_url: str) -> sa.Engine:
    """The same database, every connection read-only (what a full disk, a read-only mount or a
    hot-standby replica look like from the app)."""
    engine = db.make_engine(database_url)
    statement = (
        "PRAGMA query_only = ON"
        if engine.dialect.name == "sqlite"
        else "SET default_transaction_read_only = on"
    )

    @sa.event.listens_for(engine, "connect")
    def _read_only_connection(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute(statement)
        cursor.close()
        connection.commit()  # PostgreSQL's SET is undone by a rollback otherwise

    return engine


def test_a_read_only_database_gets_a_503_with_one_line(web_settings, store, caplog):
    engine = _read_only(web_settings.database_url)
    try:
        with TestClient(make_app(web_settings, engine), base_url=web_settings.base_url) as c:
            page = c.post("/subscribe", data={"email": "ann@example.org"})
            assert page.status_code == 503 and "try again in a minute" in page.text
            assert page.headers["retry-after"] == "60"
            answer = c.post("/subscribe", json={"email": "ann@example.org"})
            assert answer.status_code == 503 and "unavailable" in answer.json()["detail"]
            assert c.get("/healthz").status_code in (200, 503)
    finally:
        engine.dispose()
    assert status_of(store, "ann@example.org") is None
    logged = [r.getMessage() for r in caplog.records if r.name == "newsletter.web"]
    assert logged and all("\n" not in line and "database error" in line for line in logged)


def test_a_short_secret_key_is_refused_at_start(project, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "x" * 31)
    for command in (("subscribers", "count"), ("serve", "--port", "0")):
        code, _, err = run_cli(*command)
        assert code == 1 and len(err.strip().splitlines()) == 1, command
        assert "secret_key" in err and "at least 32" in err and "x" * 31 not in err
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "x" * 32)
    assert Settings().secret_key.get_secret_value() == "x" * 32
