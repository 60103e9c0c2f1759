"""Settings: defaults, newsletter.toml, NEWSLETTER_CONFIG, NEWSLETTER_<NAME> overrides, errors."""

from __future__ import annotations

import pytest

from newsletter.config import get_settings
from newsletter.errors import ConfigError
from tests.conftest import run_cli


def test_defaults_without_a_file(clean_env):
    settings = get_settings()
    assert settings.database_url == "sqlite:///subscribers.db"
    assert str(settings.issues_dir) == "issues" and str(settings.templates_dir) == "templates"
    assert str(settings.build_dir) == "build"
    assert settings.secret_key.get_secret_value() == ""


def test_file_then_environment(clean_env, monkeypatch):
    (clean_env / "newsletter.toml").write_text(
        'from_name = "From file"\npostal_address = "File St 1"\n'
    )
    monkeypatch.setenv("NEWSLETTER_FROM_NAME", "From env")
    settings = get_settings()
    assert settings.from_name == "From env"
    assert settings.postal_address == "File St 1"


def test_newsletter_config_names_another_file(clean_env, monkeypatch):
    other = clean_env / "etc" / "production.toml"
    other.parent.mkdir()
    other.write_text('base_url = "https://news.example.org/"\n')
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(other))
    assert get_settings().base_url == "https://news.example.org"
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(clean_env / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        get_settings()


def test_secret_is_never_printed(clean_env, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "s3cr3t-value-long-enough-for-a-secret-key")
    settings = get_settings()
    assert settings.secret_key.get_secret_value() == "s3cr3t-value-long-enough-for-a-secret-key"
    assert "s3cr3t-value-long-enough-for-a-secret-key" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('databse_url = "x"\n', "databse_url"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone"),
        ('base_url = "localhost:8000"\n', "absolute http"),
        ("from_name = \n", "newsletter.toml"),
    ],
)
def test_bad_settings_are_one_line_errors(clean_env, content, words):
    (clean_env / "newsletter.toml").write_text(content)
    with pytest.raises(ConfigError, match=words):
        get_settings()
    code, _, err = run_cli("content", "list")
    assert code == 1 and words in err and "Traceback" not in err
