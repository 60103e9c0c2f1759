"""The issue editor in the browser (web/admin/editor.py, history.py): who may save, saves that
keep the file's comments, conflicts refused with nothing lost, autosave, restore, the next
quarter, the post picker's buttons, the lock while scheduled."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.issues import revisions
from newsletter.issues.filetext import file_hash, set_send_at
from newsletter.models import Activity, Role
from tests.admin.conftest import StaffClient
from tests.admin.editor_kit import SLUG, form_data, unscheduled

AsRole = Callable[[Role], StaffClient]
URL = f"/admin/issues/{SLUG}"


def test_an_editor_saves_one_field_and_only_that_line_changes(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    page = editor.get(URL)
    assert page.status_code == 200 and 'name="subject"' in page.text
    assert '<label for="f-subject">' in page.text and 'for="f-sections-0-limit"' in page.text
    answer = editor.post(URL, form_data(before, subject="A new subject"))
    assert answer.status_code == 303 and answer.headers["location"] == f"{URL}?saved=1"
    after = path.read_text(encoding="utf-8")
    assert after == before.replace(tomllib.loads(before)["subject"], "A new subject")
    assert "# The Q4 2016 quarterly newsletter" in after
    saved = revisions.last_saved(admin_engine, SLUG)
    assert saved is not None and saved.kind == "saved" and saved.author == "editor@example.org"
    with Session(admin_engine) as session:
        actions = [(a.action, a.subject, a.actor) for a in session.exec(select(Activity))]
    assert ("save", SLUG, "editor@example.org") in actions


def test_a_viewer_reads_but_cannot_save(as_role: AsRole, admin_settings: Settings) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    viewer = as_role(Role.viewer)
    page = viewer.get(URL)
    assert page.status_code == 200
    assert '<fieldset class="fields" disabled>' in page.text and 'value="save"' not in page.text
    assert viewer.post(URL, form_data(before, subject="Nope")).status_code == 403
    assert viewer.post(f"{URL}/autosave", form_data(before, subject="Nope")).status_code == 403
    assert viewer.post("/admin/issues/next-quarter").status_code == 403
    assert path.read_text(encoding="utf-8") == before


def test_field_errors_show_at_the_field_with_the_clis_message(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    answer = as_role(Role.editor).post(URL, form_data(before, **{"sections[1].limit": "lots"}))
    assert answer.status_code == 422
    assert 'id="f-sections-1-limit"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'id="sections-1-limit-error"' in answer.text
    assert "issues/2016-q4.toml:" in answer.text and "sections[1].limit: " in answer.text
    assert 'value="lots"' in answer.text  # what was typed is kept
    assert path.read_text(encoding="utf-8") == before


def test_a_save_over_a_change_made_meanwhile_is_refused_with_the_diff(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    submitted = form_data(before, subject="My subject")
    theirs = before.replace("limit = 4", "limit = 2")  # a text editor, or another person
    path.write_text(theirs, encoding="utf-8")
    answer = editor.post(URL, submitted)
    assert answer.status_code == 409
    assert path.read_text(encoding="utf-8") == theirs  # nothing written
    assert "-limit = 2" in answer.text and "+limit = 4" in answer.text
    assert "+subject = &#34;My subject&#34;" in answer.text
    assert 'name="text"' in answer.text and "My subject" in answer.text
    kept = revisions.draft(admin_engine, SLUG, editor.staff.id or 0)
    assert kept is not None and "My subject" in kept.text  # nothing lost
    merged = kept.text.replace("limit = 4", "limit = 2")
    answer = editor.post(URL, {"text": merged, "base_hash": kept.base_hash})
    assert answer.status_code == 303
    assert path.read_text(encoding="utf-8") == merged


def test_autosave_keeps_a_draft_and_never_touches_the_file(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    before = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    answer = editor.post(f"{URL}/autosave", form_data(before, intro="Half a thought\n"))
    assert answer.status_code == 200 and "draft" in answer.text
    assert path.read_text(encoding="utf-8") == before
    page = editor.get(URL)
    assert "You have unsaved changes from" in page.text
    restored = editor.get(f"{URL}?draft=restore")
    assert "Half a thought" in restored.text
    assert editor.post(f"{URL}/draft/discard").status_code == 303
    assert "You have unsaved changes" not in editor.get(URL).text
    assert path.read_text(encoding="utf-8") == before


def test_history_shows_the_diff_and_restores(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    path = unscheduled(admin_settings)
    original = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    assert editor.post(URL, form_data(original, subject="Second")).status_code == 303
    second = path.read_text(encoding="utf-8")
    assert editor.post(URL, form_data(second, subject="Third")).status_code == 303
    page = as_role(Role.viewer).get(f"{URL}/history")
    assert page.status_code == 200
    assert "+subject = &#34;Third&#34;" in page.text and "-subject = &#34;Second&#34;" in page.text
    assert "Restore revision" not in page.text  # a viewer cannot
    first = next(r for r in revisions.history(admin_engine, SLUG) if r.text == original)
    answer = editor.post(f"{URL}/history/{first.id}/restore", {"base_hash": _hash(path)})
    assert answer.status_code == 303
    assert path.read_text(encoding="utf-8") == original
    assert revisions.history(admin_engine, SLUG)[0].kind == "restored"
    stale = editor.post(f"{URL}/history/{first.id}/restore", {"base_hash": "0" * 64})
    assert stale.status_code == 409


def test_next_quarter_creates_the_file_and_opens_it(
    as_role: AsRole, admin_settings: Settings
) -> None:
    editor = as_role(Role.editor)
    answer = editor.post("/admin/issues/next-quarter")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/issues/2017-q1"
    data = tomllib.loads((admin_settings.issues_dir / "2017-q1.toml").read_text())
    assert data["quarter"] == "2017-Q1" and len(data["sections"]) == 3
    assert editor.get("/admin/issues/2017-q1").status_code == 200
    assert editor.post("/admin/issues/next-quarter").headers["location"].endswith("2017-q2")
    (admin_settings.issues_dir / "2017-q3.toml").write_text("not an issue")  # in the way
    refused = editor.post("/admin/issues/next-quarter")
    assert refused.status_code == 409 and "exists already" in refused.text


def test_pin_exclude_and_move_reach_the_saved_file(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = admin_settings.issues_dir / "2016-q3.toml"
    path.write_text(set_send_at(path.read_text(encoding="utf-8"), None), encoding="utf-8")
    url = "/admin/issues/2016-q3"
    editor = as_role(Role.editor)
    text = path.read_text(encoding="utf-8")
    fields = form_data(text)
    first, second = _going_out(editor.get(url).text, 2)
    third = _going_out(editor.get(url).text, 0)[0]
    page = editor.post(url, {**fields, "action": f"up:2:{second}"})  # no JavaScript: a page
    assert page.status_code == 200 and "Changed, not saved yet." in page.text
    assert path.read_text(encoding="utf-8") == text  # not saved yet
    assert f'name="sections[2].pin" value="{second}, {first}"' in page.text
    assert _going_out(page.text, 2) == [second, first]
    fields["sections[2].pin"] = f"{second}, {first}"
    page = editor.post(url, {**fields, "action": f"exclude:0:{third}"})
    assert f'name="sections[0].exclude" value="{third}"' in page.text
    assert third not in _going_out(page.text, 0)
    fields["sections[0].exclude"] = third
    page = editor.post(url, {**fields, "action": "search:2", "sections[2].search": "WORLD DAY"})
    assert 'value="pin:2:un-secretary-general-world-day-message"' in page.text
    assert editor.post(url, {**fields, "action": "save"}).status_code == 303
    saved = path.read_text(encoding="utf-8")
    assert tomllib.loads(saved)["sections"][2]["pin"] == [second, first]
    assert tomllib.loads(saved)["sections"][0]["exclude"] == [third]
    assert "# The Q3 2016 quarterly newsletter" in saved


def test_the_editor_is_locked_while_scheduled(as_role: AsRole, admin_settings: Settings) -> None:
    path = admin_settings.issues_dir / f"{SLUG}.toml"
    text = set_send_at(path.read_text(encoding="utf-8"), datetime(2030, 1, 1, 9, tzinfo=UTC))
    path.write_text(text, encoding="utf-8")
    editor = as_role(Role.editor)
    page = editor.get(URL)
    assert "Locked." in page.text and "scheduled to go out" in page.text
    assert 'value="save"' not in page.text
    assert editor.post(URL, form_data(text, subject="Sneaky")).status_code == 423
    assert path.read_text(encoding="utf-8") == text


def test_signed_out_and_unknown_issues(as_role: AsRole, anonymous: object) -> None:
    editor = as_role(Role.editor)
    assert editor.get("/admin/issues/no-such-issue").status_code == 404
    assert editor.get("/admin/issues/..%2Fnewsletter").status_code == 404


def _going_out(page: str, index: int) -> list[str]:
    """The slugs the picker shows going out in section ``index`` (their "Move up" buttons)."""
    start = page.index(f'id="section-{index}"')
    end = page.find('id="section-', start + 1)
    return [part.split('"')[0] for part in page[start:end].split(f'value="up:{index}:')[1:]]


def _hash(path: Path) -> str:
    return file_hash(path.read_text(encoding="utf-8"))


def test_a_file_broken_in_a_text_editor_opens_as_text_to_fix(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = unscheduled(admin_settings)
    good = path.read_text(encoding="utf-8")
    broken = good.replace('template = "quarterly"', 'template = "quarterly', 1)
    path.write_text(broken, encoding="utf-8")
    editor = as_role(Role.editor)
    page = editor.get(URL)
    assert page.status_code == 200 and 'name="text"' in page.text
    assert "TOML syntax error" in page.text and "issues/2016-q4.toml:" in page.text
    answer = editor.post(URL, {"text": good, "base_hash": file_hash(broken), "action": "save"})
    assert answer.status_code == 303 and path.read_text(encoding="utf-8") == good
