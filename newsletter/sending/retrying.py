"""Try a transport call again when it failed in a way that may pass: backoff with jitter.

Only a ``DeliveryError`` with ``retryable=True`` (429, 5xx, SendGrid unreachable) is retried. A
fatal error (bad key), a rejected batch (400) and an uncertain one (a timeout after the request
went out, which SendGrid may have accepted) are raised at once: resending those blindly would
either fail again or send someone the same message twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from newsletter.transports.base import DeliveryError

T = TypeVar("T")
LONGEST_SERVER_WAIT = 900.0  # seconds: a Retry-After beyond this is taken as this

OnRetry = Callable[[DeliveryError, int, float], None]


def backoff_delay(
    attempt: int,
    *,
    base_delay: float,
    max_delay: float,
    retry_after: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed try number ``attempt`` (1-based).

    "Full jitter" exponential backoff: a random time up to ``base_delay * 2**(attempt-1)``,
    capped at ``max_delay``. When the server said when to come back (``retry_after``), wait at
    least that long, plus a little jitter so that several workers do not return at once; the
    server's word beats ``max_delay`` (up to 15 minutes, in case it says something absurd).
    """
    ceiling = min(max_delay, base_delay * 2.0 ** (attempt - 1))
    delay = ceiling * jitter()
    if retry_after is not None:
        wait = min(max(retry_after, 0.0), max(max_delay, LONGEST_SERVER_WAIT))
        delay = wait + min(base_delay, ceiling) * jitter()
    return delay


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``call`` up to ``attempts`` times; re-raise the last DeliveryError.

    ``on_retry(error, attempt, delay)`` is told about each retry before the wait (for a progress
    display or a log line).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except DeliveryError as error:
            if not error.retryable or attempt == attempts:
                raise
            delay = backoff_delay(
                attempt, base_delay=base_delay, max_delay=max_delay, retry_after=error.retry_after
            )
            if on_retry is not None:
                on_retry(error, attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
