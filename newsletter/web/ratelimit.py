"""Rate limits: the per-IP signup limit, the staff sign-in throttle and the proof recipients per
staff member, each a moving window (the ``limits`` library) counted in one store shared by every
limit of the app: this process's memory (``rate_limit_storage_url = "memory://"``, the default) or
Redis (``redis://host:port/db``), which every web process and host of one deployment shares, so
the limits hold for all of them together (docs/scaling.md).

A moving window counts the requests of the last period whatever the clock says, so a burst
across a minute boundary cannot pass twice the limit, as it could with fixed windows. On Redis it
is a list of timestamps per key, updated by one Lua script (atomic across processes); the
timestamps are the web hosts' clocks, so keep them in sync (NTP) when several hosts share one.

Keys are prefixed per deployment (``newsletter:<hash of base_url>``) so two sites sharing one
Redis never mix counts, and per limit (``signup``, ``signin-pair``...).

When Redis does not answer (down, unreachable, timed out after ``TIMEOUT`` seconds), every limit
counts in this process's memory instead, as it did before Redis was configured, and Redis is
tried again after ``RETRY_AFTER`` seconds; one log line a minute says so, and one when Redis is
back. Why neither fail open nor fail closed: open would let the sign-in throttle go, so passwords
could be guessed at full speed for as long as Redis is down (and making it down would be the
attack); closed would refuse every signup and every staff sign-in because a counter is
missing, an outage of the site caused by its least important part. Counting per process keeps
every limit in force, at worst N times as loose with N processes, for as long as the outage lasts.

The sign-in throttle counts failures only, for any address typed (known or not, so the answer
does not tell which exist), at three levels: per (address, client IP) pair, the hard limit
(``signin_rate_limit``); per client IP (``signin_ip_rate_limit``); and per address from every IP,
at ``ACCOUNT_CEILING`` times the pair's limit, so a guess spread over many IPs is still slowed.
While any of them is used up, even a correct password is refused, or guessing could go on at full
speed; but failures from one IP never block the same address from another IP below the ceiling,
so nobody can lock a staff member out with a few wrong passwords.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItemPerSecond, storage, strategies
from limits.errors import ConfigurationError, StorageError

from newsletter.config import RATE, Settings
from newsletter.errors import ConfigError

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MEMORY = "memory://"
SCHEMES = ("memory", "redis", "rediss", "redis+unix")  # config.Settings checks the same list
TIMEOUT = 0.25  # seconds to connect to Redis or to wait for its answer, then count locally
RETRY_AFTER = 10.0  # seconds of local counting after a Redis failure before Redis is tried
LOG_EVERY = 60.0  # seconds between two "Redis does not answer" log lines
log = logging.getLogger("newsletter.ratelimit")
T = TypeVar("T")


def key_prefix(base_url: str) -> str:
    """The deployment's prefix for its keys in a shared store: two sites, two prefixes."""
    return "newsletter:" + hashlib.sha256(base_url.encode()).hexdigest()[:16]


def where(url: str) -> str:
    """The store for a log line: scheme and host only, never a password or a query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


class Counters:
    """The store every limit of one app counts in (``rate_limit_storage_url``), with this
    process's memory as the fallback while a shared store does not answer."""

    def __init__(
        self, url: str = MEMORY, *, prefix: str = "newsletter", retry_after: float = RETRY_AFTER
    ) -> None:
        self.url, self.retry_after = url, retry_after
        self.shared = url != MEMORY
        self._local = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._shared = self._local
        if self.shared:
            try:
                found = storage.storage_from_string(
                    url,
                    key_prefix=prefix,
                    wrap_exceptions=True,
                    socket_connect_timeout=TIMEOUT,
                    socket_timeout=TIMEOUT,
                )
            except (ValueError, ConfigurationError) as exc:  # a port, a db, a query option
                reason = " ".join(str(exc).replace(url, "(the URL)").split())[:200]
                raise ConfigError(f"rate_limit_storage_url cannot be used: {reason}") from None
            self._shared = strategies.MovingWindowRateLimiter(found)
        self._down_until = 0.0  # monotonic time until which the local memory counts
        self._logged = -LOG_EVERY
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Counters:
        return cls(settings.rate_limit_storage_url, prefix=key_prefix(settings.base_url))

    def close(self) -> None:
        """Disconnect from a shared store (when the app stops): its connections are not left
        for the garbage collector."""
        if self.shared:
            client = getattr(self._shared.storage, "storage", None)  # limits' Redis client
            if client is not None:
                client.close()

    @property
    def degraded(self) -> bool:
        """True while a shared store failed and this process counts on its own."""
        return self.shared and time.monotonic() < self._down_until

    def run(self, action: Callable[[strategies.MovingWindowRateLimiter], T]) -> T:
        """``action`` on the shared store; on this process's memory while it fails."""
        if self.shared and not self.degraded:
            try:
                result = action(self._shared)
            except StorageError as exc:
                self._failed(exc.storage_error)
            else:
                self._answered()
                return result
        return action(self._local)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + self.retry_after
            if now - self._logged < LOG_EVERY:
                return
            self._logged = now
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        log.error(
            "rate limits: %s does not answer (%s): counting in this process only, "
            "retrying every %.0f s",
            where(self.url),
            reason,
            self.retry_after,
        )

    def _answered(self) -> None:
        if self._down_until:
            with self._lock:
                was_down, self._down_until = self._down_until, 0.0
            if was_down:
                log.warning("rate limits: %s answers again: counting there", where(self.url))


