"""A post as a source delivers it (``PostData``) and as the content store gives it back to a
build (``StoredPost``): plain dataclasses, so the code that only reads or parses posts needs
no ORM (the table is ``models.Post``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PostData:
    """A post as a source delivers it, before it is stored."""

    source_id: str
    slug: str
    title: str
    url: str
    published_at: datetime
    updated_at: datetime
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str = ""
    summary: str = ""
    html: str = ""
    image_url: str = ""
    image_alt: str = ""
    # the source gave no usable date: published_at is the time of this sync, and a post already
    # stored keeps the date it was first seen with (an undated item is not re-dated every sync)
    undated: bool = False

    def content_hash(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k not in ("source_id", "undated")}
        payload = json.dumps(fields, default=str, sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredPost:
    """A post read from the store (``content.reading``): what an issue shows of it, and where
    it came from. Dates are timezone-aware UTC."""

    id: int
    slug: str
    title: str
    url: str
    published_at: datetime
    updated_at: datetime
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    author: str
    summary: str
    html: str
    image_url: str
    image_alt: str
    source: str
