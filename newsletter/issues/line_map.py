"""Where a key lives in a TOML file's text, so errors can name the line (tomllib gives none)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(?:#.*)?$")


def locate(source: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the key at ``loc`` (e.g. ``("sections", 1, "limit")``).

    Falls back to the enclosing table's header, or None when the file does not show it (a
    required key that is missing at the top level).
    """
    lines = source.splitlines()
    table: str | None = None
    occurrence = -1
    start, end = 0, len(lines)
    if len(loc) >= 2 and isinstance(loc[1], int):
        table, occurrence = str(loc[0]), loc[1]
        key_path = [part for part in loc[2:] if isinstance(part, str)]
    else:
        key_path = [part for part in loc if isinstance(part, str)]
    if table is not None:
        count = -1
        header_line = None
        for number, line in enumerate(lines):
            match = _HEADER.match(line)
            if match and match.group(1) == table and line.lstrip().startswith("[["):
                count += 1
                if count == occurrence:
                    header_line = number
                    break
        if header_line is None:
            return _key_line(lines, 0, len(lines), [table])
        start = header_line + 1
        end = next((n for n in range(start, len(lines)) if _HEADER.match(lines[n])), len(lines))
        if not key_path:
            return header_line + 1
        found = _key_line(lines, start, end, key_path[:1])
        return found if found is not None else header_line + 1
    first_header = next((n for n, line in enumerate(lines) if _HEADER.match(line)), len(lines))
    return _key_line(lines, 0, first_header, key_path[:1])


def locate_value(source: str, loc: Sequence[str | int], value: str) -> int | None:
    """The line of the quoted ``value`` inside the list at ``loc`` (a list may span several
    lines), else the line of its key."""
    start = locate(source, loc)
    if start is None:
        return None
    lines = source.splitlines()
    quoted = (f'"{value}"', f"'{value}'")
    for number in range(start - 1, len(lines)):
        text = lines[number]
        if number >= start and (_HEADER.match(text) or _KEY.match(text)):
            break
        if any(q in text for q in quoted):
            return number + 1
    return start


def _key_line(lines: list[str], start: int, end: int, key_path: Sequence[str]) -> int | None:
    if not key_path:
        return None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key_path[0])}[\"']?\s*=")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return None


_KEY = re.compile(r"^\s*[\"']?([A-Za-z0-9_\-]+)[\"']?\s*=")


def key_at(source: str, line: int) -> str | None:
    """The dotted field (``sections[1].title``) whose value is on, or runs onto, ``line``."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines) + 1:
        return None
    tables: dict[str, int] = {}
    table: str | None = None
    key: str | None = None
    for text in lines[:line]:
        header = _HEADER.match(text)
        if header:
            name = header.group(1)
            if text.lstrip().startswith("[["):
                tables[name] = tables.get(name, -1) + 1
                table = f"{name}[{tables[name]}]"
            else:
                table = name
            key = None
            continue
        found = _KEY.match(text)
        if found:
            key = found.group(1)
    if key is None:
        return table
    return f"{table}.{key}" if table else key
