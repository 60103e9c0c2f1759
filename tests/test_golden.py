"""The compiled sample issues match the golden files byte for byte (`make golden` rewrites them)."""

from __future__ import annotations

import pytest

from tests.conftest import clear_settings_env
from tests.golden import FILES, GOLDEN, ISSUES, build_sample


@pytest.mark.parametrize("issue", ISSUES)
def test_sample_issue_matches_golden_files(issue, tmp_path, monkeypatch):
    clear_settings_env(monkeypatch)
    build_sample(issue, tmp_path)
    for name in FILES:
        expected = (GOLDEN / issue / name).read_text(encoding="utf-8")
        actual = (tmp_path / name).read_text(encoding="utf-8")
        assert actual == expected, (
            f"{issue}/{name} differs from the golden file; run `make golden` if intended"
        )
