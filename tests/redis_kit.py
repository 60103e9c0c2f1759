"""The machine's Redis on loopback for the shared rate limits' tests: skipped, saying why, only
when it does not answer; every test counts under a key prefix of its own, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def answering() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis does not answer on 127.0.0.1:6379 ({exc}): start redis-server")
    return client


def forget(client: redis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """(a client of the machine's Redis, a key prefix used by this test only)."""
    client = answering()
    prefix = f"newsletter-test:{uuid.uuid4().hex[:12]}"
    try:
        yield client, prefix
    finally:
        forget(client, prefix)
        client.close()
