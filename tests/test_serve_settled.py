"""``newsletter serve`` hands what it built at start to ``gc.freeze`` (``web.server.settled``):
a full collection while serving then looks only at what requests made. In a fresh process (a
freeze is for the whole process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CODE = """
import gc
from newsletter.web.server import app_from_environment
before = gc.get_freeze_count()
app = app_from_environment()
assert before == 0 and gc.get_freeze_count() > 10_000, gc.get_freeze_count()
print("ok")
"""


def test_a_worker_freezes_what_it_built(project: Path) -> None:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "test-secret-test-secret-test-secret"}
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