class RateLimit:
    """``hit(client)`` counts one request; returns 0 when allowed, else seconds to wait."""

    def __init__(
        self, spec: str, *, times: int = 1, counters: Counters | None = None, name: str = "limit"
    ) -> None:
        """``spec``: ``N/[M] unit`` or ``off``; ``times`` multiplies N (the same window);
        ``counters``: where to count (this process's memory when None); ``name`` keeps the
        keys of two limits apart in one store."""
        found = RATE.fullmatch(spec.strip().lower())  # None: "off"
        self.enabled = found is not None
        count, period = (
            (int(found.group(1)) * times, int(found.group(2) or 1) * PERIODS[found.group(3)])
            if found
            else (1, 1)
        )
        self._item = RateLimitItemPerSecond(count, period)
        self.counters = counters if counters is not None else Counters()
        self.name = name

    def hit(self, client: str, cost: int = 1) -> int:
        """Count ``cost`` requests at once (all or none)."""
        if not self.enabled:
            return 0

        def hit(window: strategies.MovingWindowRateLimiter) -> int:
            if window.hit(self._item, self.name, client, cost=cost):
                return 0
            return _seconds(window, self._item, self.name, client)

        return self.counters.run(hit)

    @property
    def count(self) -> int:
        """How many requests the window allows (0 when off)."""
        return self._item.amount if self.enabled else 0

    def wait(self, client: str) -> int:
        """Seconds until ``client`` may try again without counting this look: 0 if now."""
        if not self.enabled:
            return 0

        def wait(window: strategies.MovingWindowRateLimiter) -> int:
            if window.test(self._item, self.name, client):
                return 0
            return _seconds(window, self._item, self.name, client)

        return self.counters.run(wait)

    def clear(self, client: str) -> None:
        self.counters.run(lambda window: window.clear(self._item, self.name, client))


def _seconds(
    window: strategies.MovingWindowRateLimiter,
    item: RateLimitItemPerSecond,
    *identifiers: str,
) -> int:
    reset = window.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset - time.time()))


PROOF_LIMIT = "50/hour"  # [TEST] proof recipients per staff member (docs/dashboard.md)


class ProofLimit(RateLimit):
    """Proof recipients per staff member (``PROOF_LIMIT``): ``take(staff_id, n)`` counts ``n``
    recipients, all or none, and answers 0, or the seconds until that many may go."""

    def __init__(self, spec: str = PROOF_LIMIT, *, counters: Counters | None = None) -> None:
        super().__init__(spec, counters=counters, name="proof")

    def take(self, staff_id: int, recipients: int) -> int:
        return self.hit(f"staff:{staff_id}", cost=recipients)


ACCOUNT_CEILING = 10  # failures per address from every IP: this many times signin_rate_limit


class SignInThrottle:
    """Failed sign-ins per (address, IP) pair (``signin_rate_limit``), per IP
    (``signin_ip_rate_limit``) and per address from every IP (``ACCOUNT_CEILING`` times
    ``signin_rate_limit`` in the same window; ``off`` turns both off)."""

    def __init__(self, per_pair: str, per_ip: str, *, counters: Counters | None = None) -> None:
        self.pair = RateLimit(per_pair, counters=counters, name="signin-pair")
        self.ip = RateLimit(per_ip, counters=counters, name="signin-ip")
        self.account = RateLimit(
            per_pair, times=ACCOUNT_CEILING, counters=counters, name="signin-account"
        )

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
