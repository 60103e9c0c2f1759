"""Rate limits in one store: this process's memory, or Redis shared by every web process and
host of a deployment (``rate_limit_storage_url``), and what happens while Redis is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from newsletter.config import Settings
from newsletter.config.provenance import shown
from newsletter.errors import ConfigError
from newsletter.web.ratelimit import Counters, ProofLimit, RateLimit, SignInThrottle, key_prefix
from tests.redis_kit import REDIS_URL, redis_prefix
from tests.tcp_relay import Relay

__all__ = ["redis_prefix"]  # the fixture, for pytest

Shared = tuple[redis.Redis, str]
_OPENED: list[Counters] = []


def _open(*args: Any, **kwargs: Any) -> Counters:
    """A store this test closes when it ends (its Redis connections are not left to the GC)."""
    store = Counters(*args, **kwargs)
    _OPENED.append(store)
    return store


@pytest.fixture(autouse=True)
def _closed_after() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def _stores(kind: str, shared: Shared | None) -> tuple[Counters, Counters]:
    """Two processes' stores: each its own memory, or one Redis under one prefix."""
    if kind == "memory":
        return _open(), _open()
    assert shared is not None
    return _open(REDIS_URL, prefix=shared[1]), _open(REDIS_URL, prefix=shared[1])


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shared(kind: str, request: pytest.FixtureRequest) -> Shared | None:
    if kind == "memory":
        return None
    found: Shared = request.getfixturevalue("redis_prefix")
    return found


def test_a_limit_allows_its_count_then_says_how_long_to_wait(
    kind: str, shared: Shared | None
) -> None:
    store, _ = _stores(kind, shared)
    limit = RateLimit("5/minute", counters=store, name="signup")
    assert [limit.hit("203.0.113.9") for _ in range(5)] == [0] * 5
    assert 55 <= limit.hit("203.0.113.9") <= 60
    assert 55 <= limit.wait("203.0.113.9") <= 60
    assert limit.hit("203.0.113.10") == 0  # another client counts apart
    limit.clear("203.0.113.9")
    assert limit.wait("203.0.113.9") == 0


def test_two_processes_on_one_redis_share_the_count(redis_prefix: Shared) -> None:
    one, two = _stores("redis", redis_prefix)
    first = RateLimit("5/minute", counters=one, name="signup")
    second = RateLimit("5/minute", counters=two, name="signup")
    answers = [(first if i % 2 else second).hit("198.51.100.7") for i in range(8)]
    assert answers[:5] == [0] * 5 and all(a > 0 for a in answers[5:])
    assert first.wait("198.51.100.7") > 0 and second.wait("198.51.100.7") > 0


def test_in_memory_each_process_counts_alone() -> None:
    one, two = _stores("memory", None)
    first = RateLimit("2/minute", counters=one, name="signup")
    second = RateLimit("2/minute", counters=two, name="signup")
    assert [first.hit("a"), first.hit("a"), first.hit("a")][2] > 0
    assert second.hit("a") == 0  # the documented trade-off of memory://


def test_two_sites_sharing_one_redis_never_mix_counts(redis_prefix: Shared) -> None:
    client, prefix = redis_prefix
    site_a = _open(REDIS_URL, prefix=f"{prefix}:a")
    site_b = _open(REDIS_URL, prefix=f"{prefix}:b")
    a = RateLimit("1/minute", counters=site_a, name="signup")
    b = RateLimit("1/minute", counters=site_b, name="signup")
    assert a.hit("x") == 0 and a.hit("x") > 0
    assert b.hit("x") == 0
    # and two limits of one site never mix either
    other = RateLimit("1/minute", counters=site_a, name="signin-ip")
    assert other.hit("x") == 0
    keys = {key.decode() for key in client.scan_iter(match=f"{prefix}*")}
    assert len(keys) == 3 and all(key.startswith(prefix) for key in keys)


def test_the_deployment_prefix_comes_from_base_url() -> None:
    assert key_prefix("https://news.example.org") == key_prefix("https://news.example.org")
    assert key_prefix("https://news.example.org") != key_prefix("https://other.example.org")


def test_a_proof_counts_all_its_recipients_or_none(kind: str, shared: Shared | None) -> None:
    one, two = _stores(kind, shared)
    proofs = ProofLimit("50/hour", counters=one)
    assert proofs.take(7, 30) == 0
    assert proofs.take(7, 30) > 0  # 60 > 50: none of them counted
    assert proofs.take(7, 20) == 0
    assert proofs.take(8, 50) == 0
    if kind == "redis":  # another process sees the same hour
        assert ProofLimit("50/hour", counters=two).take(7, 1) > 0


