"""Issue files (``issues/<slug>.toml``): load and validate; the period an issue covers.

The file name is the issue's slug, which becomes its archive address and view-in-browser link,
so a name that is not a slug (capitals, spaces) is refused. Every problem, a file that is not
UTF-8 or a date out of range included, is an IssueFileError naming the file, line and field;
a file with several problems raises one error carrying all of them (``errors.gathered``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsletter.errors import IssueFileError, gathered, plain
from newsletter.issues.line_map import key_at, locate, locate_value

SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")  # also what /archive/{slug} accepts
MIN_YEAR, MAX_YEAR = 1900, 9998  # dates outside are typos, and would overflow in time zones
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)  # 2016-Q4 or 2016-q4
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_DATE_VALUE = re.compile(r"=\s*(\d+-\d+-\d+(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?)")
_NO_SECONDS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d?:\d\d(?:Z|[+-]\d\d:\d\d)?")
SEND_AT_FORMS = (
    "write send_at = 2017-01-10T09:00:00+07:00 (with the UTC offset), or "
    "send_at = 2017-01-10T09:00:00 (in the issue's timezone, by default the timezone setting), "
    "without quotes and with the seconds"
)


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
        if value is not None:
            _in_range(int(value[:4]))
        return value.upper() if value is not None else None

    @field_validator("send_at", mode="before")
    @classmethod
    def _date_and_time(cls, value: object) -> object:
        """A TOML date-time only: a bare date would mean midnight, a string is a typo risk."""
        if isinstance(value, datetime) or value is None:
            return value
        if isinstance(value, date):
            raise ValueError(f"{value} has no time of day (it would be midnight): {SEND_AT_FORMS}")
        raise ValueError(f"{value!r} is not a TOML date and time: {SEND_AT_FORMS}")

    @field_validator("from_", "until", "send_at")
    @classmethod
    def _in_years(cls, value: date | None) -> date | None:
        if value is not None:
            _in_range(value.year)
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


def _in_range(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is out of range ({MIN_YEAR} to {MAX_YEAR})")


def _period_problem(spec: IssueSpec) -> tuple[str, str] | None:
    """(message, field) when the period is not given exactly once, or ends before it starts."""
    explicit = spec.from_ is not None or spec.until is not None
    if spec.quarter and explicit:
        return "give either quarter or from/until, not both", "from" if spec.from_ else "until"
    if not spec.quarter and not (spec.from_ and spec.until):
        return 'give quarter = "YYYY-Qn", or both from and until dates', (
            "until" if spec.from_ else "from" if spec.until else "quarter"
        )
    if spec.from_ and spec.until and spec.until < spec.from_:
        return f"until ({spec.until}) is before from ({spec.from_})", "until"
    return None


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
        return self.error_at(Problem(tuple(loc), message))

    def error_at(self, problem: Problem) -> IssueFileError:
        return _located(self.path, self.source, problem)


@dataclass(frozen=True)
class Problem:
    """Something wrong at ``loc`` (``("sections", 1, "pin")``); ``value`` (a slug, a category)
    finds its own line inside a list written over several lines."""

    loc: tuple[str | int, ...]
    message: str
    value: str | None = None


# What an issue's sections refer to in the content store, checked against it: given the raw
# ``sections`` list of the file, the problems (``selection.reference_problems``).
References = Callable[[Sequence[object]], list[Problem]]


def _located(path: Path, source: str, problem: Problem) -> IssueFileError:
    loc = problem.loc
    line = locate_value(source, loc, problem.value) if problem.value else locate(source, loc)
    return IssueFileError(path, problem.message, line=line, field=_dotted(loc) or None)


NOT_IN_FOLDER = (
    "a symbolic link or outside the issues folder: issues are read and written only as "
    "regular files in that folder"
)


def in_issues_dir(path: Path, issues_dir: Path) -> bool:
    """``path`` is a regular file of ``issues_dir`` itself: not a symbolic link, and not
    resolving anywhere else (an issue file that links elsewhere is never read nor written)."""
    try:
        return (
            not path.is_symlink()
            and path.is_file()
            and path.resolve().parent == issues_dir.resolve()
        )
    except OSError:
        return False


def resolve_path(issue: str | Path, issues_dir: Path) -> Path:
    """ISSUE on the command line is a slug (``2016-q3``) or a path to a ``.toml`` file."""
    candidate = Path(issue)
    if candidate.suffix == ".toml" or candidate.parent != Path():
        path = candidate
    else:
        path = issues_dir / f"{issue}.toml"
        if path.is_symlink() or (path.exists() and not in_issues_dir(path, issues_dir)):
            raise IssueFileError(path, NOT_IN_FOLDER)
    if not path.is_file():
        known = sorted(p.stem for p in issues_dir.glob("*.toml")) if issues_dir.is_dir() else []
        hint = f" (issues in {issues_dir}: {', '.join(known)})" if known else ""
        raise IssueFileError(path, f"no such issue file{hint}")
    return path


def load_issue(
    issue: str | Path,
    *,
    issues_dir: Path,
    templates_dir: Path,
    default_zone: str,
    references: References | None = None,
) -> Issue:
    """The issue file, validated; IssueFileError carrying every problem found.

    With ``references``, a file that has other problems also gets its slugs, categories and tags
    checked against the content store, so one run lists everything (a good file's references
    are checked by the selection).
    """
    path = resolve_path(issue, issues_dir)
    if not SLUG.fullmatch(path.stem):
        raise IssueFileError(
            path,
            f"file name {path.stem!r} is not a slug: it becomes the issue's web address, so use "
            "lower-case letters, digits, '-', '_' and '.' only (e.g. 2016-q4.toml)",
        )
    source = read_source(path)
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, source, exc, default_zone) from exc
    problems: list[Problem] = []
    try:
        spec: IssueSpec | None = IssueSpec.model_validate(data)
    except ValidationError as exc:
        spec, problems = None, _validation_problems(exc)
    if spec is not None:
        period = _period_problem(spec)
        if period:
            problems.append(Problem((period[1],), period[0]))
    template = templates_dir / f"{data.get('template', 'quarterly')}.mjml.j2"
    if isinstance(data.get("template", ""), str) and not template.is_file():
        problems.append(Problem(("template",), f"template {template} does not exist"))
    if problems:
        sections = data.get("sections")
        if references is not None and isinstance(sections, list):
            problems.extend(references(sections))
        raise gathered([_located(path, source, problem) for problem in problems])
    assert spec is not None
    zone = ZoneInfo(spec.timezone or default_zone)
    since, until = _period(spec, zone)
    return Issue(path.stem, path, source, spec, zone, since, until)


def read_source(path: Path) -> str:
    """The file's text; IssueFileError (file, line, field) when it cannot be read or is not
    UTF-8. A byte-order mark is allowed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IssueFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        line = raw[: exc.start].count(b"\n") + 1
        raise IssueFileError(
            path,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the file as UTF-8",
            line=line,
            field=key_at(text, line),
        ) from exc


