"""Issue files that would break links or crash a command: a name that is not a slug, bytes that
are not UTF-8, dates out of range. Each is one line naming the file (and line and field where
there is one), exit 1, no traceback, from every command that reads issue files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.issues.preview import PreviewServer
from tests.conftest import run_cli

SECRET = "test-secret-key-for-signing-links-0123456789"
SAMPLE = "2016-q3"


def _one_line_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 1
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)


def _soon_due(text: str) -> str:
    """The sample issue, due a minute ago."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [line for line in text.splitlines() if not line.startswith("send_at")]
    return "\n".join([f"send_at = {at}", *lines]) + "\n"


@pytest.mark.parametrize("name", ["My Issue", "Q4", "2016 q4", "issue!"])
def test_a_file_name_that_is_not_a_slug_is_refused_everywhere(project, synced, secret, name):
    source = (project / "issues" / f"{SAMPLE}.toml").read_text(encoding="utf-8")
    path = project / "issues" / f"{name}.toml"
    path.write_text(_soon_due(source), encoding="utf-8")
    for command in (
        ["build", name],
        ["check", name],
        ["send", name, "--yes"],
        ["send", name, "--test", "proof@example.org"],
        ["preview", name, "--png", "shots"],
    ):
        code, out, err = run_cli(*command)
        _one_line_error(code, out, err, f"{name}.toml", "is not a slug")
    code, out, err = run_cli("send-due")
    assert code == 1 and "Traceback" not in out + err
    assert f"{name}.toml" in err and "is not a slug" in err
    assert not list((project / "outbox").glob("*.eml"))  # nothing went out with broken links
    assert "is not a slug" in preview_error(synced, name)


def preview_error(engine: sa.Engine, ref: str) -> str:
    """What ``newsletter preview`` shows in the page (the server keeps running)."""
    return PreviewServer(Settings(), engine, ref).error


def test_an_issue_file_that_is_not_utf8(project, synced, secret):
    source = (project / "issues" / f"{SAMPLE}.toml").read_text(encoding="utf-8")
    latin = _soon_due(source).replace('title = "Quarterly', 'title = "Café quarterly', 1)
    (project / "issues" / f"{SAMPLE}.toml").write_bytes(latin.encode("latin-1"))
    line = latin.splitlines().index(next(x for x in latin.splitlines() if "Café" in x)) + 1
    where = f"{SAMPLE}.toml:{line}: title: not UTF-8"
    for command in (
        ["build", SAMPLE],
        ["check", SAMPLE],
        ["send", SAMPLE, "--yes"],
        ["preview", SAMPLE, "--png", "shots"],
    ):
        code, out, err = run_cli(*command)
        _one_line_error(code, out, err, where)
    code, out, err = run_cli("send-due")  # it is due: its problem is named, nothing crashes
    assert code == 1 and "Traceback" not in out + err and where in err
    assert where in preview_error(synced, SAMPLE)


def test_a_byte_order_mark_is_fine(project, synced):
    path = project / "issues" / f"{SAMPLE}.toml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, _, err = run_cli("check", SAMPLE)
    assert code == 0, err


PERIOD = 'title = "T"\nsubject = "S"\npreheader = "P"\n'
SECTION = '[[sections]]\ntitle = "A"\n'


@pytest.mark.parametrize(
    ("lines", "where", "words"),
    [
        (
            "from = 0000-01-01\nuntil = 2016-09-30\n",
            ":4: from:",
            "'0000-01-01' is not a valid date",
        ),
        ("from = 2016-13-01\nuntil = 2016-12-31\n", ":4: from:", "'2016-13-01' is not a valid"),
        ("from = 10000-01-01\nuntil = 2016-12-31\n", ":4: from:", "not a valid date"),
        ("from = 0001-01-01\nuntil = 2016-12-31\n", ":4: from:", "year 1 is out of range"),
        ("from = 2016-01-01\nuntil = 9999-12-31\n", ":5: until:", "year 9999 is out of range"),
        ('quarter = "0000-Q1"\n', ":4: quarter:", "year 0 is out of range"),
        ('quarter = "9999-Q4"\n', ":4: quarter:", "year 9999 is out of range"),
        ("from = 2016-09-30\nuntil = 2016-07-01\n", ":5: until:", "is before from"),
        (
            'quarter = "2016-Q3"\nsend_at = 0001-01-01T00:00:00+07:00\n',
            ":5: send_at:",
            "year 1 is out of range",
        ),
        ('quarter = "2016-Q3"\nfrom = 2016-07-01\n', ":5: from:", "not both"),
        ("from = 2016-07-01\n", "dates.toml: until:", "both from and until"),
    ],
)
def test_dates_out_of_range_name_file_line_and_field(project, synced, secret, lines, where, words):
    (project / "issues" / "dates.toml").write_text(PERIOD + lines + SECTION, encoding="utf-8")
    for command in (["build", "dates"], ["check", "dates"], ["send", "dates", "--yes"]):
        code, out, err = run_cli(*command)
        _one_line_error(code, out, err, "dates.toml", where, words)
    code, out, err = run_cli("send-due")  # a broken draft blocks nothing and crashes nothing
    assert "Traceback" not in out + err
