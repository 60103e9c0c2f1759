"""Subscriber CSV files: import (our own export, or a Mailchimp-style export) and export.

Cells may be separated by commas, semicolons or tabs (found from the header line); blank rows
are skipped. Columns are found by header name, case and punctuation ignored: ``email`` /
``Email Address`` / ``e-mail``; ``name`` or ``First Name`` + ``Last Name``. Mailchimp's
unsubscribed and cleaned exports carry ``UNSUB_TIME`` / ``CLEAN_TIME``: such rows are never
imported as subscribers.
An import is one transaction: it all lands, or (on a database error) nothing does.

The export is safe to open in a spreadsheet: a cell that would start with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return (a formula to Excel or LibreOffice) gets a leading apostrophe,
as OWASP advises against CSV injection, and so does one that already starts with apostrophes
before such a character. Import takes exactly that apostrophe off again, so an exported file
imports back to the same addresses and names.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.errors import ImportFileError, InvalidAddress
from newsletter.models import (
    Subscriber,
    Suppression,
    UTCDateTime,
    consent_table,
    status_event_table,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers.address import parse
from newsletter.subscribers.status import Cause, initial, stamps
from newsletter.subscribers.store import clean_name, email_hash, new_key

CHUNK = 2000
EMAIL_COLUMNS = ("email", "email address", "e mail", "e mail address", "mail")
NAME_COLUMNS = ("name", "full name")
FIRST_COLUMNS = ("first name", "fname", "given name")
LAST_COLUMNS = ("last name", "lname", "surname", "family name")
OPTED_OUT_COLUMNS = ("unsub time", "clean time")
EXPORT_COLUMNS = ("email", "name", "status", "created_at", "confirmed_at", "unsubscribed_at")
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
FORMULA = re.compile(r"'*[=+\-@\t\r]")  # what a spreadsheet may run, behind any apostrophes


@dataclass
class ImportReport:
    """What an import did. ``duplicates`` counts addresses already on the list and repeats
    within the file; ``repeated`` lists the repeats (line, and why: the line it repeats)."""

    imported: int = 0
    duplicates: int = 0
    suppressed: int = 0
    opted_out: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    repeated: list[tuple[int, str]] = field(default_factory=list)
    delimiter: str = ","

    @property
    def rows(self) -> int:
        return (
            self.imported + self.duplicates + self.suppressed + self.opted_out + len(self.invalid)
        )


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str
    opted_out: bool


def _key(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def _column(headers: dict[str, str], names: Iterable[str]) -> str | None:
    return next((headers[n] for n in names if n in headers), None)


def delimiter_of(header_line: str) -> str:
    """The delimiter the header line is written with: of comma, semicolon (spreadsheets in
    many European locales) and tab, the one that gives an email column, and of those the one
    that gives the most columns; a comma when none does."""
    best, most = ",", 0
    for delimiter in DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        if _column({_key(c): c for c in cells if c}, EMAIL_COLUMNS) and len(cells) > most:
            best, most = delimiter, len(cells)
    return best


def read_rows(path: Path, stream: IO[str], report: ImportReport | None = None) -> Iterator[Row]:
    """Each data row with its line number; ImportFileError without an email column.

    The delimiter is found from the header line (and noted in ``report``); rows with nothing in
    any cell (``,,`` as spreadsheets write blank rows) are skipped."""
    header_line = stream.readline()
    delimiter = delimiter_of(header_line)
    if report is not None:
        report.delimiter = delimiter
    reader = csv.DictReader(itertools.chain([header_line], stream), delimiter=delimiter)
    headers = {_key(h): h for h in reader.fieldnames or [] if h}
    email = _column(headers, EMAIL_COLUMNS)
    if email is None:
        raise ImportFileError(
            path, "no email column (expected a header such as email or Email Address)", line=1
        )
    name, first, last = (_column(headers, c) for c in (NAME_COLUMNS, FIRST_COLUMNS, LAST_COLUMNS))
    opted = [headers[c] for c in OPTED_OUT_COLUMNS if c in headers]
    for record in reader:
        if not any(isinstance(v, str) and v.strip() for v in record.values()):
            continue  # a blank row
        full = from_spreadsheet(record.get(name)) if name else None
        if not full:
            parts = (from_spreadsheet(record.get(c or "")) for c in (first, last))
            full = " ".join(filter(None, parts))
        yield Row(
            line=reader.line_num,
            email=from_spreadsheet(record.get(email)),
            name=full or "",
            opted_out=any((record.get(c) or "").strip() for c in opted),
        )


@dataclass(frozen=True)
class Columns:
    """What ``detect`` found in a header line: the delimiter and the columns read."""

    delimiter: str
    email: str | None
    name: str  # the name column, or "First Name + Last Name", or "" when there is none


def detect(header_line: str) -> Columns:
    """The delimiter and the email and name columns of a header line, as an import reads them."""
    delimiter = delimiter_of(header_line)
    cells = next(csv.reader([header_line.rstrip("\r\n")], delimiter=delimiter), [])
    headers = {_key(c): c for c in cells if c}
    name, first, last = (_column(headers, c) for c in (NAME_COLUMNS, FIRST_COLUMNS, LAST_COLUMNS))
    return Columns(
        delimiter, _column(headers, EMAIL_COLUMNS), name or " + ".join(filter(None, (first, last)))
    )


def check_csv(session: Session, path: Path, keep: int = 5) -> tuple[ImportReport, list[Row]]:
    """What ``import_csv`` would do, writing nothing: its report (every invalid line and repeat
    with its line number) and the first ``keep`` rows as read."""
    report = ImportReport()
    first: list[Row] = []
    existing = set(session.exec(select(Subscriber.email_key)).all())
    suppressed = set(session.exec(select(Suppression.email_hash)).all())
    lines: dict[str, int] = {}
    batch: list[tuple[str, str, str]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for row in read_rows(path, stream, report):
                if len(first) < keep:
                    first.append(row)
                _sort(row, report, existing, suppressed, lines, batch)
                batch.clear()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(path, f"cannot read the file: {exc}") from exc
    return report, first


def import_csv(
    session: Session,
    path: Path,
    *,
    confirmed: bool,
    source: str,
    progress: Callable[[int], None] = lambda _rows: None,
) -> ImportReport:
    """Add the file's new addresses (pending, or confirmed with ``confirmed``).

    Never touches an address already on the list (whatever its status or letter case), never
    adds an erased (suppressed) one, and adds an address repeated in the file once (the
    repeats are reported). A refused address (invalid, too long, non-ASCII before the @) is
    reported with its line; the other rows are imported.
    """
    cause = Cause.import_confirmed if confirmed else Cause.import_
    existing = set(session.exec(select(Subscriber.email_key)).all())
    suppressed = set(session.exec(select(Suppression.email_hash)).all())
    report = ImportReport()
    batch: list[tuple[str, str, str]] = []
    lines: dict[str, int] = {}  # key -> the line that brought it, for this file's repeats
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for row in read_rows(path, stream, report):
                _sort(row, report, existing, suppressed, lines, batch)
                if len(batch) >= CHUNK:
                    _insert(session, batch, cause=cause, source=source)
                    progress(report.rows)
                    batch = []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(path, f"cannot read the file: {exc}") from exc
    _insert(session, batch, cause=cause, source=source)
    progress(report.rows)
    return report


def _sort(
    row: Row,
    report: ImportReport,
    existing: set[str],
    suppressed: set[str],
    lines: dict[str, int],
    batch: list[tuple[str, str, str]],
) -> None:
    if row.opted_out:
        report.opted_out += 1
        return
    try:
        address = parse(row.email)
    except InvalidAddress as exc:
        report.invalid.append((row.line, str(exc)))
        return
    key = address.key
    if key in lines:
        report.duplicates += 1
        report.repeated.append(
            (row.line, f"{address.email} repeats line {lines[key]} (letter case aside); skipped")
        )
    elif key in existing:
        report.duplicates += 1
    elif suppressed and email_hash(key) in suppressed:
        report.suppressed += 1
    else:
        lines[key] = row.line
        batch.append((address.email, key, clean_name(row.name)))
        report.imported += 1


def _insert(
    session: Session, batch: list[tuple[str, str, str]], *, cause: Cause, source: str
) -> None:
    """One chunk: the subscribers in one executemany, their consent and first status event
    each in one INSERT ... SELECT over the chunk's keys (no per-row round trips). The status,
    and confirmed_at, are what the table in subscribers/status.py gives a new address."""
    if not batch:
        return
    now = utcnow()
    status = initial(cause)
    confirmed_at = stamps(status, now).get("confirmed_at")
    keys = [new_key() for _ in batch]
    people: list[dict[str, Any]] = [
        {"key": key, "email": email, "email_key": email_key, "name": name,
         "status": status.value, "created_at": now, "confirmed_at": confirmed_at}
        for key, (email, email_key, name) in zip(keys, batch, strict=True)
    ]  # fmt: skip
    connection = session.connection()
    connection.execute(sa.insert(subscriber_table), people)
    note = f"import: {source}"
    chunk = sa.select(subscriber_table.c.id).where(subscriber_table.c.key.in_(keys)).subquery()
    consent = sa.select(
        chunk.c.id,
        sa.literal(now, UTCDateTime()),
        sa.literal(note[:500]),
        sa.literal(""),
        sa.literal(""),
        sa.literal(""),
    )
    columns = ("subscriber_id", "at", "source", "ip", "user_agent", "text_version")
    connection.execute(sa.insert(consent_table).from_select(columns, consent))
    event = sa.select(
        chunk.c.id,
        sa.literal(now, UTCDateTime()),
        sa.null(),
        sa.literal(status.value),
        sa.literal(note[:200]),
    )
    event_columns = ("subscriber_id", "at", "from_status", "to_status", "reason")
    connection.execute(sa.insert(status_event_table).from_select(event_columns, event))


def for_spreadsheet(cell: str) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe where it could be a formula."""
    return "'" + cell if FORMULA.match(cell) else cell


