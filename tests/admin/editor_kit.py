"""Helpers of the editor tests: an issue that is not scheduled, and the editor's form as a
browser would submit it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.issues import editing
from newsletter.issues.filetext import file_hash, set_send_at

SLUG = "2016-q4"


def unscheduled(settings: Settings, slug: str = SLUG) -> Path:
    """The sample issue without its ``send_at`` (scheduled issues are locked)."""
    path = settings.issues_dir / f"{slug}.toml"
    path.write_text(set_send_at(path.read_text(encoding="utf-8"), None), encoding="utf-8")
    return path


def form_data(text: str, **changes: Any) -> dict[str, str]:
    """The fields the editor page submits for ``text``, with ``changes`` (by field name)."""
    fields = editing.to_fields(editing.read_form(text))
    return {"base_hash": file_hash(text), **fields, **changes}


def frame_src(html: str) -> str:
    found = re.search(r'<iframe sandbox="[^"]*" src="([^"]+)"', html)
    assert found, "no preview frame"
    return found.group(1)
