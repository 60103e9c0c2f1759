"""Settings: defaults, then ``newsletter.toml``, then ``NEWSLETTER_<NAME>`` environment variables.

The TOML file is ``newsletter.toml`` in the working directory, or the file named by the
``NEWSLETTER_CONFIG`` environment variable. Lists and tables in environment variables are JSON.
Relative paths are relative to the working directory. Secrets (``secret_key``) are best given
through the environment only, and ``sendgrid_api_key`` must be: the settings file refuses it.
Secrets are held as ``SecretStr`` and never printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from newsletter.deferred import deferred

with deferred("asyncio"):  # pydantic-settings' CliApp only (never used): not for every command
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

from newsletter.config.email_jobs import EmailJobSettings
from newsletter.config.scaling import ScalingSettings
from newsletter.config.sources import (
    DEFAULT_SOURCE_NAME,
    FeedSourceConfig,
    MarkdownSourceConfig,
    SourceConfig,
    WordPressSourceConfig,
)
from newsletter.errors import ConfigError

__all__ = [
    "DEFAULT_SOURCE_NAME",
    "FeedSourceConfig",
    "MarkdownSourceConfig",
    "Settings",
    "SourceConfig",
    "WordPressSourceConfig",
    "get_settings",
]

CONFIG_ENV = "NEWSLETTER_CONFIG"
RATE = re.compile(r"(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?")
DEFAULT_CONFIG_FILE = "newsletter.toml"
SECRET_KEY_MIN = 32


def config_file() -> Path:
    """The TOML file settings are read from (it need not exist)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