def from_spreadsheet(cell: str | None) -> str:
    """The inverse of ``for_spreadsheet`` (a cell of any other CSV file is left as it is)."""
    cell = cell or ""
    return cell[1:] if cell.startswith("'") and FORMULA.match(cell, 1) else cell


def write_csv(subscribers: Iterable[Subscriber], stream: IO[str]) -> int:
    """The export: one row per subscriber, times in ISO 8601 UTC, every cell safe to open in a
    spreadsheet (``for_spreadsheet``). Returns the row count."""
    write_header(stream)
    return write_rows(subscribers, stream)


def write_header(stream: IO[str]) -> None:
    csv.writer(stream, lineterminator="\n").writerow(EXPORT_COLUMNS)


def write_rows(subscribers: Iterable[Subscriber], stream: IO[str]) -> int:
    """The export's rows without the header (a streamed export writes them batch by batch)."""
    writer = csv.writer(stream, lineterminator="\n")
    # the csv module quotes only what is in lineterminator: a lone CR would split the row
    quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
    count = 0
    for s in subscribers:
        times = (s.created_at, s.confirmed_at, s.unsubscribed_at)
        cells = [s.email, s.name, str(s.status), *(t.isoformat() if t else "" for t in times)]
        row = [for_spreadsheet(c) for c in cells]
        (quoted if any("\r" in c for c in row) else writer).writerow(row)
        count += 1
    return count
