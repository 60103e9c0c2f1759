"""Issue files: selection of posts, and clear errors for every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.content.reading import PostReader
from newsletter.errors import IssueFileError
from newsletter.issues.file import Issue, load_issue
from newsletter.issues.selection import select_sections
from tests.conftest import run_cli


def _load(settings: Settings, ref: str = "2016-q3") -> Issue:
    return load_issue(
        ref,
        issues_dir=settings.issues_dir,
        templates_dir=settings.templates_dir,
        default_zone=settings.timezone,
    )


def _selected(engine, issue) -> dict[str, list[str]]:
    with PostReader.of_engine(engine) as posts:
        return {s.spec.title: [p.slug for p in s.posts] for s in select_sections(posts, issue)}


def test_q3_and_q4_select_different_non_empty_sets(synced, settings):
    q3 = _selected(synced, _load(settings, "2016-q3"))
    q4 = _selected(synced, _load(settings, "2016-q4"))
    q3_posts = {slug for slugs in q3.values() for slug in slugs}
    q4_posts = {slug for slugs in q4.values() for slug in slugs}
    assert q3_posts and q4_posts and not q3_posts & q4_posts
    assert q3 == {
        "Research": ["results-at-a-glance", "annual-report-2015"],
        "News and events": ["un-secretary-general-world-day-message", "thai-pbs-nepal-documentary"],
        "From the blog": [
            "global-effort-against-trafficking-blog",
            "thai-criminal-law-trafficking-blog",
        ],
    }


def test_quarter_boundaries_follow_the_issue_time_zone(settings, synced):
    issue = _load(settings)
    assert issue.since.isoformat() == "2016-06-30T17:00:00+00:00"  # 1 July, 00:00 in Bangkok
    assert issue.until.isoformat() == "2016-09-30T17:00:00+00:00"
    assert issue.period_label == "July–September 2016"
    assert issue.send_at is not None and issue.send_at.isoformat() == "2016-10-04T02:00:00+00:00"


def _write(project: Path, body: str, name: str = "custom.toml") -> Path:
    path = project / "issues" / name
    path.write_text(body)
    return path


BASE = 'title = "T"\nsubject = "S"\npreheader = "P"\n'


def test_pin_limit_order_exclude_and_explicit_dates(project, settings, synced):
    _write(
        project,
        BASE
        + "from = 2016-07-01\nuntil = 2016-11-30\n"
        + '[[sections]]\ntitle = "All"\nlimit = 2\norder = "oldest"\n'
        + 'pin = ["forced-marriage-cambodia-china"]\nexclude = ["annual-report-2015"]\n'
        + '[[sections]]\ntitle = "Blogs by title"\ncategories = ["blog"]\norder = "title"\n',
    )
    selected = _selected(synced, _load(settings, "custom"))
    assert selected["All"] == [
        "forced-marriage-cambodia-china",  # pinned first
        "global-effort-against-trafficking-blog",  # then the oldest, annual report excluded
    ]  # limit 2 counts the pinned post
    assert selected["Blogs by title"] == [
        "climate-displacement-trafficking-blog",
        "thai-criminal-law-trafficking-blog",
    ]  # the global effort blog is already in "All"


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        (
            BASE + 'quarter = "2016-Q3"\n[[sections]]\ntitle = "A"\nlimit = \n',
            7,
            "sections[0].limit",
            "TOML syntax",
        ),
        (
            BASE
            + 'quarter = "2016-Q3"\n[[sections]]\ntitle = "A"\n[[sections]]\ntitle = "B"\nlimt = 3\n',
            9,
            "sections[1].limt",
            "unknown key 'limt'",
        ),
        (
            BASE + 'quarter = "2016-Q3"\n[[sections]]\ntitle = "A"\nlimit = "three"\n',
            7,
            "sections[0].limit",
            "integer",
        ),
        (BASE + 'quarter = "2016-Q5"\n[[sections]]\ntitle = "A"\n', 4, "quarter", "not a quarter"),
        (
            BASE + 'quarter = "2016-Q3"\ntemplate = "monthly"\n[[sections]]\ntitle = "A"\n',
            5,
            "template",
            "does not exist",
        ),
        (
            BASE + 'quarter = "2016-Q3"\nsubjekt = "x"\n[[sections]]\ntitle = "A"\n',
            5,
            "subjekt",
            "unknown key",
        ),
        (
            'title = "T"\nsubject = "Hi\\r\\nBcc: x@evil.example"\nquarter = "2016-Q3"\n'
            '[[sections]]\ntitle = "A"\n',
            2,
            "subject",
            "one line",
        ),
        (
            'title = "T"\npreheader = "P"\nquarter = "2016-Q3"\n[[sections]]\ntitle = "A"\n',
            None,
            "subject",
            "missing",
        ),
    ],
)
def test_bad_issue_files_name_file_line_and_field(project, settings, body, line, field, words):
    path = _write(project, body)
    with pytest.raises(IssueFileError) as caught:
        _load(settings, str(path))
    error = caught.value
    assert error.path == path
    assert error.line == line
    assert error.field == field
    assert words in str(error)


def test_pinned_slug_missing_from_store(project, settings, synced):
    _write(
        project, BASE + 'quarter = "2016-Q3"\n\n[[sections]]\ntitle = "A"\npin = ["no-such-post"]\n'
    )
    with pytest.raises(IssueFileError) as caught:
        _selected(synced, _load(settings, "custom"))
    assert caught.value.line == 8 and caught.value.field == "sections[0].pin"
    assert "'no-such-post' is not in the content store" in str(caught.value)


def test_cli_reports_bad_file_in_one_line_with_exit_1(project, synced):
    _write(project, BASE + 'quarter = "2016-Q5"\n[[sections]]\ntitle = "A"\n')
    code, out, err = run_cli("build", "custom")
    assert code == 1
    assert err.strip().splitlines() == [
        "error: issues/custom.toml:4: quarter: '2016-Q5' is not a quarter: write YYYY-Qn with n "
        "from 1 to 4"
    ]
    assert "Traceback" not in out + err


def test_unknown_issue_lists_the_known_ones(project, synced):
    code, _, err = run_cli("check", "2016-q9")
    assert code == 1
    assert "no such issue file" in err and "2016-q3, 2016-q4" in err
