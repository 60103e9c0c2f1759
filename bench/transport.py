"""SendGridTransport throughput: N recipients in batches through the fake SendGrid on loopback.

    python bench/transport.py [N] [--batch 1000] [--runs 3]

The fake runs in its own process (as SendGrid would be elsewhere) and validates every body
against SendGrid's OpenAPI schema. Prints medians of the runs: wall time, recipients/s, the time
in our code (building request bodies) versus waiting on HTTP (SDK serialisation, loopback, and
the fake's validation, shown on its own), and peak RSS of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from newsletter.transports.base import Message, Recipient
from newsletter.transports.sendgrid import SendGridTransport

ROOT = Path(__file__).resolve().parent.parent
KEY = "SG.bench-key"
HTML = "<html><body>" + "<p>Quarterly news, %%name%%. " + "x" * 400 + "</p>" * 150
TEXT = "Quarterly news, %%name%%.\n" * 150 + "Unsubscribe: %%unsubscribe_url%%\n"


def batch(start: int, size: int) -> Message:
    recipients = []
    for i in range(start, start + size):
        url = f"https://news.example.org/unsubscribe/{i:08d}.c2lnbmVkLXRva2VuLXBheWxvYWQ"
        recipients.append(
            Recipient(
                email=f"reader{i}@example.org",
                name=f"Reader {i}",
                substitutions={"%%unsubscribe_url%%": url, "%%name%%": f"Reader {i}"},
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                custom_args={"send_id": "1", "subscriber_id": str(i)},
            )
        )
    return Message(
        subject="Quarterly news for %%name%%",
        html=HTML,
        text=TEXT,
        from_email="newsletter@example.org",
        from_name="Newsletter",
        recipients=recipients,
        categories=["newsletter"],
    )


def fake_stats(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as response:
        stats: dict[str, float] = json.loads(response.read())
    return stats


def one_run(transport: SendGridTransport, url: str, count: int, size: int) -> dict[str, float]:
    before = fake_stats(url)
    making = building = waiting = 0.0
    started = time.perf_counter()
    for start in range(0, count, size):
        t0 = time.perf_counter()
        message = batch(start, min(size, count - start))
        t1 = time.perf_counter()
        body = transport.body(message)
        t2 = time.perf_counter()
        transport.post(body)
        t3 = time.perf_counter()
        making, building, waiting = making + t1 - t0, building + t2 - t1, waiting + t3 - t2
    wall = time.perf_counter() - started
    after = fake_stats(url)
    assert after["delivered"] - before["delivered"] == count, "the fake did not accept everyone"
    return {
        "wall": wall,
        "rate": count / wall,
        "making": making,
        "ours": building,
        "http": waiting,
        "validating": after["validating_seconds"] - before["validating_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_sendgrid", "--api-key", KEY, "--no-record", "--fast"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        transport = SendGridTransport(KEY, host=url, timeout=60, max_batch=args.batch)
        runs = [one_run(transport, url, args.count, args.batch) for _ in range(args.runs)]
    finally:
        fake.communicate("", timeout=30)
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"transport: {args.count:,} recipients in batches of {args.batch}, {args.runs} runs")
    print(f"  wall time            {median['wall']:8.2f} s   (median)")
    print(f"  recipients/s         {median['rate']:8,.0f}")
    print(f"  our code (bodies)    {median['ours']:8.2f} s")
    print(
        f"  waiting on HTTP      {median['http']:8.2f} s   of which the fake validating "
        f"{median['validating']:.2f} s"
    )
    print(f"  making test Messages {median['making']:8.2f} s   (the bench's own input)")
    print(f"  peak RSS             {peak:8.0f} MB  (this process)")


if __name__ == "__main__":
    main()