ENV_ONLY = ("sendgrid_api_key",)
MAX_CATEGORIES = 10


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    """The settings file, refusing the secrets that belong in the environment only."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for name in ENV_ONLY:
            if name in data:
                raise ValueError(
                    f"{name} must not be in the settings file; "
                    f"set NEWSLETTER_{name.upper()} in the environment"
                )
        return data


class Settings(BaseSettings, EmailJobSettings, ScalingSettings):
    """Every setting of the tool. Documented, one by one, in docs/settings.md. Groups with a
    module of their own: ``EmailJobSettings`` (config/email_jobs.py) and ``ScalingSettings``
    (config/scaling.py)."""

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
        SecretStr(""), description="Signs confirm and unsubscribe tokens (32+ characters)."
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
    source_max_bytes: int = Field(
        20_000_000, ge=1000, description="Largest answer of a source, decompressed, in bytes."
    )
    source_time_limit: float = Field(
        600.0, gt=0, description="Seconds one source's whole download may take, retries included."
    )
    outbox_dir: Path = Field(Path("outbox"), description="Where the outbox transport writes.")
    allowed_origins: list[str] = Field(
        default_factory=list, description="Websites whose pages may POST /subscribe (CORS)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Proxies (IPs, networks) whose X-Forwarded-* count."
    )
    signup_rate_limit: str = Field(
        "20/10 minutes",
        description="Signups per client IP in a moving window (N/[M] unit), or off.",
    )
    email_check_deliverability: bool = Field(
        False, description="Look up the domain of each new address in DNS (production only)."
    )
    consent_text: str = Field(
        "Yes, send me the newsletter by email. I can unsubscribe at any time with one click.",
        description="The consent sentence shown on the signup form.",
    )
    consent_version: str = Field(
        "1", description="Version of consent_text, recorded with each consent."
    )
    privacy_url: str = Field("", pattern=r"^(https?://\S+)?$", description="Privacy notice link.")
    confirm_link_hours: int = Field(
        72, ge=1, description="How long a confirmation link stays valid, in hours."
    )
    chromium_path: str = Field(
        "/usr/bin/chromium", description="Chromium used by `preview --png` for screenshots."
    )
    transport: Literal["outbox", "sendgrid"] = Field(
        "outbox", description="How messages leave: .eml files in the outbox, or SendGrid."
    )
    sendgrid_api_key: SecretStr = Field(
        SecretStr(""), description="SendGrid API key with the Mail Send scope. Environment only."
    )
    sendgrid_host: str = Field(
        "https://api.sendgrid.com", description="SendGrid API base URL (EU: api.eu.sendgrid.com)."
    )
    sendgrid_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds to wait for SendGrid to answer one request."
    )
    sendgrid_batch_size: int = Field(
        1000, ge=1, le=1000, description="Recipients per SendGrid request (1 to 1000)."
    )
    sendgrid_sandbox: bool = Field(
        False, description="SendGrid sandbox mode: requests are validated, nothing is delivered."
    )
    sendgrid_asm_group_id: int | None = Field(
        None, ge=1, description="SendGrid unsubscribe (ASM) group id; empty for none."
    )
    sendgrid_categories: list[str] = Field(
        default_factory=list, description="SendGrid categories added to every message."
    )
    send_max_attempts: int = Field(
        5, ge=1, le=20, description="Tries per batch when SendGrid answers 429/5xx or is down."
    )
    send_retry_base_delay: float = Field(
        2.0, ge=0, description="Seconds before the first retry; doubles each time, with jitter."
    )
    send_retry_max_delay: float = Field(
        120.0, ge=0, description="Longest wait between two tries, in seconds."
    )
    send_concurrency: int = Field(
        2, ge=1, le=16, description="Batches a send process has in flight at once (one per thread)."
    )
    send_inflight_lease: float = Field(
        3600.0,
        gt=0,
        description="Seconds after which a batch claimed by a worker on another host that never"
        " answered counts as uncertain.",
    )
    sendgrid_webhook_public_key: str = Field(
        "",
        description="Verification key of SendGrid's Signed Event Webhook (base64, as SendGrid"
        " shows it).",
    )
    sendgrid_webhook_verify: bool = Field(
        True,
        description="Refuse Event Webhook requests without a valid signature (turn off only for"
        " local trials; the app warns).",
    )
    sendgrid_webhook_tolerance: float = Field(
        300.0,
        gt=0,
        description="Seconds an Event Webhook request's signed timestamp may be from now.",
    )
    soft_bounce_limit: int = Field(
        3,
        ge=1,
        description="Soft bounces within soft_bounce_window_days that mark a subscriber bounced.",
    )
    soft_bounce_window_days: int = Field(
        30, ge=1, description="The window, in days, soft bounces are counted in."
    )
    track_engagement: bool = Field(
        False, description="Count opens and clicks per send from the Event Webhook."
    )
    stale_after: float = Field(
        86400.0,
        gt=0,
        description="send-due refuses an issue whose send time is more than this many seconds"
        " in the past (default 24 h), unless --force.",
    )

    require_approval: bool = Field(
        False, description="A live send needs a publisher's approval of the issue's content."
    )
    scheduler_in_server: bool = Field(
        True, description="`newsletter serve` runs the due-send pass in the background."
    )
    scheduler_interval: float = Field(
        30.0, ge=1, description="Seconds between two due-send passes inside `newsletter serve`."
    )
    session_idle_timeout: int = Field(
        7200, ge=60, description="Seconds without a request after which a staff session ends."
    )
    session_max_age: int = Field(
        43200, ge=300, description="Seconds after sign-in at which a staff session ends anyway."
    )
    signin_rate_limit: str = Field(
        "5/15 minutes",
        description=(
            "Failed sign-ins per staff address from one client IP (N/[M] unit), or off; "
            "per address from every IP, 10 times as many."
        ),
    )
    signin_ip_rate_limit: str = Field(
        "30/15 minutes", description="Failed sign-ins per client IP (N/[M] unit), or off."
    )
    totp_required_for_admins: bool = Field(False, description="Admins must use two-factor sign-in.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("sendgrid_asm_group_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sendgrid_categories")
    @classmethod
    def _sendgrid_categories(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_CATEGORIES:
            raise ValueError(f"at most {MAX_CATEGORIES} categories")
        if len(set(value)) != len(value):
            raise ValueError("categories must be unique")
        for category in value:
            if not category or len(category) > 255 or not category.isascii():
                raise ValueError(f"{category!r}: 1 to 255 US-ASCII characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < SECRET_KEY_MIN:
            raise ValueError(f"must be at least {SECRET_KEY_MIN} random characters")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(entry.strip(), strict=False)) for entry in value]

    @field_validator("signup_rate_limit", "signin_rate_limit", "signin_ip_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        value = value.strip().lower()
        if value != "off" and not RATE.fullmatch(value):
            raise ValueError("must look like 20/10 minutes, 5/minute, 100/day, or be off")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.count("/") > 2:
                raise ValueError(f"{origin!r} is not an origin like https://www.example.org")
        return [origin.rstrip("/") for origin in value]

    @field_validator("base_url", "website_url", "sendgrid_host")
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
        toml = _TomlWithoutSecrets(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def content_sources(self) -> list[SourceConfig]:
        """The configured sources, or the one Markdown source reading content_dir."""
        if self.sources:
            return list(self.sources)
        return [MarkdownSourceConfig(name=DEFAULT_SOURCE_NAME, type="markdown")]


def get_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a bad file or variable into a ConfigError (no traceback)."""
    path = config_file()
    if CONFIG_ENV in os.environ and not path.is_file():
        raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({path} or NEWSLETTER_* variables): {problems}"
        ) from exc
    except ValueError as exc:  # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"{path}: {exc}") from exc