def scheduled_send_at(path: Path, zone: ZoneInfo) -> datetime | None:
    """``send_at`` of an issue file, in UTC, or None when it has none that can be read.

    A file that is not UTF-8 is read leniently here, so a scheduled issue saved in another
    encoding still comes due, and ``send-due`` then reports its one-line error; a TOML error
    or an out-of-range ``send_at`` leaves the file unscheduled (``check`` names the problem).
    """
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    at = data.get("send_at")
    if not isinstance(at, datetime) or not MIN_YEAR <= at.year <= MAX_YEAR:
        return None
    try:  # a local send_at is in the issue's own timezone, as ``Issue.send_at`` reads it
        zone = ZoneInfo(data["timezone"]) if isinstance(data.get("timezone"), str) else zone
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)


def _syntax_error(
    path: Path, source: str, exc: tomllib.TOMLDecodeError, zone: str
) -> IssueFileError:
    found = _TOML_POSITION.search(str(exc))
    message = f"TOML syntax error: {_TOML_POSITION.sub('', str(exc)).strip()}"
    line = int(found.group(1)) if found else None
    if line is not None:
        lines = source.splitlines()
        value = _DATE_VALUE.search(lines[line - 1]) if line <= len(lines) else None
        if value and _NO_SECONDS.fullmatch(value.group(1)):
            message = (
                f"{value.group(1)!r} is not a date and time TOML can read: "
                + SEND_AT_FORMS.replace("the timezone setting", f"the timezone setting, {zone}")
            )
        elif value:
            message = (
                f"{value.group(1)!r} is not a valid date or time: write YYYY-MM-DD, e.g. "
                f"2016-07-01 (year {MIN_YEAR} to {MAX_YEAR}, month 1 to 12, a day that month has)"
            )
    return IssueFileError(
        path, message, line=line, field=key_at(source, line) if line is not None else None
    )


_KEYS = {
    "top": [field.alias or name for name, field in IssueSpec.model_fields.items()],
    "sections": list(SectionSpec.model_fields),
}


def _validation_problems(exc: ValidationError) -> list[Problem]:
    """Every validation error, in plain words, one per field."""
    problems: dict[tuple[str | int, ...], Problem] = {}
    for error in exc.errors():
        loc = tuple("from" if part == "from_" else part for part in error["loc"])
        keys = _KEYS["sections"] if loc[:1] == ("sections",) and len(loc) > 2 else _KEYS["top"]
        problems.setdefault(loc, Problem(loc, plain(error, keys)))
    return list(problems.values())


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
