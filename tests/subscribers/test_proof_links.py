"""A [TEST] proof's links: the view-in-browser link shows the proof, the unsubscribe link a page
that explains it, over real HTTP, and following them changes no subscriber."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.models import Subscriber
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.subscribers.conftest import SECRET, Outbox, live_server


def _fetch(url: str, *, post: bool = False) -> tuple[int, str]:
    data = b"List-Unsubscribe=One-Click" if post else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _people(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Subscriber).order_by(Subscriber.email)).all()
        return [(r.email, str(r.status), str(r.unsubscribed_at)) for r in rows]


def test_a_proofs_links_show_the_proof_and_explain_unsubscribing(
    project, synced, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    with Session(synced) as session:
        for address in ("staff@example.org", "reader@example.net"):
            subscribers.add(
                session, address, "", confirmed=True, consent=ConsentInfo(source="test")
            )
        session.commit()
    before = _people(synced)

    def settings_for(base: str) -> Settings:
        monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
        return Settings()

    with live_server(settings_for, synced) as (base, settings):
        code, _, err = run_cli("send", "2016-q3", "--test", "staff@example.org", "x@example.com")
        assert code == 0, err
        messages = Outbox(settings.outbox_dir).messages()
        assert len(messages) == 2
        for message in messages:
            unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
            html = Outbox.html(message)
            views = set(re.findall(re.escape(base) + r'/proof/[^"/]+(?=")', html))
            assert len(views) == 1, views  # the view-in-browser link
            assert unsubscribe in html and unsubscribe in Outbox.text(message)
            assert unsubscribe.startswith(base + "/proof/")

            status, page = _fetch(unsubscribe)
            assert status == 200 and "test proof" in page and "unsubscribes the reader" in page
            status, page = _fetch(unsubscribe, post=True)  # a mail client's one-click
            assert status == 200 and "nobody was unsubscribed" in page
            status, page = _fetch(views.pop())
            assert status == 200 and "Quarterly update: July to September 2016" in page
            assert "/proof/" in page  # its own links lead to the proof pages again

        token = unsubscribe.removeprefix(base + "/proof/").removesuffix("/unsubscribe")
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for url in (f"{base}/proof/{forged}", f"{base}/proof/1", f"{base}/proof/1/unsubscribe"):
            status, page = _fetch(url)
            assert status == 404 and "not valid" in page
    assert _people(synced) == before  # nobody unsubscribed, nothing touched
