"""Import 100,000 subscribers from a Mailchimp-style CSV into a fresh SQLite database.

Times ``newsletter.subscribers.csv_files.import_csv`` (what ``newsletter subscribers import`` runs),
median of several runs, each into a new database. Aim: under 10 s.

    python bench/import.py [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, func, select

from newsletter import db
from newsletter.models import Subscriber
from newsletter.subscribers.csv_files import import_csv


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME"])
        for n in range(rows):
            writer.writerow(
                [f"Person.{n}@Example{n % 97}.org", "Person", str(n), 2, "2016-01-02 10:00:00"]
            )


def one_run(folder: Path, source: Path, run: int) -> tuple[float, int]:
    engine = db.make_engine(f"sqlite:///{folder / f'run{run}.db'}")
    db.ensure_schema(engine)
    start = time.perf_counter()
    with db.session_scope(engine) as session:
        report = import_csv(session, source, confirmed=True, source="bench")
    elapsed = time.perf_counter() - start
    with Session(engine) as session:
        stored = session.exec(select(func.count()).select_from(Subscriber)).one()
    engine.dispose()
    assert stored == report.imported, (stored, report)
    return elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        folder = Path(name)
        source = folder / "list.csv"
        write_csv(source, args.rows)
        times = []
        for run in range(args.runs):
            elapsed, stored = one_run(folder, source, run)
            times.append(elapsed)
            print(f"run {run + 1}: {stored} imported in {elapsed:.2f} s")
    median = statistics.median(times)
    print(
        f"import ({args.rows} CSV rows, SQLite, {args.runs} runs): median {median:.2f} s, "
        f"{args.rows / median:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
