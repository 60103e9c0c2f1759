"""Preview: a real HTTP server that rebuilds on change, and screenshots from headless Chromium."""

from __future__ import annotations

import struct
import time
import urllib.request
from pathlib import Path

import pytest

from newsletter.issues.preview import PreviewServer
from tests.conftest import run_cli


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode("utf-8")


def _wait_for_new_version(base: str, old: str, seconds: float = 15.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        version = _get(base + "/__version")
        if version != old:
            return version
        time.sleep(0.1)
    raise AssertionError("no rebuild")


@pytest.fixture
def preview(settings, synced):
    server = PreviewServer(settings, synced, "2016-q3")
    host, port = server.start("127.0.0.1", 0)
    yield server, f"http://{host}:{port}"
    server.stop()


def test_preview_serves_and_rebuilds_on_issue_template_and_post_changes(preview, project: Path):
    _, base = preview
    page = _get(base + "/")
    assert "Quarterly update: July to September 2016" in page
    assert "/__version" in page  # the reload script, in the preview only
    assert "Research\n--------" in _get(base + "/index.txt")

    version = _get(base + "/__version")
    issue = project / "issues" / "2016-q3.toml"
    issue.write_text(issue.read_text().replace("Quarterly update: July", "Edited update: July"))
    version = _wait_for_new_version(base, version)
    assert "Edited update: July" in _get(base + "/")

    footer = project / "templates" / "partials" / "footer.mjml.j2"
    footer.write_text(
        footer.read_text().replace("You receive this newsletter", "You get this newsletter")
    )
    version = _wait_for_new_version(base, version)
    assert "You get this newsletter" in _get(base + "/")

    post = project / "content" / "annual-report-2015.md"
    post.write_text(
        post.read_text().replace(
            'title: "MPAT 2015 Annual Report"', 'title: "Annual Report, 2015 edition"'
        )
    )
    version = _wait_for_new_version(base, version)
    assert "Annual Report, 2015 edition" in _get(base + "/")

    issue.write_text(issue.read_text().replace('quarter = "2016-Q3"', 'quarter = "2016-Q7"'))
    _wait_for_new_version(base, version)
    page = _get(base + "/")
    assert "Build failed" in page and "not a quarter" in page


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.browser
def test_png_screenshots_at_600_and_375(project, synced):
    code, out, err = run_cli("preview", "2016-q3", "--png", "shots")
    assert code == 0, err
    wide, narrow = project / "shots" / "2016-q3-600.png", project / "shots" / "2016-q3-375.png"
    width, height = _png_size(wide)
    assert width == 600 and height > 1500  # the whole email, not one screen
    width, height = _png_size(narrow)
    assert width == 375 and height > 1500
    assert "wrote" in out


def _save_atomically(path: Path, text: str) -> None:
    """Save as vim, gedit, Kate and JetBrains do: write a new file, rename it over the old."""
    temp = path.with_name(path.name + ".tmp~")
    temp.write_text(text)
    temp.replace(path)


def _wait_for_page(base: str, wanted: str, seconds: float = 30.0) -> str:
    """Poll the served page until ``wanted`` shows (a liveness wait, not a speed test)."""
    deadline = time.monotonic() + seconds
    page = ""
    while time.monotonic() < deadline:
        page = _get(base + "/")
        if wanted in page:
            return page
        time.sleep(0.1)
    raise AssertionError(f"the preview never showed {wanted!r}; last page: {page[:300]}")


def test_preview_keeps_watching_through_rename_saves_and_a_failed_build(preview, project: Path):
    _, base = preview
    issue = project / "issues" / "2016-q3.toml"
    original = issue.read_text()
    _get(base + "/")  # the server answers (start() returns once the watch is in place)
    for n in range(1, 4):  # several renames: each replaces the file the watcher last saw
        _save_atomically(issue, original.replace("Quarterly update: July", f"Save {n}: July"))
        _wait_for_page(base, f"Save {n}: July")

    _save_atomically(issue, original.replace('quarter = "2016-Q3"', 'quarter = "2016-Q7"'))
    assert "not a quarter" in _wait_for_page(base, "Build failed")
    _save_atomically(issue, original.replace("Quarterly update: July", "Fixed: July"))
    page = _wait_for_page(base, "Fixed: July")
    assert "Build failed" not in page

    footer = project / "templates" / "partials" / "footer.mjml.j2"
    _save_atomically(footer, footer.read_text().replace("You receive this", "You get this"))
    _wait_for_page(base, "You get this newsletter")


def test_preview_on_a_busy_port_is_one_line(project, synced):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli("preview", "2016-q3", "--port", str(port))
    assert code == 1
    assert f"port {port}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
