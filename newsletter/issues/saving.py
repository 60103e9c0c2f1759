"""Saving an issue file from the dashboard: validated by the CLI's loader, never over someone
else's change, written whole, and recorded as a revision.

- **Validate**: the candidate text is loaded by ``file.load_issue`` (from a temporary file of
  the same name) and its posts' slugs, categories and tags checked against the store, as
  ``newsletter check`` does; the errors are the CLI's, naming the real file.
- **Base hash**: a save says which version of the file it started from (``file_hash``). When
  the file changed meanwhile (another person, the CLI, a text editor) the save is refused with
  a ``Conflict``: a unified diff of their version against yours, and your whole text, so
  nothing is lost and the person merges by hand.
- **send_at stays**: a save or a restore never changes ``send_at``: the file's own (or its
  absence) is put into the candidate whatever it says (``Saved.kept_send_at`` tells the page),
  and a change of ``timezone`` is refused while the file has one; scheduling is the sending
  page's (``sending/send_time.py``), for publishers.
- **Only regular files** of the issues folder are read or written (``file.in_issues_dir``).
- **Write**: ``files.replace_text`` (a reader sees the old file or the new one), then a
  revision (``saved``, ``restored``) with who and the base hash; the saver's draft is dropped.
"""

from __future__ import annotations

import difflib
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.content.reading import PostReader
from newsletter.errors import IssueFileError, LocatedError, gathered
from newsletter.files import replace_text
from newsletter.issues import revisions
from newsletter.issues.file import NOT_IN_FOLDER, Issue, in_issues_dir, load_issue, read_source
from newsletter.issues.filetext import file_hash, keep_send_at, timezone_problem
from newsletter.issues.selection import reference_problems
from newsletter.models import IssueRevision

EXTERNAL, OUTSIDE = "external", "outside the dashboard"
_WRITING = threading.Lock()  # one save at a time in this process: check and write together


@dataclass(frozen=True)
class Conflict:
    """The file changed since the editor opened it: ``theirs`` is on disk, ``yours`` was sent."""

    theirs: str
    yours: str
    diff: str

    @property
    def their_hash(self) -> str:
        return file_hash(self.theirs)


@dataclass(frozen=True)
class Saved:
    text: str
    revision: IssueRevision | None  # None: the text was the file's already
    kept_send_at: bool = False  # the submitted text had another send_at: the file's was kept


def issue_path(settings: Settings, slug: str) -> Path:
    """Where the issue lives, as the CLI names it (``issues/2016-q4.toml``)."""
    return settings.issues_dir / f"{slug}.toml"


def current_text(settings: Settings, slug: str) -> str:
    """The file's text now (IssueFileError when it is missing or not UTF-8)."""
    path = issue_path(settings, slug)
    if path.is_symlink() or (path.exists() and not in_issues_dir(path, settings.issues_dir)):
        raise IssueFileError(path, NOT_IN_FOLDER)
    if not path.is_file():
        raise IssueFileError(path, "no such issue file")
    return read_source(path)


@contextmanager
def candidate_file(slug: str, text: str) -> Iterator[Path]:
    """``text`` as ``<slug>.toml`` in a temporary folder, for the loader and the build."""
    with tempfile.TemporaryDirectory(prefix="newsletter-edit-") as folder:
        path = Path(folder) / f"{slug}.toml"
        path.write_text(text, encoding="utf-8")
        yield path


def relocated(exc: LocatedError, path: Path) -> LocatedError:
    """The same problems, naming ``path`` (the real file) instead of the temporary one."""
    problems = [exc, *exc.also]
    moved = [type(p)(path, p.message, line=p.line, field=p.field) for p in problems]
    return gathered(moved)


def load_candidate(settings: Settings, engine: sa.Engine, slug: str, text: str) -> Issue:
    """``text`` loaded and checked as ``newsletter check`` would load the file; raises
    IssueFileError with the CLI's messages, naming the real file."""
    real = issue_path(settings, slug)
    with candidate_file(slug, text) as path, PostReader.of_engine(engine) as posts:
        try:
            issue = load_issue(
                path,
                issues_dir=settings.issues_dir,
                templates_dir=settings.templates_dir,
                default_zone=settings.timezone,
                references=lambda sections: reference_problems(posts, sections),
            )
            problems = reference_problems(posts, [s.model_dump() for s in issue.spec.sections])
            if problems:
                raise gathered([issue.error_at(problem) for problem in problems])
        except IssueFileError as exc:
            raise relocated(exc, real) from None
    return issue


def conflict_diff(slug: str, theirs: str, yours: str) -> str:
    return "".join(
        difflib.unified_diff(
            theirs.splitlines(keepends=True),
            yours.splitlines(keepends=True),
            fromfile=f"{slug}.toml (the file now)",
            tofile=f"{slug}.toml (your version)",
        )
    )


def save(
    settings: Settings,
    engine: sa.Engine,
    slug: str,
    text: str,
    *,
    base_hash: str,
    author: str,
    staff_id: int | None,
    kind: str = "saved",
) -> Saved | Conflict:
    """Validate ``text``, refuse it over a changed file, else write it and record a revision.
    The file's ``send_at`` is kept whatever ``text`` says (``Saved.kept_send_at``).

    Raises IssueFileError (the CLI's errors) when the text is not a valid issue, or changes
    ``timezone`` while the file has a ``send_at``; nothing is written then.
    """
    path = issue_path(settings, slug)
    text, kept = _with_files_send_at(path, text, current_text(settings, slug))
    load_candidate(settings, engine, slug, text)
    with _WRITING:
        theirs = current_text(settings, slug)
        if file_hash(theirs) != base_hash:
            return Conflict(theirs, text, conflict_diff(slug, theirs, text))
        if _with_files_send_at(path, text, theirs)[0] != text:  # send_at changed meanwhile
            return Conflict(theirs, text, conflict_diff(slug, theirs, text))
        if theirs == text:
            return Saved(text, None, kept)
        _keep_outside_edit(engine, slug, theirs)
        replace_text(path, text)
    row = revisions.record(
        engine, slug, text, kind=kind, author=author, staff_id=staff_id, base_hash=base_hash
    )
    if staff_id is not None:
        revisions.discard_draft(engine, slug, staff_id)
    return Saved(text, row, kept)


def _with_files_send_at(path: Path, text: str, theirs: str) -> tuple[str, bool]:
    """``text`` with the file's ``send_at``; IssueFileError when it changes ``timezone`` while
    the file has one."""
    problem = timezone_problem(text, theirs)
    if problem:
        raise IssueFileError(path, problem, field="timezone")
    return keep_send_at(text, theirs)


def _keep_outside_edit(engine: sa.Engine, slug: str, theirs: str) -> None:
    """The version about to be replaced, when the history does not have it (first save from
    the dashboard, or a change made with a text editor or git): kind ``external``, so the
    history's diffs are right and that version can be restored."""
    last = revisions.last_saved(engine, slug)
    if last is None or last.file_hash != file_hash(theirs):
        revisions.record(engine, slug, theirs, kind=EXTERNAL, author=OUTSIDE)
