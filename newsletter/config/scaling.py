"""Settings for more than one process (docs/scaling.md): a group of ``Settings`` kept in its own
module so ``config/__init__.py`` stays small. ``Settings`` inherits them."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class ScalingSettings(BaseModel):
    """Where the rate limits count, and how many processes a send runs in."""

    rate_limit_storage_url: str = Field(
        "memory://",
        description=(
            "Where every rate limit counts: memory:// (each process alone) or a Redis URL "
            "(redis://host:6379/0) shared by every web process and host."
        ),
    )
    send_processes: int = Field(
        1,
        ge=1,
        le=32,
        description="Processes a send runs in (newsletter send, send-due); each has"
        " send_concurrency batches in flight.",
    )

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _limit_store(cls, value: str) -> str:
        """memory:// or a Redis URL; the message never repeats the value (a password)."""
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if value == "memory://" or (
            sep and scheme.lower() in ("redis", "rediss", "redis+unix") and rest
        ):
            return value
        raise ValueError(
            "must be memory:// or a redis://, rediss:// or redis+unix:// URL (redis://host:6379/0)"
        )
