"""An issue file's text as the dashboard handles it: its hashes and its ``send_at``.

``file_hash`` names one exact version of the file (a save says which version it started from);
``content_hash`` names what the reader gets, the file without its ``send_at``, so scheduling an
approved issue does not void its approval while any other change does. ``set_send_at`` changes
only that one line with tomlkit, keeping every comment and the layout.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from newsletter.errors import IssueFileError

SEND_AT = "send_at"
TIMEZONE = "timezone"


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


def keep_send_at(text: str, current: str) -> tuple[str, bool]:
    """``text`` with the ``send_at`` of ``current`` (the file now), or without one when the file
    has none (or is not TOML), and whether ``text`` said otherwise. A save or a restore from the
    editor never schedules nor moves a send: only the sending page does. ``text`` that is not
    TOML is returned as it is (the loader then names its error)."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError:
        return text, False
    kept = _send_at_item(current)
    wanted = document.get(SEND_AT)
    if _same(wanted, kept):
        return text, False
    if kept is None:
        return set_send_at(text, None), True
    document[SEND_AT] = kept
    return tomlkit.dumps(document), True


def timezone_problem(text: str, current: str) -> str:
    """Why ``text`` may not be saved over ``current``: it changes ``timezone`` while the file
    has a ``send_at`` (a local send time is read in that zone, so the send would move); ""
    when it may."""
    try:
        ours, theirs = tomlkit.parse(text), tomlkit.parse(current)
    except TOMLKitError:
        return ""
    if SEND_AT not in theirs or _same(ours.get(TIMEZONE), theirs.get(TIMEZONE)):
        return ""
    return (
        "timezone cannot change while the issue has a send_at (it decides when a local send "
        "time is): a publisher unschedules the issue on the sending page first"
    )


def _send_at_item(text: str) -> Any:
    try:
        return tomlkit.parse(text).get(SEND_AT)
    except TOMLKitError:
        return None


def _same(one: Any, other: Any) -> bool:
    """Two TOML values say the same (both absent, or equal values of one kind)."""
    if one is None or other is None:
        return one is None and other is None
    first, second = _value(one), _value(other)
    if type(first) is not type(second) or _aware(first) != _aware(second):
        return False
    return bool(first == second)


def _value(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None
