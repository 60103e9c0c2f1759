"""/admin/subscribers/import and /export: a CSV file in and out (admins only).

Import is two steps. Upload: the file is kept server-side (a random id, a private folder, owner
only) and checked without writing anything (``csv_files.check_csv``): the columns detected, the
first rows as read, and every problem with its line number; a file with an invalid address is
refused (fix it and upload again). Confirm: ``csv_files.import_csv`` runs in a background thread,
its progress polled by htmx (a Refresh link without JavaScript), the result in the activity log,
the file deleted. Progress and outcome are rows of ``background_task`` (``web/background_tasks``),
so with several web processes any of them answers the poll. The uploaded file waits in this
host's temporary folder: with web processes on several hosts, the staff area runs on one of them
(docs/scaling.md).

Export streams the filtered list (``directory.batches``) through ``csv_files.write_rows``, every
cell formula-safe.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from newsletter.db import session_scope
from newsletter.errors import NewsletterError
from newsletter.subscribers import directory
from newsletter.subscribers.csv_files import (
    DELIMITER_NAMES,
    ImportReport,
    check_csv,
    detect,
    import_csv,
    write_header,
    write_rows,
)
from newsletter.web import background_tasks as tasks
from newsletter.web.admin.auth import Staffer
from newsletter.web.admin.render import render
from newsletter.web.admin.subscribers import PATH, ManagesList, counts_of, filters_of
from newsletter.web.deps import web_state

router = APIRouter()
IMPORT = PATH + "/import"
MAX_UPLOAD = 20 * 1024 * 1024  # the edge's limit for IMPORT (web/app.py), in docs/dashboard.md
SAMPLE = 5
ID_LENGTH = 22  # secrets.token_urlsafe(16)
KEEP_UNUSED = 24 * 3600  # seconds an upload checked but not imported is kept
KIND = "subscriber_import"  # background_task.kind; the name is the upload id
LEASE = timedelta(minutes=10)  # an import whose progress stops this long was lost
EVERY = 0.5  # seconds between two progress writes
LOST = "the import was interrupted (its web process stopped); nothing was imported"
# rows read so far by the imports running in this process: on SQLite the import's transaction
# holds the one write lock, so the row count cannot be written to background_task until it ends
# (and SQLite means one web process, which answers every poll)
ROWS: dict[str, int] = {}


def folder() -> Path:
    """The private folder uploads wait in: ours only (0700), made on first use."""
    path = Path(tempfile.gettempdir()) / f"newsletter-imports-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NewsletterError(f"{path} is not a private folder of this user: remove it")
    return path


def upload_path(upload_id: str) -> Path | None:
    """The kept file of an upload id, or None for anything that is not one we made."""
    if len(upload_id) != ID_LENGTH or not upload_id.replace("-", "").replace("_", "").isalnum():
        return None
    path = folder() / f"{upload_id}.csv"
    return path if path.is_file() else None


@dataclass(frozen=True)
class Progress:
    """What the progress page shows of an import (its ``background_task`` row)."""

    rows: int
    total: int
    problem: str
    report: dict[str, int] | None  # imported, duplicates, invalid, suppressed, opted_out
    finished: bool

    @classmethod
    def of(cls, task: tasks.Task) -> Progress:
        report = {k: v for k, v in task.result.items() if isinstance(v, int)}
        return cls(
            rows=max(task.done, ROWS.get(task.name, 0)),
            total=task.total,
            problem=task.error or (LOST if task.lost else ""),
            report=report if task.state == tasks.DONE else None,
            finished=not task.running,
        )


def _form_page(
    request: Request, staffer: Staffer, *, status: int = 200, **context: Any
) -> Response:
    """The import page: the upload form, and what a check of a file found (``checked``)."""
    defaults: dict[str, Any] = {"problem": "", "checked": None, "confirmed": False, "source": ""}
    return render(
        request,
        staffer,
        "subscriber_import.html",
        status=status,
        title="Import subscribers",
        limit_mb=MAX_UPLOAD // 1024 // 1024,
        **{**defaults, **context},
    )


@router.get(IMPORT)
def import_form(request: Request, staffer: ManagesList) -> Response:
    return _form_page(request, staffer)


@router.post(IMPORT)
async def upload(request: Request, staffer: ManagesList) -> Response:
    """Step 1: keep the file, check it, show what an import would do; write nothing."""
    form = await request.form()
    try:
        return await _upload(request, staffer, form)
    finally:
        await form.close()  # the spooled upload


async def _upload(request: Request, staffer: Staffer, form: FormData) -> Response:
    file, confirmed = form.get("file"), form.get("confirmed") == "yes"
    source = str(form.get("source") or "").strip()[:300]
    again: dict[str, Any] = {"confirmed": confirmed, "source": source}
    if not isinstance(file, UploadFile) or not file.filename:
        return _form_page(request, staffer, status=400, problem="Choose a CSV file.", **again)
    if confirmed and not source:
        return _form_page(request, staffer, status=400, problem=(
            "Importing as confirmed needs the consent source: where these people opted in."),
            **again)  # fmt: skip
    upload_id = secrets.token_urlsafe(16)
    path = folder() / f"{upload_id}.csv"
    await run_in_threadpool(_keep, file, path)
    name = Path(file.filename).name[:100]
    checked = await run_in_threadpool(_check, request, path, name)
    if isinstance(checked, str):
        path.unlink(missing_ok=True)
        return _form_page(request, staffer, status=400, problem=checked, **again)
    if checked["report"].invalid:
        path.unlink(missing_ok=True)  # refused: nothing kept, nothing written
        return _form_page(request, staffer, status=400, checked=checked, **again)
    return _form_page(request, staffer, checked={**checked, "id": upload_id}, **again)


def _keep(file: UploadFile, path: Path) -> None:
    """The upload into its own new file, readable by us only (and uploads checked a day ago
    but never imported are deleted)."""
    stale = time.time() - KEEP_UNUSED
    for old in path.parent.glob("*.csv"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < stale:
                old.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as kept:
        shutil.copyfileobj(file.file, kept)


def _check(request: Request, path: Path, name: str) -> dict[str, Any] | str:
    """What the import page shows of a file, or the one-line reason it cannot be read."""
    engine = web_state(request).engine
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            columns = detect(stream.readline())
        with Session(engine) as session:
            report, first = check_csv(session, path, SAMPLE)
    except (NewsletterError, OSError, UnicodeDecodeError) as exc:
        text = str(exc).replace(str(path), name)
        return f"{name}: {text}" if name not in text else text
    problems = sorted(report.invalid + report.repeated)
    return {"name": name, "columns": columns, "delimiter": DELIMITER_NAMES[columns.delimiter],
            "report": report, "first": first, "problems": problems}  # fmt: skip


@router.post(IMPORT + "/{upload_id}/run")
async def run(request: Request, staffer: ManagesList, upload_id: str) -> Response:
    """Step 2: the import in a background thread; the answer is its progress page."""
    web = web_state(request)
    path = upload_path(upload_id)
    form = await request.form()
    confirmed = form.get("confirmed") == "yes"
    source = str(form.get("source") or "").strip()[:300]
    if path is None:
        return render(request, staffer, "message.html", status=404, title="Upload not found",
                      text="This upload has already been imported or was never kept: upload "
                      "the file again.")  # fmt: skip
    if confirmed and not source:
        return _form_page(request, staffer, status=400, problem=(
            "Importing as confirmed needs the consent source."))  # fmt: skip
    claimed = path.with_suffix(".running")
    try:
        path.rename(claimed)  # one run per upload, even if the button is pressed twice
    except FileNotFoundError:
        return RedirectResponse(f"{IMPORT}/{upload_id}", status_code=303)
    with claimed.open("rb") as stream:
        total = max(0, sum(1 for _ in stream) - 1)
    tasks.begin(web.engine, KIND, upload_id, staffer.label, lease=LEASE, total=total)
    label = f"{'confirmed' if confirmed else 'pending'}; source: {source or 'dashboard import'}"
    staffer.log(web.engine, "subscribers_import_start", "subscriber import", label[:200])
    thread = threading.Thread(
        target=_import,
        args=(web.engine, staffer, upload_id, counts_of(request), claimed, confirmed, source),
        name=f"import-{upload_id[:6]}", daemon=True,
    )  # fmt: skip
    thread.start()
    return RedirectResponse(f"{IMPORT}/{upload_id}", status_code=303)


def _import(engine: sa.Engine, staffer: Staffer, upload_id: str, counts: directory.Counts,
            path: Path, confirmed: bool, source: str) -> None:  # fmt: skip
    written = time.monotonic()

    def progress(rows: int) -> None:
        nonlocal written
        ROWS[upload_id] = rows
        if engine.dialect.name != "sqlite" and time.monotonic() - written >= EVERY:
            tasks.progress(engine, KIND, upload_id, rows, lease=LEASE)
            written = time.monotonic()

    report: ImportReport | None = None
    try:
        with session_scope(engine) as session:
            report = import_csv(session, path, confirmed=confirmed,
                                source=f"dashboard: {source}" if source else "dashboard",
                                progress=progress)  # fmt: skip
        detail = (f"{report.imported} imported, {report.duplicates} duplicates, "
                  f"{len(report.invalid)} invalid, {report.suppressed} suppressed, "
                  f"{report.opted_out} unsubscribed in the file")  # fmt: skip
        staffer.log(engine, "subscribers_import", "subscriber import", detail)
        outcome = {"imported": report.imported, "duplicates": report.duplicates,
                   "invalid": len(report.invalid), "suppressed": report.suppressed,
                   "opted_out": report.opted_out}  # fmt: skip
        tasks.finish(engine, KIND, upload_id, result=outcome, done=report.rows)
    except Exception as exc:  # reported on the progress page and in the log, never lost
        problem = f"the import failed, nothing was imported: {exc}"
        if report is not None:  # imported; only the record of it failed
            problem = f"imported, but its outcome could not be recorded: {exc}"
        try:
            staffer.log(engine, "subscribers_import_failed", "subscriber import", str(exc)[:200])
            tasks.finish(engine, KIND, upload_id, error=problem)
        except Exception as again:  # the database is gone: the task lapses, shown as lost
            logging.getLogger("newsletter.import").error("import %s: %s", upload_id[:6], again)
    finally:
        path.unlink(missing_ok=True)
        counts.forget()
        ROWS.pop(upload_id, None)


@router.get(IMPORT + "/{upload_id}")
def progress_page(request: Request, staffer: ManagesList, upload_id: str) -> Response:
    task = tasks.get(web_state(request).engine, KIND, upload_id[:200])
    if task is None:
        return render(request, staffer, "message.html", status=404, title="Import not found",
                      text="No import with this id is running or has run in the last "
                      f"{tasks.KEEP.days} days.")  # fmt: skip
    job = Progress.of(task)
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request, staffer,
        "subscriber_import_progress.html" if fragment else "subscriber_import_job.html",
        title="Importing subscribers", job=job, finished=job.finished,
        url=f"{IMPORT}/{upload_id}",
    )  # fmt: skip


@router.get(PATH + "/export")
def export(request: Request, staffer: ManagesList) -> Response:
    """The filtered list as CSV, streamed a batch at a time (formula-safe cells)."""
    web = web_state(request)
    filters = filters_of(request)
    staffer.log(web.engine, "subscribers_export", "subscriber list", _described(filters))

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        write_header(buffer)
        yield buffer.getvalue()
        for batch in directory.batches(web.engine, filters):
            buffer = io.StringIO()
            write_rows(batch, buffer)
            yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )


def _described(filters: directory.Filters) -> str:
    """The filters of an export for the log, without a searched address."""
    parts = [f"status {filters.status}" if filters.status else "",
             "searched" if filters.q else "", "by source" if filters.source else "",
             f"from {filters.since}" if filters.since else "",
             f"to {filters.until}" if filters.until else ""]  # fmt: skip
    return ", ".join(p for p in parts if p) or "everyone"
