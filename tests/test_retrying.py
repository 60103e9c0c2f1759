"""with_retries: which failures are tried again, how long it waits, and what it gives up with."""

from __future__ import annotations

import pytest

from newsletter.sending.retrying import LONGEST_SERVER_WAIT, backoff_delay, with_retries
from newsletter.transports.base import DeliveryError


class Flaky:
    """Fails with the given errors in turn, then returns "sent"."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "sent"


def test_retryable_errors_are_tried_again_until_it_works():
    call = Flaky(DeliveryError("503", retryable=True), DeliveryError("429", retryable=True))
    waits: list[float] = []
    told: list[tuple[str, int]] = []
    result = with_retries(
        call,
        attempts=3,
        base_delay=1,
        max_delay=10,
        sleep=waits.append,
        on_retry=lambda error, attempt, delay: told.append((str(error), attempt)),
    )
    assert result == "sent" and call.calls == 3
    assert told == [("503", 1), ("429", 2)]
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2


@pytest.mark.parametrize(
    "error",
    [
        DeliveryError("bad key", fatal=True, status=401),
        DeliveryError("bad body", status=400),
        DeliveryError("timeout", uncertain=True),
    ],
)
def test_other_errors_are_raised_at_once(error):
    call = Flaky(error)
    with pytest.raises(DeliveryError) as raised:
        with_retries(call, attempts=5, base_delay=0, max_delay=0, sleep=lambda s: None)
    assert raised.value is error and call.calls == 1


def test_the_last_error_is_raised_when_attempts_run_out():
    errors = [DeliveryError(f"try {i}", retryable=True) for i in range(3)]
    with pytest.raises(DeliveryError, match="try 2"):
        with_retries(Flaky(*errors), attempts=3, base_delay=0, max_delay=0, sleep=lambda s: None)
    with pytest.raises(ValueError):
        with_retries(Flaky(), attempts=0, base_delay=0, max_delay=0)


def test_backoff_doubles_up_to_the_cap_and_honours_the_servers_word():
    top = [backoff_delay(n, base_delay=1, max_delay=10, jitter=lambda: 1.0) for n in range(1, 7)]
    assert top == [1, 2, 4, 8, 10, 10]
    assert backoff_delay(3, base_delay=1, max_delay=10, jitter=lambda: 0.0) == 0
    # Retry-After beats max_delay; a little jitter keeps workers apart
    assert backoff_delay(1, base_delay=1, max_delay=5, retry_after=30, jitter=lambda: 0.5) == 30.5
    assert backoff_delay(1, base_delay=1, max_delay=5, retry_after=-3, jitter=lambda: 0.0) == 0


def test_an_absurd_server_wait_is_capped():
    delay = backoff_delay(1, base_delay=1, max_delay=60, retry_after=86_400, jitter=lambda: 0.0)
    assert delay == LONGEST_SERVER_WAIT
