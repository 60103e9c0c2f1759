"""Issue files (``issues/<slug>.toml``): load and validate; the period an issue covers."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter.errors import IssueFileError
from newsletter.issues.line_map import locate

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


class SectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    intro: str = ""
    categories: list[str] = []
    tags: list[str] = []
    limit: int = Field(10, ge=1, le=100)
    order: Literal["newest", "oldest", "title"] = "newest"
    pin: list[str] = []
    exclude: list[str] = []
    display: Literal["summary", "full"] = "summary"


class IssueSpec(BaseModel):
    """What an issue file may say. Unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    preheader: str = ""
    quarter: str | None = None
    from_: date | None = Field(None, alias="from")
    until: date | None = None
    template: str = "quarterly"
    send_at: datetime | None = None
    timezone: str | None = None
    intro: str = ""
    outro: str = ""
    sections: list[SectionSpec] = Field(min_length=1)

    @field_validator("subject", "preheader", "title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\t\x00"):
            raise ValueError("must be one line (no line breaks or tabs)")
        return value.strip()

    @field_validator("quarter")
    @classmethod
    def _is_quarter(cls, value: str | None) -> str | None:
        if value is not None and not _QUARTER.match(value):
            raise ValueError(f"{value!r} is not a quarter: write YYYY-Qn with n from 1 to 4")
        return value

    @field_validator("timezone")
    @classmethod
    def _is_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_period(self) -> IssueSpec:
        explicit = self.from_ is not None or self.until is not None
        if self.quarter and explicit:
            raise ValueError("give either quarter or from/until, not both")
        if not self.quarter and not (self.from_ and self.until):
            raise ValueError('give quarter = "YYYY-Qn", or both from and until dates')
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError("until is before from")
        return self


@dataclass(frozen=True)
class Issue:
    slug: str
    path: Path
    source: str
    spec: IssueSpec
    zone: ZoneInfo
    since: datetime  # inclusive, UTC
    until: datetime  # exclusive, UTC

    @property
    def period_label(self) -> str:
        first = self.since.astimezone(self.zone)
        last = (self.until - timedelta(seconds=1)).astimezone(self.zone)
        if first.year == last.year:
            return f"{first:%B}–{last:%B %Y}"
        return f"{first:%B %Y}–{last:%B %Y}"

    @property
    def send_at(self) -> datetime | None:
        at = self.spec.send_at
        if at is None:
            return None
        return (at if at.tzinfo else at.replace(tzinfo=self.zone)).astimezone(UTC)

    def error(self, message: str, *loc: str | int) -> IssueFileError:
        """An IssueFileError pointing at the line of ``loc`` in this file."""
        return IssueFileError(
            self.path, message, line=locate(self.source, loc), field=_dotted(loc) or None
        )


def resolve_path(issue: str | Path, issues_dir: Path) -> Path:
    """ISSUE on the command line is a slug (``2016-q3``) or a path to a ``.toml`` file."""
    candidate = Path(issue)
    if candidate.suffix == ".toml" or candidate.parent != Path():
        path = candidate
    else:
        path = issues_dir / f"{issue}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in issues_dir.glob("*.toml")) if issues_dir.is_dir() else []
        hint = f" (issues in {issues_dir}: {', '.join(known)})" if known else ""
        raise IssueFileError(path, f"no such issue file{hint}")
    return path


def load_issue(
    issue: str | Path, *, issues_dir: Path, templates_dir: Path, default_zone: str
) -> Issue:
    path = resolve_path(issue, issues_dir)
    source = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        message = _TOML_POSITION.sub("", str(exc)).strip()
        line = int(found.group(1)) if found else None
        raise IssueFileError(path, f"TOML syntax error: {message}", line=line) from exc
    try:
        spec = IssueSpec.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, source, exc) from exc
    zone = ZoneInfo(spec.timezone or default_zone)
    since, until = _period(spec, zone)
    loaded = Issue(path.stem, path, source, spec, zone, since, until)
    template = templates_dir / f"{spec.template}.mjml.j2"
    if not template.is_file():
        raise loaded.error(f"template {template} does not exist", "template")
    return loaded


def _validation_error(path: Path, source: str, exc: ValidationError) -> IssueFileError:
    error = exc.errors()[0]
    loc = tuple("from" if part == "from_" else part for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} (a typo?)"
    elif error["type"] == "missing":
        message = "required key is missing"
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return IssueFileError(
        path, message + more, line=locate(source, loc), field=_dotted(loc) or None
    )


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _period(spec: IssueSpec, zone: ZoneInfo) -> tuple[datetime, datetime]:
    if spec.quarter:
        match = _QUARTER.match(spec.quarter)
        assert match
        year, quarter = int(match.group(1)), int(match.group(2))
        first = date(year, 3 * quarter - 2, 1)
        after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    else:
        assert spec.from_ and spec.until
        first, after = spec.from_, spec.until + timedelta(days=1)

    def start(day: date) -> datetime:
        return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)

    return start(first), start(after)
