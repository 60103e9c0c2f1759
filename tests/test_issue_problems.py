"""Issue files that would go wrong silently: misspelt slugs, categories and tags, several
problems at once, dates that TOML or a person reads differently. Through the CLI, on every
database backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

HEAD = 'title = "T"\nsubject = "S"\npreheader = "P"\nquarter = "2016-Q3"\n'


def _write(project: Path, body: str, name: str = "custom.toml") -> Path:
    path = project / "issues" / name
    path.write_text(body, encoding="utf-8")
    return path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("command", [["build", "custom"], ["check", "custom"]])
def test_misspelt_exclude_is_an_error_with_the_closest_slug(project, synced, command):
    _write(
        project,
        HEAD + '\n[[sections]]\ntitle = "Research"\ncategories = ["research"]\n'
        'exclude = ["anual-report-2015"]\n',
    )
    code, out, err = run_cli(*command)
    assert code == 1, out + err
    assert _errors(err) == [
        "error: issues/custom.toml:9: sections[0].exclude: excluded post 'anual-report-2015' "
        "is not in the content store (did you mean 'annual-report-2015'?)"
    ]
    assert not (project / "build" / "custom").exists()


def test_send_refuses_a_misspelt_pin_and_writes_nothing(project, synced):
    _write(
        project,
        HEAD + '[[sections]]\ntitle = "A"\npin = [\n  "annual-report-2015",\n'
        '  "results-at-a-glanse",\n]\n',
    )
    code, _out, err = run_cli("send", "custom", "--yes")
    assert code == 1
    assert _errors(err) == [
        "error: issues/custom.toml:9: sections[0].pin: pinned post 'results-at-a-glanse' is not "
        "in the content store (did you mean 'results-at-a-glance'?)"
    ]  # the line of the slug itself, inside a list over several lines
    assert not (project / "outbox").exists() or not any((project / "outbox").iterdir())


def test_category_in_the_wrong_case_is_suggested_and_the_existing_ones_listed(project, synced):
    _write(project, HEAD + '[[sections]]\ntitle = "R"\ncategories = ["Research"]\n')
    code, _, err = run_cli("check", "custom")
    assert code == 1
    (line,) = _errors(err)
    assert line.startswith(
        "error: issues/custom.toml:7: sections[0].categories: no post in the content store has "
        "the category 'Research' (did you mean 'research'?"
    )
    assert "the categories are: blog, events, research, updates" in line


def test_unknown_tag_and_a_tag_used_as_category(project, synced):
    _write(
        project,
        HEAD + '[[sections]]\ntitle = "A"\ncategories = ["thailand"]\n'
        '[[sections]]\ntitle = "B"\ntags = ["no-such-tag-at-all"]\n',
    )
    code, _, err = run_cli("build", "custom")
    assert code == 1
    first, second = _errors(err)
    assert "sections[0].categories: no post in the content store has the category 'thailand' " in (
        first
    )
    assert "'thailand' is a tag: put it in tags" in first
    assert second.startswith(
        "error: issues/custom.toml:10: sections[1].tags: no post in the content store has the "
        "tag 'no-such-tag-at-all'; the tags are: annual-report, cambodia,"
    )


def test_a_category_with_no_post_in_the_period_is_only_a_warning(project, synced):
    _write(
        project,
        HEAD + '[[sections]]\ntitle = "A"\ncategories = ["blog"]\n'
        '[[sections]]\ntitle = "E"\ntags = ["forced-marriage"]\n',
    )  # a Q4 post's tag
    code, _, err = run_cli("check", "custom")
    assert code == 0, err
    assert "section 'E' selects no posts" in err


def test_every_problem_of_a_file_is_listed_with_line_and_field(project, synced):
    _write(
        project,
        'title = "T"\nsubject = "S"\nquarter = "2016-Q5"\ntemplate = "monthly"\n'
        '[[sections]]\ntitle = "A"\nlimt = 3\norder = "newest-first"\n'
        'exclude = ["anual-report-2015"]\n'
        '[[sections]]\ntitle = "B"\ncategroies = ["blog"]\nlimit = "three"\n',
    )
    code, _out, err = run_cli("check", "custom")
    assert code == 1
    assert _errors(err) == [
        "error: issues/custom.toml:3: quarter: '2016-Q5' is not a quarter: write YYYY-Qn with n "
        "from 1 to 4",
        "error: issues/custom.toml:4: template: template templates/monthly.mjml.j2 does not exist",
        "error: issues/custom.toml:7: sections[0].limt: unknown key 'limt' (did you mean 'limit'?)",
        "error: issues/custom.toml:8: sections[0].order: 'newest-first' is not one of 'newest', "
        "'oldest' or 'title'",
        "error: issues/custom.toml:9: sections[0].exclude: excluded post 'anual-report-2015' is "
        "not in the content store (did you mean 'annual-report-2015'?)",
        "error: issues/custom.toml:12: sections[1].categroies: unknown key 'categroies' (did you "
        "mean 'categories'?)",
        "error: issues/custom.toml:13: sections[1].limit: must be a whole number (an integer), "
        "not 'three'",
    ]
    assert "more problems" not in err and "Extra inputs" not in err and "Input should" not in err


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2017-01-10 09:00", "'2017-01-10 09:00' is not a date and time TOML can read"),
        ("2017-01-10T09:00+07:00", "'2017-01-10T09:00+07:00' is not a date and time TOML"),
        ("2017-01-10", "2017-01-10 has no time of day (it would be midnight)"),
        ('"2017-01-10 09:00"', "'2017-01-10 09:00' is not a TOML date and time"),
    ],
)
def test_send_at_needs_a_full_toml_date_and_time_and_shows_the_forms(project, synced, value, words):
    _write(project, HEAD + f'send_at = {value}\n[[sections]]\ntitle = "A"\n')
    code, _, err = run_cli("check", "custom")
    assert code == 1
    (line,) = _errors(err)
    assert line.startswith("error: issues/custom.toml:5: send_at: ")
    assert words in line
    assert (
        "send_at = 2017-01-10T09:00:00+07:00" in line and "send_at = 2017-01-10T09:00:00 " in line
    )


def test_send_at_without_offset_is_in_the_issue_timezone(project, synced):
    _write(
        project,
        HEAD + 'timezone = "Europe/Paris"\nsend_at = 2017-01-10T09:00:00\n'
        '[[sections]]\ntitle = "A"\n',
    )
    code, _out, err = run_cli("build", "custom")
    assert code == 0, err
    meta = json.loads((project / "build" / "custom" / "issue.json").read_text())
    assert meta["send_at"] == "2017-01-10T08:00:00+00:00"


def test_quarter_in_lower_case_selects_the_same_posts(project, synced):
    _write(
        project, HEAD.replace("2016-Q3", "2016-q3") + '[[sections]]\ntitle = "A"\n', "lower.toml"
    )
    _write(project, HEAD + '[[sections]]\ntitle = "A"\n', "upper.toml")
    counts = []
    for slug in ("lower", "upper"):
        code, out, err = run_cli("build", slug)
        assert code == 0, err
        counts.append(out.splitlines()[0].split(": ")[1])
    assert counts == ["6 posts", "6 posts"]


def test_until_is_inclusive_in_issue_files_and_content_list(project, synced):
    # the last post of the third quarter is published on 2016-09-20 (Bangkok time)
    _write(
        project,
        'title = "T"\nsubject = "S"\npreheader = "P"\nfrom = 2016-09-01\nuntil = 2016-09-20\n'
        '[[sections]]\ntitle = "A"\n',
    )
    code, out, err = run_cli("build", "custom")
    assert code == 0, err
    assert out.startswith("built custom: 2 posts")  # 8 and 20 September
    code, out, _ = run_cli(
        "content", "list", "--since", "2016-09-01", "--until", "2016-09-20", "--format", "json"
    )
    assert code == 0
    assert [row["slug"] for row in json.loads(out)] == [
        "thai-criminal-law-trafficking-blog",
        "thai-pbs-nepal-documentary",
    ]


def test_content_list_never_cuts_a_slug_in_a_narrow_terminal(project, synced, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = run_cli("content", "list")
    assert code == 0
    for slug in (
        "un-secretary-general-world-day-message",
        "commit-workshop-victim-identification",
        "global-effort-against-trafficking-blog",
    ):
        assert slug in out, out
    assert "…" not in out


def test_send_due_reads_a_local_send_at_in_the_issue_timezone_as_build_does(project, synced):
    from zoneinfo import ZoneInfo

    from newsletter.issues.file import scheduled_send_at

    path = _write(
        project,
        HEAD
        + 'timezone = "Europe/Paris"\nsend_at = 2017-01-10T09:00:00\n[[sections]]\ntitle = "A"\n',
    )
    at = scheduled_send_at(path, ZoneInfo("Asia/Bangkok"))
    assert at is not None and at.isoformat() == "2017-01-10T08:00:00+00:00"
    _write(project, HEAD + 'send_at = 2017-01-10\n[[sections]]\ntitle = "A"\n')
    assert scheduled_send_at(path, ZoneInfo("Asia/Bangkok")) is None  # no time: not scheduled
