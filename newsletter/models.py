"""The whole schema: SQLModel tables. Every change here needs a migration (migrations/versions/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite has no time zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Post(SQLModel, table=True):
    """One article in the content store."""

    __tablename__ = "post"
    __table_args__ = (sa.UniqueConstraint("source", "source_id", name="uq_post_source"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200, unique=True, index=True)
    title: str
    url: str
    published_at: datetime = _utc_column(index=True)
    updated_at: datetime = _utc_column()
    categories: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    author: str = ""
    summary: str = ""
    html: str = ""
    image_url: str = ""
    image_alt: str = ""
    source: str = Field(max_length=100)
    source_id: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    synced_at: datetime = _utc_column()


class SourceState(SQLModel, table=True):
    """What a source remembers between syncs: HTTP validators and the incremental cursor."""

    __tablename__ = "source_state"

    name: str = Field(max_length=100, primary_key=True)
    config_hash: str = Field(default="", max_length=64)
    etag: str = ""
    last_modified: str = ""
    newest_modified_at: datetime | None = _utc_column(nullable=True)
    last_synced_at: datetime | None = _utc_column(nullable=True)
