"""Real processes: a send killed with SIGKILL midway and resumed; several workers at once.

Each process is `python -m newsletter send ... --yes` against the validating fake SendGrid,
which counts every address it accepted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session

from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.fake_sendgrid import FakeSendGrid

SECRET = "test-secret-key-for-signing-links"
SENDER = "newsletter@mpat.example.org"
BATCH = 5
WORKERS = 2  # worker threads per process: each has at most one batch in flight


def _add(engine, count: int) -> list[str]:
    emails = [f"reader{i}@example.net" for i in range(count)]
    with Session(engine) as session:
        for address in emails:
            subscribers.add(
                session, address, "", confirmed=True, consent=ConsentInfo(source="test")
            )
        session.commit()
    return emails


def _env(fake: FakeSendGrid, database_url: str, batch: int = BATCH) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_TRANSPORT="sendgrid",
        NEWSLETTER_BASE_URL="https://news.example.org",
        NEWSLETTER_SENDGRID_API_KEY=fake.api_key,
        NEWSLETTER_SENDGRID_HOST=fake.url,
        NEWSLETTER_SENDGRID_BATCH_SIZE=str(batch),
        NEWSLETTER_SENDGRID_TIMEOUT="10",
        NEWSLETTER_SEND_CONCURRENCY=str(WORKERS),
    )
    return env


def _send(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "2016-q3", "--yes", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "report", "2016-q3", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    [row] = rows
    return row


def _uncertain(engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT subscriber.email FROM delivery JOIN subscriber ON subscriber.id = delivery.subscriber_id"
            " WHERE delivery.status = 'uncertain'"
        ).all()
    return {r[0] for r in rows}


def test_killed_midway_then_resumed_everyone_gets_exactly_one_except_the_uncertain(
    project, synced, database_url
):
    emails = _add(synced, 60)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        fake.slow_next(1000, 0.2)  # every batch takes a while: the kill lands mid-send
        process = _send(env)
        deadline = time.monotonic() + 60
        # Kill while the fake holds the 4th request: that batch is surely in flight.
        while not (fake.requests >= 4 and fake.requests > len(fake.accepted)):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()  # reaps it and closes its pipes
        fake.wait_idle()
        before = _report(env)
        assert before["status"] == "sending" and before["in_flight"] > 0

        resumed = _send(env)
        out, err = resumed.communicate(timeout=120)
        row = _report(env)
        assert row["status"] == "finished" and row["pending"] == row["in_flight"] == 0
        uncertain = _uncertain(synced)
        # the batches in flight when the process died: at least one, at most one per worker
        assert len(uncertain) in {BATCH * n for n in range(1, WORKERS + 1)}
        # the summary counts the whole send, the crash's uncertain rows included: exit 1
        assert resumed.returncode == 1 and "see: newsletter report 2016-q3" in err
        accepted = 60 - len(uncertain)
        assert f"60 recipients: {accepted} accepted, 0 failed, {len(uncertain)} uncertain" in out
        assert "this run: " in out and "--resend-uncertain sends to them" in out

        again = _send(env)  # finished: says so, sends nothing, exit 0
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert out.startswith("2016-q3 was already sent: send 1 (sendgrid), finished ")
        assert f"{accepted} accepted, 0 failed, {len(uncertain)} uncertain" in out
        assert "About to" not in out and "sending" not in out
        assert row["uncertain"] == len(uncertain)
        assert row["accepted"] + row["uncertain"] == 60
        assert row["reasons"]["uncertain"] == {
            "the sending process died while this batch was in flight": len(uncertain)
        }
        counts = Counter(fake.recipients())
        for address in emails:
            if address in uncertain:
                assert counts[address] <= 1, address
            else:
                assert counts[address] == 1, address


@pytest.mark.parametrize("workers", [3])
def test_several_workers_at_once_never_send_anyone_twice(project, synced, database_url, workers):
    emails = _add(synced, 300)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url, batch=10)
        fake.slow_next(1000, 0.02)
        processes = [_send(env) for _ in range(workers)]
        for process in processes:
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
        counts = Counter(fake.recipients())
        assert sorted(counts) == sorted(emails)
        assert set(counts.values()) == {1}
        row = _report(env)
        assert (row["accepted"], row["uncertain"], row["status"]) == (300, 0, "finished")
        assert all(len(a.body["personalizations"]) <= 10 for a in fake.accepted)


# --- one send in several processes (send --processes N, the send_processes setting) ---

PROCESSES = 2


def _send_group(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    """`newsletter send` in a process group of its own, so the test can kill it whole."""
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "2016-q3", "--yes", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_mid_send(fake: FakeSendGrid, process: subprocess.Popen[str], requests: int) -> None:
    """Until the fake holds a request it has not answered, after ``requests`` requests."""
    deadline = time.monotonic() + 120
    while not (fake.requests >= requests and fake.requests > len(fake.accepted)):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.02)


def _claiming_pids(engine) -> set[int]:
    """The pids in the worker ids (host:pid:random) that claimed rows."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT DISTINCT claimed_by FROM delivery").all()
    return {int(r[0].split(":")[1]) for r in rows if r[0]}


