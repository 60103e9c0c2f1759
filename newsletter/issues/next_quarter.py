"""Start the next quarter: ``issues/<year>-q<n>.toml`` for the quarter after the newest issue.

The new file is the newest issue's file edited with tomlkit, so its sections (titles, filters,
limits, display, order, their comments), its template and its outro carry over; what belonged
to the old quarter does not: the period becomes the new quarter, ``send_at`` and every section's
``pin``/``exclude`` go, the intro keeps only its greeting (the first paragraph) as a scaffold,
and the title, subject and preheader are set for the new quarter.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import tomlkit

from newsletter.errors import IssueFileError
from newsletter.files import replace_text
from newsletter.issues import revisions
from newsletter.issues.file import read_source
from newsletter.models import IssueRevision

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
MONTHS = tuple(calendar.month_name)[1:]


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int

    @property
    def slug(self) -> str:
        return f"{self.year}-q{self.number}"

    @property
    def key(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def label(self) -> str:
        return f"Q{self.number} {self.year}"

    @property
    def months(self) -> str:
        first = 3 * self.number - 3
        return f"{MONTHS[first]} to {MONTHS[first + 2]} {self.year}"

    def next(self) -> Quarter:
        return (
            Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)
        )

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)


@dataclass(frozen=True)
class Created:
    slug: str
    path: Path
    text: str
    revision: IssueRevision


def quarter_of(data: dict[str, object]) -> Quarter | None:
    """The quarter an issue file covers: its ``quarter``, else the one its ``until`` falls in."""
    value = data.get("quarter")
    if isinstance(value, str) and (match := _QUARTER.match(value)):
        return Quarter(int(match.group(1)), int(match.group(2)))
    until = data.get("until")
    return Quarter.of(until) if isinstance(until, date) else None


def newest(issues_dir: Path) -> tuple[Path, Quarter] | None:
    """The issue file of the latest quarter (files that cannot be read are passed over)."""
    found: list[tuple[Quarter, str, Path]] = []
    for path in sorted(issues_dir.glob("*.toml")) if issues_dir.is_dir() else []:
        try:
            data = tomllib.loads(read_source(path))
        except (IssueFileError, tomllib.TOMLDecodeError):
            continue
        quarter = quarter_of(data)
        if quarter is not None:
            found.append((quarter, path.name, path))
    if not found:
        return None
    quarter, _, path = max(found)
    return path, quarter


def next_quarter_text(previous: str, old: Quarter, new: Quarter) -> str:
    """The new issue's text from the previous issue's."""
    document = tomlkit.parse(previous)
    for key in ("send_at", "from", "until"):
        document.pop(key, None)
    document["quarter"] = new.key
    document["title"] = f"Quarterly update: {new.months}"
    subject = str(document.get("subject", ""))
    head = subject.split(":", 1)[0]
    document["subject"] = (
        head.replace(old.label, new.label) if old.label in head else (f"Newsletter {new.label}")
    )
    if "preheader" in document:
        document["preheader"] = ""
    intro = str(document.get("intro", "")).strip("\n")
    if intro:
        greeting = intro.split("\n\n", 1)[0]
        document["intro"] = tomlkit.parse(f'x = """\n{_escaped(greeting)}\n"""\n')["x"]
    sections = document.get("sections")
    for table in sections if isinstance(sections, list) else []:
        for key in ("pin", "exclude"):
            table.pop(key, None)
    text = tomlkit.dumps(document)
    return "\n".join(_comment(line, old, new) for line in text.split("\n"))


def create_next(
    issues_dir: Path, engine: sa.Engine, *, author: str, staff_id: int | None
) -> Created:
    """Write the next quarter's file and record it (kind ``created``). IssueFileError when
    there is no issue to start from or the file exists already."""
    found = newest(issues_dir)
    if found is None:
        raise IssueFileError(
            issues_dir, "no issue file with a quarter to start from: write the first one by hand"
        )
    path, old = found
    new = old.next()
    target = issues_dir / f"{new.slug}.toml"
    if target.exists():
        raise IssueFileError(target, f"{new.slug} exists already: open it to edit it")
    text = next_quarter_text(read_source(path), old, new)
    replace_text(target, text)
    row = revisions.record(engine, new.slug, text, kind="created", author=author, staff_id=staff_id)
    return Created(new.slug, target, text, row)


def _comment(line: str, old: Quarter, new: Quarter) -> str:
    """Comments name the new quarter (``# The Q4 2016 quarterly ... build 2016-q4``)."""
    if not line.lstrip().startswith("#"):
        return line
    return line.replace(old.label, new.label).replace(old.slug, new.slug).replace(old.key, new.key)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '""\\"')
