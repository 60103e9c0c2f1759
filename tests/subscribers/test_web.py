"""The web app through FastAPI's TestClient: signup paths, links, archive, health."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.issues.build import build_issue
from newsletter.models import Subscriber, utcnow
from newsletter.sending.ledger import start_live, start_test
from newsletter.sending.sender import content_of
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.status import Cause, move
from newsletter.transports.outbox import OutboxTransport
from newsletter.web import create_app
from tests.subscribers.conftest import Delivered, Outbox, deliver, make_app, status_of

LINK = re.compile(r"https?://[^\s\"'<>]+/confirm/[A-Za-z0-9_.\-]+")


@pytest.fixture
def outbox(web_settings: Settings, store: sa.Engine) -> Outbox:
    """What people received: read after the email worker delivered the jobs due (the signups
    here only queue their emails)."""
    return Delivered(web_settings, store)


def _confirm_link(outbox: Outbox, address: str) -> str:
    messages = outbox.to(address)
    assert messages, f"no email to {address}"
    found = LINK.search(Outbox.text(messages[-1]))
    assert found is not None
    return found.group(0)


def test_form_signup_sends_a_confirmation_and_the_link_confirms(client, outbox, store):
    page = client.get("/subscribe")
    assert page.status_code == 200 and 'name="email"' in page.text and 'name="website"' in page.text
    answer = client.post("/subscribe", data={"email": "Ann@Example.ORG", "name": "Ann"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert status_of(store, "Ann@example.org") == "pending"
    message = outbox.to("Ann@example.org")[0]
    assert "confirm" in message["Subject"].lower()
    link = _confirm_link(outbox, "Ann@example.org")
    assert link in Outbox.html(message)
    confirmed = client.get(link.removeprefix("http://localhost:8000"))
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert status_of(store, "Ann@example.org") == "confirmed"


def test_json_signup_and_the_same_answer_whatever_the_status(client, outbox, store):
    first = client.post("/subscribe", json={"email": "bo@example.org"})
    assert first.status_code == 200 and first.json()["status"] == "ok"
    again = client.post("/subscribe", json={"email": "bo@example.org"})
    assert (again.status_code, again.json()) == (200, first.json())
    assert len(outbox.to("bo@example.org")) == 1  # at most one confirmation per hour
    client.get(_confirm_link(outbox, "bo@example.org").removeprefix("http://localhost:8000"))
    confirmed = client.post("/subscribe", json={"email": "bo@example.org"})
    assert (confirmed.status_code, confirmed.json()) == (200, first.json())
    form_new = client.post("/subscribe", data={"email": "new@example.org"})
    form_known = client.post("/subscribe", data={"email": "bo@example.org"})
    assert form_new.text == form_known.text


@pytest.mark.parametrize("address", ["not-an-address", "ann@example", "", "a b@example.org"])
def test_invalid_address_gets_the_form_again_or_a_422(client, store, address):
    page = client.post("/subscribe", data={"email": address, "name": "Ann"})
    assert page.status_code == 422
    assert 'role="alert"' in page.text and 'aria-invalid="true"' in page.text
    assert 'value="Ann"' in page.text
    answer = client.post("/subscribe", json={"email": address})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "email"]
    assert (
        client.post(
            "/subscribe", content=b"[1,2", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert status_of(store, address) is None


def test_honeypot_gets_the_normal_answer_and_nothing_happens(client, outbox, store):
    form = client.post("/subscribe", data={"email": "bot@example.org", "website": "http://spam"})
    data = client.post("/subscribe", json={"email": "bot2@example.org", "website": "x"})
    assert form.status_code == 200 and "Check your inbox" in form.text
    assert data.status_code == 200 and data.json()["status"] == "ok"
    assert (
        status_of(store, "bot@example.org") is None and status_of(store, "bot2@example.org") is None
    )
    assert outbox.messages() == []


def test_rate_limit_counts_form_and_json_together_and_says_when(web_settings, store):
    settings = Settings(signup_rate_limit="3/minute")
    with TestClient(make_app(settings, store), base_url=settings.base_url) as client:
        answers = [
            client.post("/subscribe", data={"email": "a@example.org"}),
            client.post("/subscribe", json={"email": "b@example.org"}),
            client.post("/subscribe", data={"email": "c@example.org"}),
            client.post("/subscribe", json={"email": "d@example.org"}),
            client.post("/subscribe", data={"email": "e@example.org"}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert "try again" in answers[4].text
    assert status_of(store, "d@example.org") is None


def test_rate_limit_is_a_moving_window_no_burst_across_a_boundary(web_settings, store):
    """Fixed windows let 2 x the limit through around a boundary (the end of one window, the
    start of the next); a moving window counts the last period whatever the clock says."""
    settings = Settings(signup_rate_limit="3/2 seconds")
    with TestClient(make_app(settings, store), base_url=settings.base_url) as client:
        time.sleep(2 - time.time() % 2 + 1.7)  # 0.3 s before a 2-second boundary
        before = [client.post("/subscribe", data={"email": f"a{n}@example.org"}) for n in range(3)]
        time.sleep(max(0.0, 2 - time.time() % 2) + 0.05)  # just after it
        after = [client.post("/subscribe", data={"email": f"b{n}@example.org"}) for n in range(3)]
    assert [a.status_code for a in before] == [200, 200, 200]
    assert [a.status_code for a in after] == [429, 429, 429]
    assert int(after[0].headers["Retry-After"]) in (1, 2)


def test_the_default_rate_limit_lets_a_room_sign_up(clean_env):
    settings = Settings()
    assert settings.signup_rate_limit == "20/10 minutes"
    with pytest.raises(ValueError, match="20/10 minutes"):
        Settings(signup_rate_limit="20 a minute")


def test_unsubscribe_get_changes_nothing_post_one_click_does(client, outbox, store):
    client.post("/subscribe", data={"email": "cy@example.org"})
    client.get(_confirm_link(outbox, "cy@example.org").removeprefix("http://localhost:8000"))
    tokens = client.app.state.web.tokens
    with Session(store) as session:
        key = session.exec(select(Subscriber.key).where(Subscriber.email == "cy@example.org")).one()
    path = f"/unsubscribe/{tokens.unsubscribe_token(key)}"
    page = client.get(path)
    assert page.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert status_of(store, "cy@example.org") == "confirmed"
    done = client.post(path, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert status_of(store, "cy@example.org") == "unsubscribed"
    back = client.post(path.replace("/unsubscribe/", "/resubscribe/"))
    assert back.status_code == 200 and status_of(store, "cy@example.org") == "confirmed"
    multipart = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200 and status_of(store, "cy@example.org") == "unsubscribed"


@pytest.mark.parametrize("path", ["/unsubscribe/abc.def", "/confirm/abc.def", "/resubscribe/x"])
def test_tampered_tokens_get_a_400_page(client, path):
    for answer in (client.get(path), client.post(path, data={"List-Unsubscribe": "One-Click"})):
        if answer.status_code != 405:
            assert answer.status_code == 400 and "does not work" in answer.text


def test_cors_only_for_allowed_origins(web_settings, store):
    settings = Settings(allowed_origins=["https://mpat.example.org"])
    with TestClient(make_app(settings, store), base_url=settings.base_url) as client:
        for origin, allowed in (
            ("https://mpat.example.org", True),
            ("https://evil.example", False),
        ):
            answer = client.options(
                "/subscribe",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert (answer.headers.get("access-control-allow-origin") == origin) is allowed


def test_app_refuses_to_start_without_a_secret(project, store):
    settings = Settings(secret_key="")
    with pytest.raises(ConfigError, match="secret_key is empty"):
        create_app(settings, store, OutboxTransport(settings.outbox_dir))


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_archive_lists_sent_issues_with_placeholders_neutralised(web_settings, synced, client):
    built = build_issue(web_settings, synced, "2016-q3")
    start_test(synced, content_of(built.compiled, test=True), ["proof@example.org"])
    assert "/archive/2016-q3" not in client.get("/archive").text  # a proof is not "sent"
    start_live(synced, content_of(built.compiled))
    listing = client.get("/archive")
    assert listing.status_code == 200 and "/archive/2016-q3" in listing.text
    page = client.get("/archive/2016-q3")
    assert page.status_code == 200 and built.compiled.subject.split(":")[0] in page.text
    assert "%%" not in page.text and "[TEST]" not in listing.text
    assert 'href="http://localhost:8000/subscribe"' in page.text
    assert 'href="http://localhost:8000/archive/2016-q3"' in page.text
    assert client.get("/archive/2016-q4").status_code == 404
    assert client.get("/archive/..%2F..%2Fetc").status_code == 404


def test_a_database_that_went_away_gets_a_503_page_not_a_500(web_settings, store, tmp_path):
    gone = db.make_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    with TestClient(make_app(web_settings, gone), base_url=web_settings.base_url) as client:
        answer = client.post("/subscribe", data={"email": "ann@example.org"})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"
        assert client.get("/healthz").status_code == 503


def test_a_confirmation_the_transport_refuses_fails_no_signup(web_settings, store, project):
    """The email cannot be written (the outbox folder is a file): the signup is answered and
    stored all the same, and a second signup at once queues no second email."""
    (project / "blocked").write_text("a file where the outbox folder should be")
    settings = Settings(outbox_dir=project / "blocked")
    with TestClient(make_app(settings, store), base_url=settings.base_url) as client:
        answer = client.post("/subscribe", json={"email": "ann@example.org"})
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert deliver(settings, store).retried == 1
    with TestClient(make_app(web_settings, store), base_url=web_settings.base_url) as client:
        assert client.post("/subscribe", json={"email": "ann@example.org"}).status_code == 200
    assert status_of(store, "ann@example.org") == "pending"
    assert deliver(web_settings, store).sent == 0  # its one job waits for its retry


def test_resubscribing_an_address_that_never_confirmed_needs_a_confirmation(client, store, outbox):
    client.post("/subscribe", data={"email": "pat@example.org"})
    with Session(store) as session:
        key = session.exec(
            select(Subscriber.key).where(Subscriber.email == "pat@example.org")
        ).one()
    token = client.app.state.web.tokens.unsubscribe_token(key)
    client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    page = client.post(f"/resubscribe/{token}")
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert status_of(store, "pat@example.org") == "unsubscribed"  # until the link is followed
    assert len(outbox.to("pat@example.org")) == 1  # still at most one email an hour


def test_unknown_pages_and_wrong_methods_get_a_page_not_raw_json(client):
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert (
        "Page not found" in missing.text
        and 'href="http://localhost:8000/subscribe"' in missing.text
    )
    wrong = client.get("/webhooks/sendgrid")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.headers["content-type"].startswith("text/html") and "Not allowed" in wrong.text
    scripted = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert scripted.status_code == 404 and scripted.json() == {
        "detail": "There is nothing at this address."
    }


def test_a_tampered_link_from_a_script_gets_json(client):
    answer = client.post("/unsubscribe/abc.def", json={})
    assert answer.status_code == 400 and "detail" in answer.json()


@pytest.mark.parametrize("cause", [Cause.complaint, Cause.bounce])
def test_one_click_leaves_a_complaint_or_bounce_and_only_a_new_confirmation_undoes_it(
    client, store, outbox, cause
):
    client.post("/subscribe", data={"email": "dee@example.org"})
    client.get(_confirm_link(outbox, "dee@example.org").removeprefix("http://localhost:8000"))
    with db.session_scope(store) as session:  # what SendGrid's spam report or hard bounce does
        dee = subscribers.require(session, "dee@example.org")
        move(session, dee, cause, "sendgrid webhook: test", utcnow())
    was = status_of(store, "dee@example.org")
    tokens = client.app.state.web.tokens
    token = tokens.unsubscribe_token(dee.key)
    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert status_of(store, "dee@example.org") == was
    back = client.post(f"/resubscribe/{token}")
    assert back.status_code == 200 and "Check your inbox" in back.text
    assert status_of(store, "dee@example.org") == was  # not mailed until they confirm again
    fresh = client.get(f"/confirm/{tokens.confirm_token(dee.key)}")
    assert fresh.status_code == 200 and status_of(store, "dee@example.org") == "confirmed"
