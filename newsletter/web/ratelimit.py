"""Rate limits: the per-IP signup limit and the staff sign-in throttle, each a moving window
(the ``limits`` library) held in this process's memory.

A moving window counts the requests of the last period whatever the clock says, so a burst
across a minute boundary cannot pass twice the limit, as it could with fixed windows.
Trade-off: each uvicorn worker process counts on its own, so with N workers a client may get up
to N times the limit; a restart forgets the counts. For one organisation's signup form that is
enough, and it needs no shared store.

The sign-in throttle counts failures only, per staff address (any address typed, known or not,
so the answer does not tell which exist) and per client IP: a correct password is refused too
while either is exhausted, or guessing could go on at full speed.
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

    def wait(self, client: str) -> int:
        """Seconds until ``client`` may try again without counting this look: 0 if now."""
        if not self.enabled or self._window.test(self._item, client):
            return 0
        reset = self._window.get_window_stats(self._item, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    def clear(self, client: str) -> None:
        self._window.clear(self._item, client)


class SignInThrottle:
    """Failed sign-ins per staff address (``signin_rate_limit``) and per IP
    (``signin_ip_rate_limit``)."""

    def __init__(self, per_account: str, per_ip: str) -> None:
        self.account, self.ip = RateLimit(per_account), RateLimit(per_ip)

    def wait(self, account: str, ip: str) -> int:
        """0 when a sign-in may be tried; else the seconds until one may."""
        return max(self.account.wait(f"account:{account}"), self.ip.wait(f"ip:{ip}"))

    def failed(self, account: str, ip: str) -> None:
        self.account.hit(f"account:{account}")
        self.ip.hit(f"ip:{ip}")

    def succeeded(self, account: str) -> None:
        """The account's count starts again (the IP's does not: one IP may try many)."""
        self.account.clear(f"account:{account}")
