"""issues.deferred: premailer is imported without requests, and requests still works for
whoever uses it later in the same process (a fresh process each: this one has requests)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import newsletter.issues.compiler
from newsletter.deferred import DeferredModule
stand_in = sys.modules["requests"]
assert isinstance(stand_in, DeferredModule), type(stand_in)
assert "urllib3" not in sys.modules and "http.cookiejar" not in sys.modules
import premailer.premailer
assert premailer.premailer.requests is stand_in
from requests import Session          # a name from it: the real module is imported
import requests
import requests.adapters              # a submodule of it
assert type(sys.modules["requests"]).__name__ == "module"
assert requests is sys.modules["requests"]
assert stand_in.get is requests.get   # who held the stand-in sees the real functions
assert requests.adapters.HTTPAdapter and Session is requests.Session
import newsletter.config                # pydantic-settings without asyncio
assert isinstance(sys.modules["asyncio"], DeferredModule)
import asyncio
async def answer():
    return 42
assert asyncio.run(answer()) == 42      # the real asyncio, on first use
assert type(sys.modules["asyncio"]).__name__ == "module"
print("ok")
"""

ALREADY = """
import sys
import requests
import newsletter.issues.compiler
assert sys.modules["requests"] is requests  # imported before: left alone
print("ok")
"""


def test_requests_is_imported_on_first_use() -> None:
    for code in (CHECK, ALREADY):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok"
