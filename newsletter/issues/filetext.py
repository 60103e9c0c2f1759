"""An issue file's text as the dashboard handles it: its hashes and its ``send_at``.

``file_hash`` names one exact version of the file (a save says which version it started from);
``content_hash`` names what the reader gets, the file without its ``send_at``, so scheduling an
approved issue does not void its approval while any other change does. ``set_send_at`` changes
only that one line with tomlkit, keeping every comment and the layout.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import tomlkit
from tomlkit.exceptions import TOMLKitError

from newsletter.errors import IssueFileError

SEND_AT = "send_at"


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(text: str) -> str:
    """The SHA-256 of the file without its ``send_at`` (the text itself if it is not TOML)."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError:
        return file_hash(text)
    document.pop(SEND_AT, None)
    return file_hash(tomlkit.dumps(document))


def set_send_at(text: str, at: datetime | None, *, name: str = "issue file") -> str:
    """The text with ``send_at = at`` (an aware datetime, written with its offset), or without
    ``send_at`` when ``at`` is None. IssueFileError when the text is not TOML."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise IssueFileError(name, f"not valid TOML: {exc}") from exc
    if at is None:
        document.pop(SEND_AT, None)
    elif at.tzinfo is None:
        raise ValueError("send_at must carry its time zone")
    else:
        document[SEND_AT] = at.replace(microsecond=0)
    return tomlkit.dumps(document)
