"""What the README promises staff, the tool does: `check` fails an http:// image and an image
without alt text, and the walkthrough never overwrites an issue file that exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_check_fails_an_http_image_and_missing_alt_text(project: Path, synced):
    post = project / "content" / "annual-report-2015.md"
    text = re.sub(r"\nimage_alt:.*", "", post.read_text())
    post.write_text(text.replace("image: https://", "image: http://"))
    code, _, err = run_cli("content", "sync")
    assert code == 0, err
    code, out, err = run_cli("check", "2016-q3")
    assert code == 1, out
    assert "is not https://" in err and "has no alt text" in err


def test_the_walkthrough_does_not_overwrite_an_existing_issue_file():
    readme = (ROOT / "README.md").read_text()
    walkthrough = readme[readme.index("## For communications staff") :]
    walkthrough = walkthrough[: walkthrough.index("\n## ", 1)]
    copies = re.findall(r"cp -n issues/([\w.-]+) issues/([\w.-]+)", walkthrough)
    assert copies, "the walkthrough should say how to start a new issue file"
    for source, target in copies:
        assert (ROOT / "issues" / source).exists()
        assert not (ROOT / "issues" / target).exists(), f"the README overwrites issues/{target}"
