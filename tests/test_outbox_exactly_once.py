"""The outbox writes each recipient's message of a send exactly once, whatever stops a run.

Real failures only: a full disk is a small tmpfs filled up (``mount``, so these tests need root
and are skipped without it), a crash is ``newsletter send`` killed with SIGKILL; every send is
the real CLI in its own process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.models import SubscriberStatus, subscriber_table, utcnow
from newsletter.transports.base import Message, Recipient
from newsletter.transports.outbox import STALE_TEMPORARY, OutboxTransport
from tests.conftest import run_cli

SECRET = "test-secret-key-for-signing-links"
PAGE = 4096


def _add(engine: sa.Engine, count: int) -> list[str]:
    emails = [f"reader{i}@example.net" for i in range(count)]
    now = utcnow()
    rows = [
        {"key": f"{i:032x}", "email": address, "name": f"Reader {i}",
         "status": SubscriberStatus.confirmed.value, "created_at": now, "confirmed_at": now}
        for i, address in enumerate(emails)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(subscriber_table.insert(), rows)
    return emails


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_SEND_RETRY_BASE_DELAY="0.01",
        NEWSLETTER_SEND_RETRY_MAX_DELAY="0.02",
        **extra,
    )
    return env


def _newsletter(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _recipients(outbox: Path) -> Counter[str]:
    """How many messages each address has in the outbox."""
    found: Counter[str] = Counter()
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[message["To"].addresses[0].addr_spec] += 1
    return found


def _report() -> dict[str, Any]:
    code, out, err = run_cli("report", "2016-q3", "--format", "json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows[-1]


@pytest.fixture
def small_disk(project: Path) -> Iterator[Path]:
    """``outbox/`` on a tmpfs of its own, 1 MB: small enough to fill."""
    outbox = project / "outbox"
    outbox.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(outbox)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield outbox
    finally:
        subprocess.run(["umount", "-l", str(outbox)], check=True)


def test_a_full_disk_mid_batch_stops_and_the_rerun_writes_only_the_rest(
    project, synced, database_url, small_disk, tmp_path, monkeypatch
):
    env = _env(database_url)
    emails = _add(synced, 6)
    # how big one message is: a test proof into another folder (it is not the live send)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "probe"))
    code, _, err = run_cli("send", "2016-q3", "--test", "reader0@example.net")
    assert code == 0, err
    [sample] = (tmp_path / "probe").glob("*.eml")
    pages = -(-(sample.stat().st_size + 512) // PAGE)  # a message's pages on the tmpfs
    # leave room for three messages and half of a fourth: the disk fills mid-batch
    free = os.statvfs(small_disk)
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - (3 * pages + pages // 2) * PAGE))

    first = _newsletter(env, "send", "2016-q3", "--yes")
    assert first.returncode == 1
    [line] = first.stderr.strip().splitlines()  # one line, no traceback
    assert "disk full writing outbox/" in line
    assert "free space and run the same command again" in line
    assert "3 messages already written will not be written twice" in line
    assert sorted(_recipients(small_disk).values()) == [1, 1, 1]
    assert [p.name for p in small_disk.iterdir() if p.suffix == ".tmp"] == []  # no half file

    filler.unlink()  # the operator frees space and runs the same command again
    second = _newsletter(env, "send", "2016-q3", "--yes")
    assert second.returncode == 0, second.stderr
    assert _recipients(small_disk) == Counter(emails)  # each exactly once
    row = _report()
    assert (row["status"], row["accepted"], row["failed"], row["uncertain"]) == (
        "finished",
        6,
        0,
        0,
    )


def test_killed_while_writing_then_resent_nobody_gets_two(project, synced, database_url):
    env = _env(database_url)
    count = 600
    emails = _add(synced, count)
    outbox = project / "outbox"
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "2016-q3", "--yes"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (outbox.is_dir() and any(outbox.glob("*.eml"))):
        assert process.poll() is None and time.monotonic() < deadline, "it never started writing"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = sum(_recipients(outbox).values())
    assert 0 < written < count, "the process should have died halfway through its batch"

    # its batch is uncertain now; sending it again must skip the messages already written
    resumed = _newsletter(env, "send", "2016-q3", "--yes", "--resend-uncertain")
    assert resumed.returncode == 0, resumed.stderr
    assert _recipients(outbox) == Counter(emails)
    assert _report()["accepted"] == count


def _keyed(*keys: str) -> Message:
    return Message(
        subject="Hello",
        html="<p>Hi</p>",
        text="Hi",
        from_email="news@example.org",
        from_name="News",
        recipients=[
            Recipient(email=f"r{n}@example.org", delivery_key=key) for n, key in enumerate(keys)
        ],
    )


def test_an_existing_message_is_accepted_and_not_rewritten(tmp_path: Path):
    outbox = OutboxTransport(tmp_path)
    first = outbox.send(_keyed("20261129T100000Z-send1-delivery1"))
    path = tmp_path / "20261129T100000Z-send1-delivery1.eml"
    before = path.read_bytes()
    again = outbox.send(
        _keyed("20261129T100000Z-send1-delivery1", "20261129T100000Z-send1-delivery2")
    )
    assert first.accepted == ["r0@example.org"]
    assert again.accepted == ["r0@example.org", "r1@example.org"]
    assert path.read_bytes() == before  # the same message, not a second one
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20261129T100000Z-send1-delivery1.eml",
        "20261129T100000Z-send1-delivery2.eml",
    ]


def test_temporary_files_of_a_crash_are_ignored_then_removed_when_stale(tmp_path: Path):
    stale = tmp_path / ".20261129T100000Z-send1-delivery1.4242-deadbeef.tmp"
    fresh = tmp_path / ".20261129T100000Z-send1-delivery2.4343-feedface.tmp"
    for leftover in (stale, fresh):
        leftover.write_bytes(b"From: half a message")
    old = time.time() - STALE_TEMPORARY - 60
    os.utime(stale, (old, old))
    OutboxTransport(tmp_path).send(_keyed("20261129T100000Z-send1-delivery1"))
    assert not stale.exists()  # left by a crash long ago
    assert fresh.exists()  # may be another process's write in progress: left alone
    assert [p.name for p in tmp_path.glob("*.eml")] == ["20261129T100000Z-send1-delivery1.eml"]


def test_a_delivery_key_that_is_not_a_plain_file_name_is_refused(tmp_path: Path):
    from newsletter.transports.base import DeliveryError

    with pytest.raises(DeliveryError, match="cannot be a file name"):
        OutboxTransport(tmp_path / "out").send(_keyed("../../etc/passwd"))
    assert not (tmp_path / "out").exists()
