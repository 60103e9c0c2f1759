"""One rule for mistakes, as the README states it: a command called wrongly (a missing argument,
an unknown option or command, a value of the wrong form) exits 2 with Click's usage message on
stderr and no traceback; everything else the tool refuses exits 1 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("send",), "Missing argument 'issue'"),
        (("send-due", "--bogus"), "No such option: --bogus"),
        (("sendd",), "No such command 'sendd'"),
        (("report", "2016-q3", "--format", "xml"), "Invalid value for '--format'"),
        (("schedule", "2016-q3", "--at", "next tuesday"), "Invalid value for '--at'"),
    ],
)
def test_a_usage_error_exits_2_with_the_usage_message(clean_env, args, says):
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Usage: ") and says in done.stderr
    assert "--help' for help" in done.stderr and "Traceback" not in done.stderr


def test_our_own_errors_exit_1_with_one_line(project):
    code, out, err = run_cli("report", "no-such-issue")
    assert (code, out, err.count("\n")) == (1, "", 1) and err.startswith("error: ")
