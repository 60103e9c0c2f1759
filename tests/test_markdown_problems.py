"""Markdown posts with mistakes: every bad file named in one run (file:line, field, plain words),
the good posts beside them still imported, exit 1 listing what was skipped."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli

GOOD = (
    "---\ntitle: Fine\ndate: 2016-08-01\nurl: https://mpat.example.org/2016/08/{name}/\n---\nBody\n"
)


def _post(project: Path, name: str, text: str) -> None:
    (project / "content" / f"{name}.md").write_text(text, encoding="utf-8")


def _slugs() -> list[str]:
    code, out, _ = run_cli("content", "list", "--format", "json")
    assert code == 0
    return sorted(row["slug"] for row in json.loads(out))


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_every_bad_file_is_named_and_the_good_ones_are_still_imported(project):
    _post(project, "a-good-one", GOOD.format(name="a-good-one"))
    _post(
        project,
        "b-typo",
        "---\ntitle: Typo\ndate: 2016-08-01\nurl: https://x.org/b/\ncategroies: [news]\n"
        "---\nBody\n",
    )
    _post(
        project,
        "c-unclosed",
        "---\ntitle: Unclosed\ndate: 2016-08-01\nurl: https://x.org/c/\nBody\n",
    )
    _post(
        project,
        "d-colon",
        "---\ntitle: COMMIT: a workshop\ndate: 2016-08-01\nurl: https://x.org/d/\n---\nBody\n",
    )
    _post(
        project,
        "e-several",
        "---\ntitle: Several\ndate: sometime in spring\nurl: /relative/\n---\nBody\n",
    )
    code, out, err = run_cli("content", "sync")
    assert code == 1
    assert _errors(err) == [
        "error: content/b-typo.md:5: categroies: unknown key 'categroies' (did you mean "
        "'categories'?)",
        "error: content/c-unclosed.md:1: the header that starts on line 1 has no closing '---' "
        "line",
        "error: content/d-colon.md:2: title: the header is not valid YAML: mapping values are not "
        'allowed in this context (a colon inside the value: quote the title: title: "COMMIT: a workshop")',
        "error: content/e-several.md:3: date: 'sometime in spring' is not a date: write "
        "2016-10-27, or 2016-10-27T10:00:00+07:00 with the time",
        "error: content/e-several.md:4: url: '/relative/' is not an absolute address: write "
        "https://...",
    ]
    assert "markdown: 11 new, 0 updated, 0 unchanged" in out
    assert (
        "markdown: 4 files skipped (fix them and sync again): b-typo.md, c-unclosed.md, "
        "d-colon.md, e-several.md" in err
    )
    for raw in ("Field required", "Extra inputs", "Input should", "Value error"):
        assert raw not in err
    assert "a-good-one" in _slugs() and len(_slugs()) == 11


def test_a_file_that_fails_later_keeps_its_stored_post_even_with_prune(project):
    _post(project, "kept", GOOD.format(name="kept"))
    assert run_cli("content", "sync")[0] == 0
    _post(project, "kept", "---\ntitle: Kept\ndate: 2016-08-01\n---\nBody\n")  # url removed
    code, _, err = run_cli("content", "sync", "--prune")
    assert code == 1
    assert _errors(err) == ["error: content/kept.md:1: url: required key is missing"]
    assert "kept" in _slugs()


def test_a_file_without_a_header_says_so(project):
    _post(project, "no-header", "Just some text\n")
    code, _, err = run_cli("content", "sync")
    assert code == 1
    assert _errors(err) == [
        "error: content/no-header.md:1: no header: a post starts with a '---' line, then title, "
        "date and url, then '---'"
    ]