def test_the_sign_in_throttle_holds_across_processes_on_redis(redis_prefix: Shared) -> None:
    one, two = _stores("redis", redis_prefix)
    first = SignInThrottle("3/15 minutes", "30/15 minutes", counters=one)
    second = SignInThrottle("3/15 minutes", "30/15 minutes", counters=two)
    first.failed("ann@example.org", "192.0.2.1")
    second.failed("ann@example.org", "192.0.2.1")
    assert first.wait("ann@example.org", "192.0.2.1") == 0
    first.failed("ann@example.org", "192.0.2.1")
    assert second.wait("ann@example.org", "192.0.2.1") > 0
    assert second.wait("ann@example.org", "192.0.2.2") == 0  # another IP is not locked out
    second.succeeded("ann@example.org", "192.0.2.1")
    assert first.wait("ann@example.org", "192.0.2.1") == 0


def test_while_redis_is_down_each_process_counts_alone_and_says_so_once(
    redis_prefix: Shared, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = redis_prefix[1]
    relay = Relay(6379)
    try:
        url = f"redis://127.0.0.1:{relay.port}/0"
        store = _open(url, prefix=prefix, retry_after=0.3)
        signup = RateLimit("3/minute", counters=store, name="signup")
        throttle = SignInThrottle("2/15 minutes", "30/15 minutes", counters=store)
        assert signup.hit("a") == 0 and not store.degraded  # counted in Redis
        relay.down()
        with caplog.at_level(logging.WARNING, logger="newsletter.ratelimit"):
            # not open: the limits still hold in this process; not closed: nobody is refused
            # for the store's sake
            assert [signup.hit("b") for _ in range(4)][:3] == [0, 0, 0]
            assert signup.hit("b") > 0 and store.degraded
            throttle.failed("bo@example.org", "192.0.2.9")
            throttle.failed("bo@example.org", "192.0.2.9")
            assert throttle.wait("bo@example.org", "192.0.2.9") > 0
            time.sleep(0.4)  # past retry_after: Redis is tried again, and fails again
            assert signup.hit("c") == 0
        down = [r for r in caplog.records if "does not answer" in r.getMessage()]
        assert len(down) == 1, "one line a minute, not one per request"
        assert f"redis://127.0.0.1:{relay.port}" in down[0].getMessage()
        relay.up()
        time.sleep(0.4)
        with caplog.at_level(logging.WARNING, logger="newsletter.ratelimit"):
            assert signup.hit("d") == 0
        assert not store.degraded
        assert any("answers again" in r.getMessage() for r in caplog.records)
        # counted in Redis again: another process sees it
        other = RateLimit("3/minute", counters=_open(REDIS_URL, prefix=prefix), name="signup")
        assert [other.hit("d") for _ in range(3)][2] > 0
    finally:
        relay.close()


def test_the_store_url_is_checked_and_its_password_never_shown(
    monkeypatch: pytest.MonkeyPatch, clean_env: object
) -> None:
    from newsletter.config import get_settings

    assert Settings().rate_limit_storage_url == "memory://"
    for bad in ("memcached://h:11211", "redis:/h", "http://:hunter2secret@h", "memory"):
        monkeypatch.setenv("NEWSLETTER_RATE_LIMIT_STORAGE_URL", bad)
        with pytest.raises(ConfigError) as refused:
            get_settings()
        assert "rate_limit_storage_url" in str(refused.value)
        assert "hunter2" not in str(refused.value)
    for url, seen in (
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://ops:hun@ter/2@cache:6379/0", "redis://ops:***@cache:6379/0"),
        ("rediss://cache:6380/1?password=hunter2", "rediss://cache:6380/1?***"),
        ("redis+unix:///run/redis.sock", "redis+unix:///run/redis.sock"),
    ):
        monkeypatch.setenv("NEWSLETTER_RATE_LIMIT_STORAGE_URL", url)
        settings = get_settings()
        assert settings.rate_limit_storage_url == url
        assert shown("rate_limit_storage_url", settings.rate_limit_storage_url) == seen


def test_a_redis_url_that_cannot_be_used_stops_the_start_in_one_line() -> None:
    for url in ("redis://:hunter2@cache:port/0", "redis://:hunter2@cache:6379/0?socket_timeout=x"):
        with pytest.raises(ConfigError) as refused:
            _open(url)
        assert str(refused.value).startswith("rate_limit_storage_url cannot be used: ")
        assert "hunter2" not in str(refused.value)
