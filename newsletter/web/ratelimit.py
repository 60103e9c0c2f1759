"""The per-IP signup rate limit: a moving window (the ``limits`` library), held in this
process's memory.

A moving window counts the requests of the last period whatever the clock says, so a burst
across a minute boundary cannot pass twice the limit, as it could with fixed windows.
Trade-off: each uvicorn worker process counts on its own, so with N workers a client may get up
to N times the limit; a restart forgets the counts. For one organisation's signup form that is
enough, and it needs no shared store.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies

from newsletter.config import RATE

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit:
    """``hit(client)`` counts one request; returns 0 when allowed, else seconds to wait."""

    def __init__(self, spec: str) -> None:
        found = RATE.fullmatch(spec.strip().lower())  # None: "off"
        self.enabled = found is not None
        count, period = (
            (int(found.group(1)), int(found.group(2) or 1) * PERIODS[found.group(3)])
            if found
            else (1, 1)
        )
        self._item = RateLimitItemPerSecond(count, period)
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, client: str) -> int:
        if not self.enabled:
            return 0
        if self._window.hit(self._item, client):
            return 0
        reset = self._window.get_window_stats(self._item, client).reset_time
        return max(1, math.ceil(reset - time.time()))
