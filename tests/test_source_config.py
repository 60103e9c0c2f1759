"""The [[sources]] setting: TOML, the JSON environment variable, the default, mistakes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from newsletter import db
from newsletter.config import (
    FeedSourceConfig,
    MarkdownSourceConfig,
    WordPressSourceConfig,
    get_settings,
)
from newsletter.errors import ConfigError
from tests.conftest import run_cli

TOML = """
[[sources]]
name = "website"
type = "wordpress"
url = "https://mpat.example.org/"
categories = ["news"]
tags = ["thailand"]
timeout = 30

[[sources]]
name = "partners"
type = "feed"
url = "https://partner.example.org/feed/"

[[sources]]
name = "notes"
type = "markdown"
path = "notes"
"""


def test_no_sources_means_the_markdown_folder(project):
    [source] = get_settings().content_sources()
    assert source == MarkdownSourceConfig(name="markdown", type="markdown")


def test_sources_from_toml(project):
    with (project / "newsletter.toml").open("a") as toml:
        toml.write(TOML)
    website, partners, notes = get_settings().content_sources()
    assert isinstance(website, WordPressSourceConfig)
    assert (website.url, website.categories, website.tags) == (
        "https://mpat.example.org",
        ["news"],
        ["thailand"],
    )
    assert website.timeout == 30
    assert isinstance(partners, FeedSourceConfig) and partners.timeout is None
    assert isinstance(notes, MarkdownSourceConfig) and str(notes.path) == "notes"


def test_sources_from_environment_json(project, monkeypatch):
    monkeypatch.setenv(
        "NEWSLETTER_SOURCES", '[{"name": "site", "type": "feed", "url": "https://x.org/feed"}]'
    )
    [source] = get_settings().content_sources()
    assert isinstance(source, FeedSourceConfig) and source.url == "https://x.org/feed"


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ('[{"name": "a", "type": "ftp", "url": "x"}]', "sources.0: Input tag 'ftp'"),
        ('[{"name": "a", "type": "feed", "url": "feed.xml"}]', "absolute http(s) URL"),
        ('[{"name": "A b", "type": "markdown"}]', "source name"),
        ('[{"name": "a", "type": "feed", "url": "https://x.org", "tag": ["x"]}]', "tag"),
        (
            '[{"name": "a", "type": "markdown"}, {"name": "a", "type": "markdown"}]',
            "two sources are named a",
        ),
    ],
)
def test_bad_sources_are_config_errors(project, monkeypatch, sources, message):
    monkeypatch.setenv("NEWSLETTER_SOURCES", sources)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert message in str(caught.value)
    code, _, err = run_cli("content", "sync")
    assert code == 1 and err.startswith("error: invalid settings")


def test_source_state_migration_up_and_down(database_url):
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    assert "source_state" in sa.inspect(engine).get_table_names()
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(db.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")  # the revision before source_state
    assert "source_state" not in sa.inspect(engine).get_table_names()
    db.upgrade(engine)
    assert "source_state" in sa.inspect(engine).get_table_names()
    engine.dispose()
