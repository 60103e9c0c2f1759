"""The kinds of content source a ``sources`` entry in the settings can be."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SOURCE_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


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