def test_processes_killed_whole_midway_then_resumed_everyone_gets_at_most_one(
    project, synced, database_url
):
    emails = _add(synced, 80)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        fake.slow_next(1000, 0.2)
        process = _send_group(env, "--processes", str(PROCESSES))
        _wait_mid_send(fake, process, 5)
        os.killpg(process.pid, signal.SIGKILL)  # the parent and every sending process at once
        process.communicate()
        fake.wait_idle()
        assert _report(env)["in_flight"] > 0
        resumed = _send_group(env, "--processes", str(PROCESSES))  # recovers, then resumes
        out, err = resumed.communicate(timeout=180)
        row = _report(env)
        assert row["status"] == "finished" and row["pending"] == row["in_flight"] == 0, (out, err)
        uncertain = _uncertain(synced)
        # at most one batch per worker thread of each process was in flight when they died
        assert len(uncertain) in {BATCH * n for n in range(1, PROCESSES * WORKERS + 1)}
        accepted = 80 - len(uncertain)
        assert resumed.returncode == 1 and "see: newsletter report 2016-q3" in err
        assert f"80 recipients: {accepted} accepted, 0 failed, {len(uncertain)} uncertain" in out
        assert row["accepted"] == accepted and row["uncertain"] == len(uncertain)
        counts = Counter(fake.recipients())
        for address in emails:
            assert counts[address] == (counts[address] and 1), address  # never twice
            if address not in uncertain:
                assert counts[address] == 1, address
        assert not fake.rejected


def test_two_sends_of_several_processes_at_once_never_send_anyone_twice(
    project, synced, database_url
):
    emails = _add(synced, 300)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url, batch=10)
        fake.slow_next(1000, 0.02)
        runs = [_send(env, "--processes", str(PROCESSES)) for _ in range(2)]
        outs = []
        for run in runs:
            out, err = run.communicate(timeout=180)
            assert run.returncode == 0, err
            outs.append(out)
        counts = Counter(fake.recipients())
        assert sorted(counts) == sorted(emails) and set(counts.values()) == {1}
        row = _report(env)
        assert (row["accepted"], row["uncertain"], row["status"]) == (300, 0, "finished")
        # what the two runs say they did adds up to the whole send
        done = [re.search(r"this run: (\d+) accepted, 0 failed, 0 uncertain", o) for o in outs]
        assert all(done) and sum(int(m.group(1)) for m in done if m) == 300


def test_the_summary_adds_up_what_every_process_did(project, synced, database_url):
    emails = _add(synced, 300)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url, batch=10)
        env["NEWSLETTER_SEND_PROCESSES"] = "3"  # the setting, not the option
        run = _send(env)
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        assert "send 1 of 2016-q3 (sendgrid): 300 recipients: 300 accepted, 0 failed" in out
        assert "this run: 300 accepted, 0 failed, 0 uncertain, 0 skipped in 30 batches" in out
        assert sorted(fake.recipients()) == sorted(emails)
        # the batches were claimed by the sending processes, not by the command's own process
        # (how many of the three got batches depends on how fast each one started)
        assert run.pid not in _claiming_pids(synced) and _claiming_pids(synced)


def test_sigterm_stops_every_process_after_its_batch_in_flight(project, synced, database_url):
    emails = _add(synced, 80)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        fake.slow_next(1000, 0.2)
        process = _send_group(env, "--processes", str(PROCESSES))
        _wait_mid_send(fake, process, 5)
        process.send_signal(signal.SIGTERM)  # the parent only: it passes it on
        _, err = process.communicate(timeout=120)
        assert process.returncode == 1
        assert "interrupted: the 2 sending processes stopped after their batches in flight" in err
        assert "newsletter send 2016-q3 resumes" in err
        row = _report(env)
        assert row["status"] == "sending" and row["in_flight"] == row["uncertain"] == 0
        assert 0 < row["accepted"] < 80 and row["pending"] == 80 - row["accepted"]
        resumed = _send_group(env, "--processes", str(PROCESSES))
        _, err = resumed.communicate(timeout=180)
        assert resumed.returncode == 0, err
        assert Counter(fake.recipients()) == Counter(emails)  # everyone once, nobody uncertain


def test_a_process_that_fails_stops_the_send_and_the_exit_code_says_so(
    project, synced, database_url
):
    _add(synced, 40)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        env["NEWSLETTER_SENDGRID_API_KEY"] = "SG.wrong-key.for-the-fake"
        run = _send(env, "--processes", str(PROCESSES))
        out, err = run.communicate(timeout=120)
        assert run.returncode == 1
        assert "SendGrid rejected the API key" in err and "SG.wrong" not in out + err
        row = _report(env)
        assert row["status"] == "stopped" and row["pending"] == 40 and not fake.recipients()


def test_send_due_sends_in_the_configured_processes(project, synced, database_url):
    emails = _add(synced, 60)
    with FakeSendGrid(verified_senders=[SENDER]) as fake:
        env = _env(fake, database_url)
        env["NEWSLETTER_SEND_PROCESSES"] = str(PROCESSES)
        due = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "send-due", "--force"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = due.communicate(timeout=180)
        assert due.returncode == 0, err
        assert "2016-q3: sent" in out and "2016-q4: sent" in out
        assert Counter(fake.recipients()) == Counter(dict.fromkeys(emails, 2))  # two issues
        pids = _claiming_pids(synced)
        assert pids and due.pid not in pids  # sent by the processes send-due started
