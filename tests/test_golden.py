"""The compiled sample issues match the golden files byte for byte (`make golden` rewrites them)."""

from __future__ import annotations

import os

import pytest

from tests.golden import FILES, GOLDEN, ISSUES, build_sample


@pytest.mark.parametrize("issue", ISSUES)
def test_sample_issue_matches_golden_files(issue, tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("NEWSLETTER_") and key != "NEWSLETTER_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    build_sample(issue, tmp_path)
    for name in FILES:
        expected = (GOLDEN / issue / name).read_text(encoding="utf-8")
        actual = (tmp_path / name).read_text(encoding="utf-8")
        assert actual == expected, (
            f"{issue}/{name} differs from the golden file; run `make golden` if intended"
        )
