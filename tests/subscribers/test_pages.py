"""The pages a visitor meets, through HTTP (TestClient, real database): the home page and unknown
paths, the thanks page after a signup (Post/Redirect/Get), the unsubscribe page naming the
address, the privacy link, and the archive under the site header."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import Settings, get_settings
from newsletter.db import session_scope
from newsletter.errors import ConfigError
from newsletter.issues.build import build_issue
from newsletter.issues.placeholders import neutralise
from newsletter.models import Consent, Subscriber
from newsletter.sending.ledger import Content, start_live
from newsletter.sending.sender import content_of
from newsletter.subscribers import store as subscribers
from newsletter.web.edge import CSP, EMAIL_POLICY
from tests.subscribers.conftest import deliver, make_app, status_of

BASE = "http://localhost:8000"
HEADER = 'id="site-header"'
NAV = (f'<a href="{BASE}/subscribe">Subscribe</a>', f'<a href="{BASE}/archive">Past issues</a>')


def _key(engine, address: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Subscriber.key).where(Subscriber.email == address)).one()


def _add(engine, address: str) -> None:
    consent = subscribers.ConsentInfo(source="test", text_version="1")
    with session_scope(engine) as session:
        subscribers.add(
            session, subscribers.normalise_email(address), "", confirmed=True, consent=consent
        )


def _consents(engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Consent)).all())


def test_the_home_page_is_the_signup_form_and_unknown_paths_a_page_of_the_site(client):
    home = client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert f'action="{BASE}/subscribe"' in home.text and 'for="email"' in home.text
    assert HEADER in home.text and all(link in home.text for link in NAV)
    assert client.head("/").status_code == 200
    browser = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in ("/nowhere", "/archive/x/y", "/subscribe/"):
        missing = client.get(path, headers=browser)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/")
        assert HEADER in missing.text and "Page not found" in missing.text
        assert f'href="{BASE}/subscribe">Go to the signup page</a>' in missing.text
        as_json = client.get(path, headers={"accept": "application/json"})
        assert as_json.status_code == 404
        assert as_json.json() == {"detail": "There is nothing at this address."}


def test_a_form_signup_redirects_to_the_thanks_page_whatever_the_address(
    client, store, outbox, web_settings
):
    first = client.post("/subscribe", data={"email": "ann@example.org"}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"{BASE}/subscribe/thanks"
    deliver(web_settings, store)
    assert status_of(store, "ann@example.org") == "pending" and len(outbox.messages()) == 1
    _add(store, "cy@example.org")
    answers = [
        client.post("/subscribe", data=data, follow_redirects=False)
        for data in (
            {"email": "ann@example.org"},  # pending
            {"email": "cy@example.org"},  # confirmed
            {"email": "bot@example.org", "website": "https://spam.example"},  # the honeypot
        )
    ]
    assert {(a.status_code, a.headers["location"], a.text) for a in answers} == {
        (first.status_code, first.headers["location"], first.text)
    }
    deliver(web_settings, store)
    consents, sent = _consents(store), len(outbox.messages())
    for _reload in range(3):  # refreshing the thanks page posts nothing
        thanks = client.get("/subscribe/thanks")
        assert thanks.status_code == 200 and "Check your inbox" in thanks.text
        assert HEADER in thanks.text
    deliver(web_settings, store)
    assert (_consents(store), len(outbox.messages())) == (consents, sent)
    assert status_of(store, "bot@example.org") is None
    as_json = client.post("/subscribe", json={"email": "dee@example.org"})
    assert as_json.status_code == 200 and as_json.json()["status"] == "ok"
    accepts_json = client.post(
        "/subscribe",
        data={"email": "eve@example.org"},
        headers={"accept": "application/json"},
        follow_redirects=False,
    )
    assert accepts_json.status_code == 200 and accepts_json.json() == as_json.json()
    wrong = client.post("/subscribe", data={"email": "ann@", "name": "Ann"})
    assert wrong.status_code == 422 and 'role="alert"' in wrong.text and 'value="Ann"' in wrong.text


def test_the_unsubscribe_page_names_the_address_masked(client, store):
    for address in ("Ann.Lee@Example.ORG", "ann@example.net"):
        _add(store, address)
    tokens = client.app.state.web.tokens
    pages = {
        address: client.get(f"/unsubscribe/{tokens.unsubscribe_token(_key(store, address))}")
        for address in ("Ann.Lee@example.org", "ann@example.net")
    }
    assert "A•••@example.org" in pages["Ann.Lee@example.org"].text
    assert "a•••@example.net" in pages["ann@example.net"].text
    for address, page in pages.items():
        assert page.status_code == 200 and address not in page.text
        assert address.split("@")[0] not in page.text
    path = f"/unsubscribe/{tokens.unsubscribe_token(_key(store, 'ann@example.net'))}"
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "not be sent to a•••@example.net" in done.text
    assert status_of(store, "ann@example.net") == "unsubscribed"
    with session_scope(store) as session:
        subscribers.erase(session, "ann@example.net")
    gone = client.get(path)  # an erased person's link: said on the page, not after the button
    assert gone.status_code == 400 and "belongs to no subscriber" in gone.text


def test_the_privacy_notice_is_linked_under_the_form_when_set(
    client, web_settings, store, monkeypatch
):
    assert "Privacy notice" not in client.get("/subscribe").text  # empty by default: no link
    settings = Settings(privacy_url="https://example.org/privacy?lang=en&v=2")
    with TestClient(make_app(settings, store), base_url=settings.base_url) as with_link:
        for path in ("/", "/subscribe"):
            page = with_link.get(path).text
            link = '<a href="https://example.org/privacy?lang=en&amp;v=2">Privacy notice</a>'
            assert link in page and page.index("</form>") < page.index(link)
        wrong = with_link.post("/subscribe", data={"email": "x"})
        assert wrong.status_code == 422 and link in wrong.text
    for bad in ("javascript:alert(1)", "/privacy", "https://exa mple.org"):
        monkeypatch.setenv("NEWSLETTER_PRIVACY_URL", bad)
        with pytest.raises(ConfigError, match="privacy_url"):
            get_settings()


def _archived(web_settings: Settings, engine) -> None:
    built = build_issue(web_settings, engine, "2016-q3")
    start_live(engine, content_of(built.compiled))


def test_the_archive_pages_have_the_site_header_and_no_unsubscribe_link(
    web_settings, synced, client
):
    _archived(web_settings, synced)
    listing = client.get("/archive")
    assert HEADER in listing.text and all(link in listing.text for link in NAV)
    page = client.get("/archive/2016-q3")
    assert page.status_code == 200 and page.headers[CSP] == EMAIL_POLICY  # still sandboxed
    body = page.text.split("<body", 1)[1]
    assert body.index(HEADER) < body.index("Quarterly update")  # the header, then the email
    assert all(link in page.text for link in NAV)
    links = dict(re.findall(r'<a href="([^"]*)"[^>]*>\s*([^<]*?)\s*</a>', page.text))
    assert "Unsubscribe" not in links.values() and ">Unsubscribe<" not in page.text
    assert links[f"{BASE}/subscribe"] == "Subscribe" and "%%" not in page.text
    assert page.text.count(f'href="{BASE}/subscribe"') == 2  # the header's and the footer's
    assert "<style>" in page.text and "#site-header" in page.text  # its CSS, inline and scoped
    bare = '<p>Old issue, <a href="%%unsubscribe_url%%">unsubscribe</a></p>'  # no <body> at all
    start_live(synced, Content("old-issue", "Old issue", bare, "text", "hash"))
    old = client.get("/archive/old-issue").text
    assert HEADER in old and old.index(HEADER) < old.index("Old issue, ")
    assert ">Subscribe</a></p>" in old and ">unsubscribe<" not in old


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ('<a href="%%unsubscribe_url_html%%" style="color:#888">Unsubscribe</a>', "Subscribe"),
        ("<A title='a > b' HREF='%%unsubscribe_url%%'><b>Leave</b> now</A>", "Subscribe"),
        ('<a href="%%view_url_html%%">View in browser</a>', "View in browser"),
    ],
)
def test_the_archive_relabels_only_the_unsubscribe_link(stored, shown):
    values = {"unsubscribe_url": f"{BASE}/subscribe", "view_url": f"{BASE}/archive/a"}
    html = neutralise(
        f"<p>{stored} · <a href='x'>Unsubscribe?</a></p>", values, {"unsubscribe_url": "Subscribe"}
    )
    assert re.search(rf">{shown}</a", html, re.IGNORECASE) and "%%" not in html
    assert "<a href='x'>Unsubscribe?</a>" in html  # other links keep their words
