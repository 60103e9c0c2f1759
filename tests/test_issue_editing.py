"""The issue file as the dashboard edits it (issues/editing.py, saving.py, next_quarter.py,
picker.py): comments kept, the CLI's errors, no save over someone else's change, the next
quarter, the post picker."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import IssueFileError
from newsletter.issues import editing, picker, revisions
from newsletter.issues.build import build_issue
from newsletter.issues.filetext import file_hash, set_send_at
from newsletter.issues.next_quarter import create_next
from newsletter.issues.saving import Conflict, Saved, load_candidate, save
from tests.conftest import run_cli

COMMENTED = '''# Our Q4 issue: keep the tone warm.
title = "Quarterly update"   # shown at the top
subject = "Q4 news"
quarter = "2016-Q4"

intro = """
Dear friends,
"""

# Research first, always.
[[sections]]
title = "Research"
categories = ["research"]  # only research
limit = 3

[[sections]]
title = "From the blog"
categories = ["blog"]
order = "oldest"
'''


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_one_field_changed_changes_one_line_and_keeps_every_comment() -> None:
    form = editing.read_form(COMMENTED)
    assert editing.apply_form(COMMENTED, form) == COMMENTED
    edited = editing.apply_form(COMMENTED, editing.with_section_change(form, 0, limit="5"))
    assert changed_lines(COMMENTED, edited) == ["-limit = 3", "+limit = 5"]
    edited = editing.apply_form(COMMENTED, replace(form, subject="Q4 news, late"))
    assert changed_lines(COMMENTED, edited) == [
        '-subject = "Q4 news"',
        '+subject = "Q4 news, late"',
    ]
    assert "# Research first, always." in edited and "# only research" in edited


def test_hostile_text_round_trips_exactly() -> None:
    form = editing.read_form(COMMENTED)
    intro = 'Quotes """ inside, a backslash \\ and\n\nnew lines\n'
    edited = editing.apply_form(COMMENTED, replace(form, intro=intro, title='A "title"'))
    data = tomllib.loads(edited)
    assert data["intro"] == intro and data["title"] == 'A "title"'
    assert editing.read_form(edited).intro == intro


def test_the_form_submitted_by_a_browser_reads_back() -> None:
    fields = {
        "sections": "2",
        "title": "T",
        "subject": "S",
        "intro": "Line one\r\nLine two\r\n",
        "sections[0].origin": "1",
        "sections[0].title": "Blog first",
        "sections[0].categories": "blog, events,,",
        "sections[0].limit": " 4 ",
        "sections[0].order": "oldest",
        "sections[1].origin": "",
        "sections[1].title": "New",
        "sections[1].pin": "a\nb",
    }
    form = editing.from_fields(fields)
    assert form.intro == "Line one\nLine two\n"
    assert form.sections[0].categories == ["blog", "events"] and form.sections[0].limit == "4"
    assert form.sections[1].pin == ["a", "b"] and form.sections[1].origin is None
    text = editing.apply_form(COMMENTED, form)
    data = tomllib.loads(text)
    assert [s["title"] for s in data["sections"]] == ["Blog first", "New"]
    assert data["sections"][0]["order"] == "oldest"
    assert "# only research" not in text  # the research section's table went with it


def test_field_errors_are_the_clis(settings: Settings, synced: sa.Engine, project: Path) -> None:
    text = (project / "issues" / "2016-q4.toml").read_text(encoding="utf-8")
    form = editing.read_form(text)
    form = editing.with_section_change(form, 0, limit="ten", categories=["reserch"])
    candidate = editing.apply_form(text, replace(form, subject=""))
    with pytest.raises(IssueFileError) as caught:
        load_candidate(settings, synced, "2016-q4", candidate)
    (project / "issues" / "2016-q4.toml").write_text(candidate, encoding="utf-8")
    code, _, err = run_cli("check", "2016-q4")
    assert code == 1
    ours = caught.value.lines()
    assert {p.field for p in [caught.value, *caught.value.also]} >= {
        "subject",
        "sections[0].limit",
    }
    for line in ours:
        assert line in " ".join(err.split()) or line in err, (line, err)


