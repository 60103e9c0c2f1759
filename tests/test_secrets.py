"""Secrets never appear in output, errors or logs: database passwords, the SendGrid API key."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session

from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.fake_sendgrid import FakeSendGrid

PASSWORD = "Pa55-w0rd-S3cr3t"
KEY = "SG.very-secret-key.do-not-print"


def _never_shown(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, text


@pytest.mark.parametrize(
    "url",
    [
        f"mysqlx://admin:{PASSWORD}@db.example.org/news",  # no such driver
        f"postgresql://admin:{PASSWORD}@db.example.org:notaport/news",  # a bad port
        f"postgresql+psycopg://admin:{PASSWORD}@127.0.0.1:1/news",  # nobody listens
        f"postgresql+psycopg://admin@127.0.0.1:1/news?password={PASSWORD}",
        f"sqlite+pysqlcipher://:{PASSWORD}@/news.db",  # the driver is not installed
        f"{PASSWORD} is not a URL at all",
    ],
)
def test_database_url_passwords_are_masked(clean_env, monkeypatch, caplog, url):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url)
    for command in (["subscribers", "count"], ["db", "upgrade"], ["content", "sync"]):
        code, out, err = run_cli(*command)
        assert code == 1 and err.startswith("error: "), err
        assert len(err.strip().splitlines()) == 1, err
        _never_shown(PASSWORD, out, err, caplog.text)
        if "://" in url and "sqlite" not in url:
            assert "***" in err


def test_the_sendgrid_key_is_never_shown(project, synced, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-for-signing-links-x")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.org")  # a live send
    monkeypatch.setenv("NEWSLETTER_SEND_RETRY_BASE_DELAY", "0.01")
    with Session(synced) as session:
        subscribers.add(
            session, "reader@example.net", "R", confirmed=True, consent=ConsentInfo(source="t")
        )
        session.commit()
    with FakeSendGrid(api_key=KEY) as fake:
        monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", fake.url)
        # a key with a line break pasted in: http.client's error would quote the header
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", KEY + "\n")
        code, out, err = run_cli("send", "2016-q3", "--test", "proof@example.org")
        assert code == 1 and "SendGrid API key" in err, err
        _never_shown(KEY, out, err, caplog.text)
        # the right key: the request goes out, and the debug log of its headers hides the key
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", KEY)
        code, out, err = run_cli("send", "2016-q3", "--test", "proof@example.org")
        assert code == 0, err
        assert "HEADERS" in caplog.text  # python_http_client logged the request's headers
        _never_shown(KEY, out, err, caplog.text)
        # a wrong key: SendGrid's 401 is reported without either key
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", KEY + "-wrong")
        code, out, err = run_cli("send", "2016-q3", "--yes")
        assert code == 1 and "API key" in err
        _never_shown(KEY, out, err, caplog.text)
