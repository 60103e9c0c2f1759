"""The SendGrid and retry settings: defaults, environment, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import get_settings
from newsletter.errors import ConfigError


@pytest.fixture
def folder(clean_env: Path) -> Path:
    return clean_env


def test_defaults_send_nothing_through_sendgrid(folder):
    settings = get_settings()
    assert settings.transport == "outbox"
    assert settings.sendgrid_api_key.get_secret_value() == ""
    assert settings.sendgrid_host == "https://api.sendgrid.com"
    assert (settings.sendgrid_batch_size, settings.sendgrid_timeout) == (1000, 30)
    assert settings.sendgrid_asm_group_id is None and settings.sendgrid_categories == []


def test_the_environment_sets_them(folder, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.secret")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_HOST", "https://api.eu.sendgrid.com/")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_ASM_GROUP_ID", "")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_CATEGORIES", '["newsletter", "2016-q3"]')
    settings = get_settings()
    assert settings.sendgrid_api_key.get_secret_value() == "SG.secret"
    assert "SG.secret" not in repr(settings)
    assert settings.sendgrid_host == "https://api.eu.sendgrid.com"
    assert settings.sendgrid_asm_group_id is None
    assert settings.sendgrid_categories == ["newsletter", "2016-q3"]


def test_the_api_key_is_refused_in_the_settings_file(folder):
    (folder / "newsletter.toml").write_text('sendgrid_api_key = "SG.committed"\n')
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_API_KEY in the environment"):
        get_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SENDGRID_BATCH_SIZE", "1001"),
        ("SENDGRID_BATCH_SIZE", "0"),
        ("SENDGRID_ASM_GROUP_ID", "group"),
        ("SENDGRID_CATEGORIES", '["a","a"]'),
        ("SENDGRID_CATEGORIES", '["événements"]'),
        ("TRANSPORT", "smtp"),
        ("SENDGRID_HOST", "api.sendgrid.com"),
    ],
)
def test_bad_values_are_config_errors(folder, monkeypatch, name, value):
    monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    with pytest.raises(ConfigError, match=name.lower()):
        get_settings()