def test_a_save_over_a_changed_file_is_refused_with_the_diff(
    settings: Settings, synced: sa.Engine, project: Path
) -> None:
    path = project / "issues" / "2016-q4.toml"
    started = path.read_text(encoding="utf-8")
    mine = editing.apply_form(started, replace(editing.read_form(started), subject="Mine"))
    theirs = started.replace("limit = 3\n", "limit = 2\n", 1)  # a text editor, meanwhile
    path.write_text(theirs, encoding="utf-8")
    outcome = save(
        settings, synced, "2016-q4", mine, base_hash=file_hash(started), author="a", staff_id=None
    )
    assert isinstance(outcome, Conflict)
    assert path.read_text(encoding="utf-8") == theirs
    assert (
        outcome.yours == mine
        and "-limit = 2" in outcome.diff
        and '+subject = "Mine"' in outcome.diff
    )
    assert revisions.history(synced, "2016-q4") == []
    again = save(
        settings, synced, "2016-q4", mine, base_hash=outcome.their_hash, author="a", staff_id=None
    )
    assert isinstance(again, Saved) and path.read_text(encoding="utf-8") == mine
    kinds = [r.kind for r in revisions.history(synced, "2016-q4")]
    assert kinds == ["saved", "external"]  # the version it replaced is kept too


def test_an_invalid_text_is_never_written(
    settings: Settings, synced: sa.Engine, project: Path
) -> None:
    path = project / "issues" / "2016-q4.toml"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(IssueFileError, match="limit"):
        save(
            settings,
            synced,
            "2016-q4",
            before.replace("limit = 3", "limit = 0", 1),
            base_hash=file_hash(before),
            author="a",
            staff_id=None,
        )
    assert path.read_text(encoding="utf-8") == before


def test_next_quarter_after_the_newest(
    settings: Settings, synced: sa.Engine, project: Path
) -> None:
    created = create_next(settings.issues_dir, synced, author="ed@example.org", staff_id=None)
    assert created.slug == "2017-q1" and created.path == settings.issues_dir / "2017-q1.toml"
    data = tomllib.loads(created.path.read_text(encoding="utf-8"))
    previous = tomllib.loads((project / "issues" / "2016-q4.toml").read_text(encoding="utf-8"))
    assert data["quarter"] == "2017-Q1" and "send_at" not in data
    assert data["template"] == previous["template"] and data["outro"] == previous["outro"]
    assert [s["title"] for s in data["sections"]] == [s["title"] for s in previous["sections"]]
    assert all("pin" not in s and "exclude" not in s for s in data["sections"])
    assert data["intro"] == "Dear friends and partners,\n"
    assert created.text.startswith("# The Q1 2017 quarterly newsletter")
    assert "January to March 2017" in data["title"]
    build = build_issue(settings, synced, "2017-q1")
    assert build.issue.since.astimezone(build.issue.zone).date().isoformat() == "2017-01-01"
    assert build.issue.until.astimezone(build.issue.zone).date().isoformat() == "2017-04-01"
    assert [r.kind for r in revisions.history(synced, "2017-q1")] == ["created"]
    with pytest.raises(IssueFileError, match="2017-q2"):  # the newest is now 2017-q1
        (settings.issues_dir / "2017-q2.toml").write_text("x", encoding="utf-8")
        create_next(settings.issues_dir, synced, author="ed", staff_id=None)


def test_the_picker_shows_what_the_build_selects(
    settings: Settings, synced: sa.Engine, project: Path
) -> None:
    text = set_send_at((project / "issues" / "2016-q3.toml").read_text(encoding="utf-8"), None)
    form = editing.read_form(text)
    form = editing.with_section_change(form, 2, limit="1")
    issue = load_candidate(settings, synced, "2016-q3", editing.apply_form(text, form))
    rows = picker.picker_rows(synced, issue)
    (project / "issues" / "2016-q3.toml").write_text(editing.apply_form(text, form))
    built = build_issue(settings, synced, "2016-q3")
    blog = [r for r in rows[2] if r.goes_out]
    assert len(blog) == 1 and any(r.mark == "below_limit" for r in rows[2])
    assert [r.mark for r in rows[1]][:1] == ["pinned"]
    assert blog[0].title in built.compiled.html
    for row in rows[2]:
        if row.mark == "below_limit":
            assert row.title not in built.compiled.html


def test_moving_a_post_pins_the_new_order() -> None:
    assert picker.moved(["a", "b", "c", "d"], "c", -1) == ["a", "c", "b"]
    assert picker.moved(["a", "b", "c"], "a", 1) == ["b", "a"]
    assert picker.moved(["a", "b"], "a", -1) is None


def test_search_finds_any_post_by_title_or_slug(synced: sa.Engine) -> None:
    found = picker.search(synced, "FORCED marriage")
    assert found and all("forced" in (f.title + f.slug).lower() for f in found)
    assert picker.search(synced, "%") == [] or all(
        "%" in f.title for f in picker.search(synced, "%")
    )
    dates = [f.published_at for f in picker.search(synced, "a")]
    assert dates == sorted(dates, reverse=True) and len(dates) <= picker.SEARCH_LIMIT
