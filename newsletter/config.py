"""Settings: defaults, then ``newsletter.toml``, then ``NEWSLETTER_<NAME>`` environment variables.

The TOML file is ``newsletter.toml`` in the working directory, or the file named by the
``NEWSLETTER_CONFIG`` environment variable. Lists and tables in environment variables are JSON.
Relative paths are relative to the working directory. Secrets (``secret_key``) are best given
through the environment only; they are held as ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from newsletter.errors import ConfigError

CONFIG_ENV = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG_FILE = "newsletter.toml"


_SOURCE_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


def config_file() -> Path:
    """The TOML file settings are read from (it need not exist)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


class _Source(BaseModel):
    """What every kind of source has: a name, unique among the sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(max_length=100)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value):
            raise ValueError("a source name is lower-case letters, digits, '-' and '_'")
        return value


class _RemoteSource(_Source):
    url: str
    timeout: float | None = Field(None, gt=0)
    categories: list[str] = []

    @field_validator("url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value


class MarkdownSourceConfig(_Source):
    """A folder of Markdown posts (``path`` defaults to the ``content_dir`` setting)."""

    type: Literal["markdown"]
    path: Path | None = None


class WordPressSourceConfig(_RemoteSource):
    """A WordPress site read through its REST API (``/wp-json/wp/v2/posts``)."""

    type: Literal["wordpress"]
    tags: list[str] = []

    @field_validator("url")
    @classmethod
    def _site_root(cls, value: str) -> str:
        return value.rstrip("/")


class FeedSourceConfig(_RemoteSource):
    """An RSS 2.0 or Atom feed."""

    type: Literal["feed"]


SourceConfig = Annotated[
    MarkdownSourceConfig | WordPressSourceConfig | FeedSourceConfig, Field(discriminator="type")
]
DEFAULT_SOURCE_NAME = "markdown"


class Settings(BaseSettings):
    """Every setting of the tool. Documented, one by one, in docs/settings.md."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_",
        extra="forbid",
        validate_default=True,
    )

    database_url: str = Field(
        "sqlite:///subscribers.db", description="SQLAlchemy URL of the database."
    )
    issues_dir: Path = Field(Path("issues"), description="Folder of issue files.")
    templates_dir: Path = Field(Path("templates"), description="Folder of email templates.")
    build_dir: Path = Field(Path("build"), description="Where `newsletter build` writes.")
    content_dir: Path = Field(
        Path("content"), description="Folder of Markdown posts synced by `content sync`."
    )
    base_url: str = Field(
        "http://localhost:8000",
        description="Public URL of the web app (unsubscribe, confirm and archive links).",
    )
    website_url: str = Field(
        "https://example.org", description="The organisation's website, linked from the header."
    )
    organisation_name: str = Field("Our organisation", description="Shown in header and footer.")
    logo_url: str = Field("", description="Absolute URL of a logo image; empty for none.")
    from_email: str = Field("newsletter@example.org", description="Sender address.")
    from_name: str = Field("Newsletter", description="Sender display name.")
    reply_to: str = Field("", description="Reply-To address; empty to use from_email.")
    postal_address: str = Field(
        "", description="Postal address printed in every email footer (required by law)."
    )
    secret_key: SecretStr = Field(
        SecretStr(""), description="Signs confirm and unsubscribe tokens. Environment only."
    )
    timezone: str = Field("UTC", description="Time zone dates are shown in (IANA name).")
    summary_length: int = Field(
        280, ge=40, description="Longest generated post summary, in characters."
    )
    sources: list[SourceConfig] = Field(
        default_factory=list,
        description="Where `content sync` reads posts; empty: the Markdown in content_dir.",
    )
    http_timeout: float = Field(
        20.0, gt=0, description="Seconds to wait for a website or feed before giving up."
    )
    http_retries: int = Field(
        3, ge=0, le=10, description="Retries of a request answered 429 or 5xx, with backoff."
    )
    http_backoff: float = Field(
        1.0, ge=0, description="Seconds before the first retry; doubled for each next one."
    )

    chromium_path: str = Field(
        "/usr/bin/chromium", description="Chromium used by `preview --png` for screenshots."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("base_url", "website_url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unique_source_names(self) -> Settings:
        names = [source.name for source in self.sources]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"two sources are named {', '.join(doubles)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def content_sources(self) -> list[SourceConfig]:
        """The configured sources, or the one Markdown source reading content_dir."""
        if self.sources:
            return list(self.sources)
        return [MarkdownSourceConfig(name=DEFAULT_SOURCE_NAME, type="markdown")]


def get_settings(**overrides: object) -> Settings:
    """Build Settings, turning a bad file or variable into a ConfigError (no traceback)."""
    path = config_file()
    if CONFIG_ENV in os.environ and not path.is_file():
        raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({path} or NEWSLETTER_* variables): {problems}"
        ) from exc
    except ValueError as exc:  # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"{path}: {exc}") from exc
