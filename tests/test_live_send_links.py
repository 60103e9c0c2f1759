"""Links that cannot break: the secret_key advice keeps the web app's key, and a live send that
really delivers refuses a base_url its readers could not open."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

SECRET = "test-secret-key-for-signing-links"


def test_a_missing_secret_key_asks_for_the_web_apps_key_not_a_new_one(project, synced):
    code, _, err = run_cli("send", "2016-q3", "--test", "staff@example.org")
    assert code == 1 and "Traceback" not in err
    line = " ".join(err.split())
    assert "secret_key is empty" in line and "same key as the web app" in line
    assert "unsubscribe link" in line and "generate a new" not in line


@pytest.mark.parametrize(
    "base_url",
    ["http://news.example.org", "https://localhost:8000", "https://127.0.0.1", "https://[::1]"],
)
def test_a_real_live_send_refuses_a_base_url_readers_cannot_open(
    project, synced, monkeypatch, base_url
):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.key")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base_url)
    code, out, err = run_cli("send", "2016-q3", "--yes")
    assert code == 1 and "Traceback" not in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and "base_url" in err and "https" in err
    assert "About to send" not in out  # refused before anything was asked or started
    code, out, _ = run_cli("report", "2016-q3", "--format", "json")
    assert "finished" not in out and "stopped" not in out


def test_outbox_and_sandbox_sends_keep_a_local_base_url(project, synced, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    code, _, err = run_cli("send", "2016-q3", "--yes")  # outbox, http://localhost:8000
    assert code == 0, err
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.key")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("NEWSLETTER_SEND_MAX_ATTEMPTS", "1")
    code, _, err = run_cli("send", "2016-q3", "--test", "staff@example.org")  # a proof
    assert "base_url" not in err  # it fails to connect, but not for its links
    monkeypatch.setenv("NEWSLETTER_SENDGRID_SANDBOX", "true")
    code, _, err = run_cli("send", "2016-q3", "--yes")
    assert "base_url" not in err
