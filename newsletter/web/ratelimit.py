"""Rate limits: the per-IP signup limit, the staff sign-in throttle and the proof recipients per
staff member, each a moving window
(the ``limits`` library) held in this process's memory.

A moving window counts the requests of the last period whatever the clock says, so a burst
across a minute boundary cannot pass twice the limit, as it could with fixed windows.
Trade-off: each uvicorn worker process counts on its own, so with N workers a client may get up
to N times the limit; a restart forgets the counts. For one organisation's signup form that is
enough, and it needs no shared store.

The sign-in throttle counts failures only, for any address typed (known or not, so the answer
does not tell which exist), at three levels: per (address, client IP) pair, the hard limit
(``signin_rate_limit``); per client IP (``signin_ip_rate_limit``); and per address from every IP,
at ``ACCOUNT_CEILING`` times the pair's limit, so a guess spread over many IPs is still slowed.
While any of them is used up, even a correct password is refused, or guessing could go on at full
speed; but failures from one IP never block the same address from another IP below the ceiling,
so nobody can lock a staff member out with a few wrong passwords.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies

from newsletter.config import RATE

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit:
    """``hit(client)`` counts one request; returns 0 when allowed, else seconds to wait."""

    def __init__(self, spec: str, *, times: int = 1) -> None:
        """``spec``: ``N/[M] unit`` or ``off``; ``times`` multiplies N (the same window)."""
        found = RATE.fullmatch(spec.strip().lower())  # None: "off"
        self.enabled = found is not None
        count, period = (
            (int(found.group(1)) * times, int(found.group(2) or 1) * PERIODS[found.group(3)])
            if found
            else (1, 1)
        )
        self._item = RateLimitItemPerSecond(count, period)
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, client: str, cost: int = 1) -> int:
        """Count ``cost`` requests at once (all or none)."""
        if not self.enabled:
            return 0
        if self._window.hit(self._item, client, cost=cost):
            return 0
        reset = self._window.get_window_stats(self._item, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    @property
    def count(self) -> int:
        """How many requests the window allows (0 when off)."""
        return self._item.amount if self.enabled else 0

    def wait(self, client: str) -> int:
        """Seconds until ``client`` may try again without counting this look: 0 if now."""
        if not self.enabled or self._window.test(self._item, client):
            return 0
        reset = self._window.get_window_stats(self._item, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    def clear(self, client: str) -> None:
        self._window.clear(self._item, client)


PROOF_LIMIT = "50/hour"  # [TEST] proof recipients per staff member (docs/dashboard.md)


class ProofLimit(RateLimit):
    """Proof recipients per staff member (``PROOF_LIMIT``): ``take(staff_id, n)`` counts ``n``
    recipients, all or none, and answers 0, or the seconds until that many may go."""

    def __init__(self, spec: str = PROOF_LIMIT) -> None:
        super().__init__(spec)

    def take(self, staff_id: int, recipients: int) -> int:
        return self.hit(f"staff:{staff_id}", cost=recipients)


ACCOUNT_CEILING = 10  # failures per address from every IP: this many times signin_rate_limit


class SignInThrottle:
    """Failed sign-ins per (address, IP) pair (``signin_rate_limit``), per IP
    (``signin_ip_rate_limit``) and per address from every IP (``ACCOUNT_CEILING`` times
    ``signin_rate_limit`` in the same window; ``off`` turns both off)."""

    def __init__(self, per_pair: str, per_ip: str) -> None:
        self.pair, self.ip = RateLimit(per_pair), RateLimit(per_ip)
        self.account = RateLimit(per_pair, times=ACCOUNT_CEILING)

    def _keys(self, account: str, ip: str) -> tuple[str, str, str]:
        return f"pair:{ip} {account}", f"ip:{ip}", f"account:{account}"

    def wait(self, account: str, ip: str) -> int:
        """0 when a sign-in may be tried; else the seconds until one may."""
        pair, by_ip, by_account = self._keys(account, ip)
        return max(self.pair.wait(pair), self.ip.wait(by_ip), self.account.wait(by_account))

    def failed(self, account: str, ip: str) -> None:
        pair, by_ip, by_account = self._keys(account, ip)
        self.pair.hit(pair)
        self.ip.hit(by_ip)
        self.account.hit(by_account)

    def succeeded(self, account: str, ip: str) -> None:
        """The pair's count starts again. The IP's does not (one IP may try many addresses),
        nor the address's across IPs (a guess spread over many IPs goes on meanwhile)."""
        self.pair.clear(self._keys(account, ip)[0])
