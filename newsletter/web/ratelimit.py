"""A per-IP fixed-window rate limit for the signup paths, held in this process's memory.

Trade-off: each uvicorn worker process counts on its own, so with N workers a client may get up
to N times the limit; a restart forgets the counts. For one small organisation's signup form
that is enough, and it needs no shared store.
"""

from __future__ import annotations

import math
import threading
import time

from newsletter.config import RATE

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit:
    """``hit(client)`` counts one request; returns 0 when allowed, else seconds to wait."""

    def __init__(self, spec: str) -> None:
        found = RATE.fullmatch(spec.strip().lower())
        self.enabled = found is not None
        self.limit = int(found.group(1)) if found else 0
        self.period = PERIODS[found.group(2)] if found else 1
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str, now: float | None = None) -> int:
        if not self.enabled:
            return 0
        moment = time.time() if now is None else now
        window = int(moment // self.period)
        with self._lock:
            if len(self._windows) > 10_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            start, count = self._windows.get(client, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[client] = (start, count)
        if count <= self.limit:
            return 0
        return max(1, math.ceil((window + 1) * self.period - moment))
