"""What the editor may not do (review of #12): schedule or move a send (a raw text or a restored
version keeps the file's ``send_at``; ``timezone`` is frozen while there is one), wipe a value
its form does not carry (the ``outro``), or follow an issue file that is a symbolic link."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import IssueFileError
from newsletter.issues import revisions
from newsletter.issues.file import load_issue
from newsletter.issues.filetext import file_hash, set_send_at
from newsletter.issues.saving import current_text
from newsletter.models import Role
from newsletter.sending.scheduler import due_times
from tests.admin.conftest import StaffClient
from tests.admin.editor_kit import SLUG, form_data, unscheduled

AsRole = Callable[[Role], StaffClient]
URL = f"/admin/issues/{SLUG}"
SOON = datetime.fromisoformat("2030-01-01T09:00:00+00:00")
KEPT = "send_at is set on the sending page by a publisher; kept as it was."


def test_an_editors_raw_text_cannot_schedule_the_issue(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    raw = set_send_at(before, SOON).replace("Subject", "Subject", 1)
    answer = editor.post(URL, {"text": raw, "base_hash": file_hash(before)})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{URL}?saved=1&kept=send_at"
    assert "send_at" not in tomllib.loads(path.read_text(encoding="utf-8"))
    assert due_times(admin_settings, admin_engine)[SLUG] is None
    assert KEPT in editor.get(answer.headers["location"]).text


def test_an_editors_raw_text_cannot_move_a_send_time(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = admin_settings.issues_dir / f"{SLUG}.toml"  # send_at 2017: long past, not locked
    before = path.read_text(encoding="utf-8")
    was = tomllib.loads(before)["send_at"]
    raw = set_send_at(before, SOON).replace("Thank you for reading", "Thanks for reading")
    answer = as_role(Role.editor).post(URL, {"text": raw, "base_hash": file_hash(before)})
    assert answer.status_code == 303 and answer.headers["location"].endswith("&kept=send_at")
    after = path.read_text(encoding="utf-8")
    assert tomllib.loads(after)["send_at"] == was and "Thanks for reading" in after
    assert "send_at = 2017-01-10T09:00:00+07:00" in after  # the line itself is as it was


def test_restoring_a_scheduled_version_does_not_schedule(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    old = revisions.record(
        admin_engine, SLUG, set_send_at(before, SOON), kind="scheduled", author="p@example.org"
    )
    revisions.record(admin_engine, SLUG, before, kind="unscheduled", author="p@example.org")
    editor = as_role(Role.editor)
    answer = editor.post(f"{URL}/history/{old.id}/restore", {"base_hash": file_hash(before)})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{URL}/history?restored=1&kept=send_at"
    assert path.read_text(encoding="utf-8") == before
    assert due_times(admin_settings, admin_engine)[SLUG] is None
    assert KEPT in editor.get(answer.headers["location"]).text


def test_timezone_cannot_change_while_the_file_has_a_send_at(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = admin_settings.issues_dir / f"{SLUG}.toml"
    before = path.read_text(encoding="utf-8")
    raw = before.replace("send_at =", 'timezone = "America/New_York"\nsend_at =', 1)
    editor = as_role(Role.editor)
    answer = editor.post(URL, {"text": raw, "base_hash": file_hash(before)})
    assert answer.status_code == 422
    assert "timezone cannot change while the issue has a send_at" in answer.text
    assert path.read_text(encoding="utf-8") == before
    # without a send_at the timezone is the editor's to change
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    raw = 'timezone = "America/New_York"\n' + before
    answer = editor.post(URL, {"text": raw, "base_hash": file_hash(before)})
    assert answer.status_code == 303
    assert tomllib.loads(path.read_text(encoding="utf-8"))["timezone"] == "America/New_York"


def test_a_form_without_the_outro_keeps_it(as_role: AsRole, admin_settings: Settings) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    fields = form_data(before, subject="Another subject")
    del fields["outro"], fields["sections[0].pin"], fields["sections[1].limit"]
    assert as_role(Role.editor).post(URL, fields).status_code == 303
    after = path.read_text(encoding="utf-8")
    assert after == before.replace(tomllib.loads(before)["subject"], "Another subject")
    assert "Thank you for reading, and best wishes for 2017" in after


def test_the_outro_box_changes_the_outro_only(as_role: AsRole, admin_settings: Settings) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    page = editor.get(URL)
    assert '<label for="f-outro">Closing text (Markdown)</label>' in page.text
    assert 'name="outro"' in page.text and "best wishes for 2017" in page.text
    answer = editor.post(URL, form_data(before, outro="Goodbye, *readers*.\nSee you in 2017.\n"))
    assert answer.status_code == 303
    after = path.read_text(encoding="utf-8")
    old, new = tomllib.loads(before), tomllib.loads(after)
    assert new.pop("outro") == "Goodbye, *readers*.\nSee you in 2017.\n"
    old.pop("outro")
    assert new == old
    changed = set(after.splitlines()) ^ set(before.splitlines())
    assert all("2017" in line or "readers" in line for line in changed)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    found = tmp_path / "server.env"
    found.write_text('subject = "NEWSLETTER_SECRET_KEY=not-for-viewers"\n', encoding="utf-8")
    return found


def test_a_symlinked_issue_file_is_never_followed(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine, secret: Path
) -> None:
    issues = admin_settings.issues_dir
    (issues / "leak.toml").symlink_to(secret)
    (issues / "twin.toml").symlink_to(issues / f"{SLUG}.toml")  # in the folder, still a link
    viewer, editor = as_role(Role.viewer), as_role(Role.editor)
    for slug in ("leak", "twin"):
        for url in (f"/admin/issues/{slug}", f"/admin/issues/{slug}/history"):
            answer = viewer.get(url)
            assert answer.status_code == 404 and "not-for-viewers" not in answer.text
        posted = editor.post(f"/admin/issues/{slug}", {"text": 'subject = "x"\n'})
        assert posted.status_code == 404
        with pytest.raises(IssueFileError, match="symbolic link"):
            current_text(admin_settings, slug)
        with pytest.raises(IssueFileError, match="symbolic link"):
            load_issue(
                slug,
                issues_dir=issues,
                templates_dir=admin_settings.templates_dir,
                default_zone="UTC",
            )
        assert slug not in due_times(admin_settings, admin_engine)
    listing = viewer.get("/admin/issues")
    assert listing.status_code == 200 and "not-for-viewers" not in listing.text
    assert "Skipped issues/leak.toml: it is a symbolic link" in listing.text
    assert (
        "Skipped issues/twin.toml" in listing.text
        and 'href="/admin/issues/leak"' not in listing.text
    )
    assert secret.read_text(encoding="utf-8").startswith('subject = "NEWSLETTER')
