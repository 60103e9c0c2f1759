"""What one rate-limit check costs on each store: ``RateLimit.hit`` in this process's memory and
in Redis on loopback (``rate_limit_storage_url``), the latter being what every signup pays with
several web processes sharing one Redis. Medians of several runs, microseconds per hit.

    python bench/rate_limits.py [--hits 5000] [--runs 5] [--redis redis://127.0.0.1:6379/0]

The machine may be shared with other work: the figures move with it.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import redis

from newsletter.web.ratelimit import Counters, RateLimit


def per_hit(limit: RateLimit, hits: int) -> float:
    """Microseconds per hit, each from its own client (all allowed: the usual case)."""
    started = time.perf_counter()
    for i in range(hits):
        limit.hit(f"198.51.{i // 250}.{i % 250}")
    return (time.perf_counter() - started) / hits * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"newsletter-bench:{uuid.uuid4().hex[:8]}"
    stores = {"memory://": Counters(), "redis": Counters(args.redis, prefix=prefix)}
    client = redis.Redis.from_url(args.redis)
    try:
        for name, store in stores.items():
            figures = []
            for run in range(args.runs):
                limit = RateLimit("1000000/minute", counters=store, name=f"bench{run}")
                figures.append(per_hit(limit, args.hits))
            assert not store.degraded, f"{name} did not answer"
            print(
                f"{name:10} {statistics.median(figures):7.1f} us per hit "
                f"(median of {args.runs} runs of {args.hits}; "
                f"min {min(figures):.1f}, max {max(figures):.1f})"
            )
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


if __name__ == "__main__":
    main()
