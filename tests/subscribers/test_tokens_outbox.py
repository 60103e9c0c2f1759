"""Signed tokens and the outbox transport's .eml files."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from pydantic import SecretStr

from newsletter.errors import ConfigError, TokenError
from newsletter.subscribers.tokens import Tokens, unsubscribe_url
from newsletter.transports.base import DeliveryError, Message, Recipient
from newsletter.transports.factory import make_transport
from newsletter.transports.outbox import OutboxTransport


def test_tokens_round_trip_and_reject_tampering():
    tokens = Tokens("s3cret", confirm_max_age=3600)
    key = "a" * 32
    assert tokens.read_unsubscribe(tokens.unsubscribe_token(key)) == key
    read_key, issued = tokens.read_confirm(tokens.confirm_token(key))
    assert read_key == key and issued.tzinfo is not None
    token = tokens.unsubscribe_token(key)
    for bad in (token[:-2] + "xx", "nonsense", tokens.confirm_token(key)):
        with pytest.raises(TokenError):
            tokens.read_unsubscribe(bad)
    with pytest.raises(TokenError):
        Tokens("another secret", confirm_max_age=3600).read_unsubscribe(token)
    # the token carries the subscriber's random key (no personal data), never the address
    assert "@" not in unsubscribe_url("https://x.org", tokens, key)


def test_expired_confirm_token_says_so():
    token = Tokens("s3cret", confirm_max_age=3600).confirm_token("k" * 32)
    with pytest.raises(TokenError) as caught:
        Tokens("s3cret", confirm_max_age=-1).read_confirm(token)
    assert caught.value.expired


def test_an_empty_secret_is_refused_with_advice():
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        Tokens("", confirm_max_age=60)


def _message(**recipient_extra) -> Message:
    return Message(
        subject="Hello %%name%%",
        html="<p>Hi %%name%%, <a href='%%u%%'>leave</a></p>",
        text="Hi %%name%%, leave: %%u%%",
        from_email="news@example.org",
        from_name="Example News",
        reply_to="office@example.org",
        categories=("issue",),
        recipients=[
            Recipient(
                email="ann@example.org",
                name="Ann Lee",
                substitutions={"%%name%%": "Ann", "%%u%%": "https://x.org/u/1"},
                headers={"List-Unsubscribe": "<https://x.org/u/1>"},
                custom_args={"send": "7"},
                **recipient_extra,
            ),
            Recipient(
                email="bo@example.org",
                substitutions={"%%name%%": "Bo", "%%u%%": "https://x.org/u/2"},
                headers={"List-Unsubscribe": "<https://x.org/u/2>"},
            ),
        ],
    )


def test_outbox_writes_one_rfc5322_file_per_recipient(tmp_path: Path):
    result = OutboxTransport(tmp_path / "out").send(_message())
    assert result.accepted == ["ann@example.org", "bo@example.org"]
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2
    raw = files[0].read_bytes()
    assert b"\r\n" in raw  # RFC 5322 line endings
    ann = email.message_from_bytes(raw, policy=email.policy.default)
    assert ann["From"] == "Example News <news@example.org>"
    assert ann["To"] == "Ann Lee <ann@example.org>"
    assert ann["Subject"] == "Hello Ann"
    assert ann["Reply-To"] == "office@example.org"
    assert ann["Date"] and ann["Message-ID"].endswith("@example.org>")
    assert ann["List-Unsubscribe"] == "<https://x.org/u/1>"
    assert ann["X-Custom-Args"] == '{"send": "7"}'
    assert ann.get_content_type() == "multipart/alternative"
    plain, html = ann.get_body(("plain",)), ann.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "Hi Ann, leave: https://x.org/u/1"
    assert "https://x.org/u/1" in html.get_content()
    bo = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert bo["Subject"] == "Hello Bo" and bo["To"] == "bo@example.org"


@pytest.mark.parametrize(
    "extra",
    [
        {"headers": {"List-Unsubscribe": "<https://x.org>\r\nBcc: victim@example.org"}},
        {"name": "Ann\nBcc: victim@example.org"},
        {"headers": {"X-Evil\n": "1"}},
        {"headers": {"Subject": "another subject"}},
    ],
)
def test_outbox_refuses_header_injection_and_writes_nothing(tmp_path: Path, extra):
    message = _message()
    first = message.recipients[0]
    fields = {"email": first.email, "name": first.name, "headers": first.headers, **extra}
    bad = Message(**{**message.__dict__, "recipients": [Recipient(**fields)]})
    with pytest.raises(DeliveryError):
        OutboxTransport(tmp_path / "out").send(bad)
    assert list(tmp_path.glob("out/*.eml")) == []


def test_factory_builds_the_outbox_and_refuses_unknown_names(tmp_path: Path):
    class Options:  # every setting make_transport may read (TransportSettings)
        transport = "outbox"
        outbox_dir = tmp_path
        sendgrid_api_key = SecretStr("")
        sendgrid_host = "https://api.sendgrid.com"
        sendgrid_timeout = 10.0
        sendgrid_batch_size = 1000
        sendgrid_sandbox = False
        sendgrid_asm_group_id: int | None = None
        sendgrid_categories: tuple[str, ...] = ()

    assert isinstance(make_transport(Options()), OutboxTransport)
    Options.transport = "carrier-pigeon"
    with pytest.raises(ConfigError, match="carrier-pigeon"):
        make_transport(Options())


def test_outbox_encodes_non_ascii_names_and_subjects(tmp_path: Path):
    message = Message(
        subject="Bản tin quý 3 – ខែកញ្ញា",
        html="<p>Xin chào Nguyễn</p>",
        text="Xin chào Nguyễn",
        from_email="news@example.org",
        from_name="MPAT – Mekong",
        recipients=[Recipient(email="nguyen@example.org", name="Nguyễn Văn A")],
    )
    OutboxTransport(tmp_path).send(message)
    raw = next(tmp_path.glob("*.eml")).read_bytes()
    assert raw.isascii()  # encoded words and base64 bodies: safe on any mail path
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Bản tin quý 3 – ខែកញ្ញា"
    assert parsed["To"].addresses[0].display_name == "Nguyễn Văn A"
    assert parsed["From"].addresses[0].display_name == "MPAT – Mekong"
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().strip() == "Xin chào Nguyễn"
