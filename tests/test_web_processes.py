"""Several web processes against one PostgreSQL and one Redis behave as one: the signup limit
holds for all of them together, a staff session started on one works on the other and a sign-out
on one ends it on both, the sign-in throttle counts across them, signups posted to both are
stored once; ``serve --workers 2`` starts two processes that both answer, one of them running the
in-server scheduler. Real ``python -m newsletter serve`` processes on loopback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from newsletter import db
from newsletter.models import Role
from newsletter.staff import accounts, sessions
from newsletter.web.ratelimit import key_prefix
from tests.conftest import PG_URL, ROOT, run_cli
from tests.redis_kit import REDIS_URL, answering, forget

SECRET = "test-secret-key-for-signing-links-0123"
PASSWORD = "a long and unusual passphrase 7"


@dataclass
class Site:
    """One deployment: a project folder, a PostgreSQL schema, a Redis prefix, the env."""

    folder: Path
    database_url: str
    env: dict[str, str]
    base_url: str

    def engine(self) -> sa.Engine:
        return db.make_engine(self.database_url)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if not PG_URL:
        pytest.skip("several web processes need PostgreSQL: set NEWSLETTER_TEST_DATABASE_URL")
    client = answering()
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("content", "issues", "templates"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    database_url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    base_url = f"http://news-{uuid.uuid4().hex[:8]}.test"  # its own Redis key prefix
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_BASE_URL=base_url,
        NEWSLETTER_RATE_LIMIT_STORAGE_URL=REDIS_URL,
        NEWSLETTER_SCHEDULER_IN_SERVER="false",
    )
    try:
        yield Site(folder, database_url, env, base_url)
    finally:
        forget(client, key_prefix(base_url))
        client.close()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextmanager
def serving(site: Site, *extra: str, name: str = "web") -> Iterator[Server]:
    """``python -m newsletter serve`` until it answers /healthz; stopped with SIGINT."""
    port = _free_port()
    log = site.folder / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--port", str(port), *extra],
            cwd=site.folder,
            env=site.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"serve did not answer\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield Server(process, url, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def two(site: Site) -> Iterator[tuple[Server, Server]]:
    """Two serve processes; the second starts once the first has migrated the schema."""
    with serving(site, name="a") as a, serving(site, name="b") as b:
        yield a, b


def _signup(server: Server, email: str) -> int:
    answer = httpx.post(
        f"{server.url}/subscribe", json={"email": email}, timeout=30, trust_env=False
    )
    return answer.status_code


def _stored(site: Site) -> list[str]:
    engine = site.engine()
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT email FROM subscriber").all()
        return sorted(row[0] for row in rows)
    finally:
        engine.dispose()


def test_the_signup_limit_holds_for_two_processes_together(site: Site) -> None:
    site.env["NEWSLETTER_SIGNUP_RATE_LIMIT"] = "5/minute"
    with two(site) as (a, b):
        answers = [_signup((a, b)[i % 2], f"reader{i}@example.net") for i in range(8)]
        assert answers[:5] == [200] * 5
        assert answers[5:] == [429] * 3  # whichever process gets it
        assert _signup(a, "late@example.net") == _signup(b, "late2@example.net") == 429
    assert _stored(site) == sorted(f"reader{i}@example.net" for i in range(5))


def test_signups_posted_to_both_processes_are_all_stored_once(site: Site) -> None:
    site.env["NEWSLETTER_SIGNUP_RATE_LIMIT"] = "off"
    with two(site) as (a, b):
        addresses = [f"person{i}@example.net" for i in range(20)]
        # each address to both processes at the same moment, and the list alternately
        jobs = [(server, address) for address in addresses for server in (a, b)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda job: _signup(*job), jobs))
    assert answers == [200] * len(jobs)
    assert _stored(site) == sorted(addresses)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'"X-CSRF-Token": "([^"]+)"', page
    )
    assert found, page[:500]
    return found.group(1)


def _login(server: Server, site: Site, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/admin/login",
        data={"email": email, "password": password, "next": "/admin"},
        headers={"Origin": site.base_url},
        timeout=30,
        trust_env=False,
    )


def test_a_staff_session_and_the_sign_in_throttle_span_both_processes(site: Site) -> None:
    with two(site) as (a, b):
        engine = site.engine()
        try:
            staff = accounts.add(engine, "ed@example.org", role=Role.editor, name="Ed")
            assert staff.id is not None
            accounts.set_password(engine, staff.id, PASSWORD)
        finally:
            engine.dispose()

        signed_in = _login(a, site, "ed@example.org", PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        cookie = {"nl_staff": signed_in.cookies["nl_staff"]}
        on_b = httpx.get(f"{b.url}/admin", cookies=cookie, timeout=30, trust_env=False)
        assert on_b.status_code == 200 and "X-CSRF-Token" in on_b.text  # signed in there
        out = httpx.post(
            f"{b.url}/admin/logout",
            data={"csrf_token": _csrf(on_b.text)},
            headers={"Origin": site.base_url},
            cookies=cookie,
            timeout=30,
            trust_env=False,
        )
        assert out.status_code == 303
        for server in (a, b):  # ended on both
            gone = httpx.get(f"{server.url}/admin", cookies=cookie, timeout=30, trust_env=False)
            assert gone.status_code == 303 and "/admin/login" in gone.headers["location"]

        # signin_rate_limit 5/15 minutes: five failures spread over both, then even the right
        # password is refused by either
        wrong = [
            _login((a, b)[i % 2], site, "ed@example.org", "not it at all, no") for i in range(5)
        ]
        assert [r.status_code for r in wrong] == [401] * 5
        assert _login(a, site, "ed@example.org", PASSWORD).status_code == 429
        assert _login(b, site, "ed@example.org", PASSWORD).status_code == 429


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing's spawned children, not its helpers)."""
    found = []
    for child in _children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            if b"spawn_main" in cmdline.read():
                found.append(child)
    return sorted(found)


def _server_side(server_port: int, client_port: int) -> str:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if local.endswith(f":{server_port:04X}") and remote.endswith(f":{client_port:04X}"):
            return fields[9]
    raise AssertionError(f"no connection from port {client_port}")


def _holder(inode: str, pids: list[int]) -> int:
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds socket {inode}")


def test_serve_workers_2_runs_two_processes_that_both_answer(site: Site) -> None:
    site.env["NEWSLETTER_SCHEDULER_IN_SERVER"] = "true"
    with serving(site, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while len(workers := _workers(server.process.pid)) < 2:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        assert len(workers) == 2
        port = int(server.url.rsplit(":", 1)[1])
        answered: dict[int, int] = {}
        connections = []
        try:  # connections kept open until both workers have answered one (bounded)
            for _ in range(200):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                connections.append(sock)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: news\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
                worker = _holder(_server_side(port, sock.getsockname()[1]), workers)
                answered[worker] = answered.get(worker, 0) + 1
                if len(answered) == 2:
                    break
        finally:
            for sock in connections:
                sock.close()
        assert sorted(answered) == workers, answered
        # one in-server scheduler for the two: the one holding the leader lock
        deadline = time.monotonic() + 30
        while "runs the due-send passes" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        time.sleep(1)  # the other worker has had its chance to take the lead too
        leads = re.findall(r"in-server scheduler: process (\d+) runs", server.log.read_text())
        assert len(leads) == 1 and int(leads[0]) in workers


def test_several_workers_are_refused_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'one.db'}")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    code, _, err = run_cli("serve", "--workers", "2")
    assert code == 1
    assert err.strip().splitlines() == [
        "error: --workers 2 needs PostgreSQL (database_url): SQLite takes one writer at a "
        "time; serve it with one process (the default)"
    ]
    assert not (tmp_path / "one.db").exists()  # refused before anything was opened


def test_an_import_and_a_sync_started_on_one_process_are_followed_on_the_other(
    site: Site,
) -> None:
    with two(site) as (a, b):
        engine = site.engine()
        try:
            staff = accounts.add(engine, "ad@example.org", role=Role.admin, name="Ad")
            assert staff.id is not None
            token, _ = sessions.start(engine, staff.id, sessions.Lifetimes.of(7200, 43200))
        finally:
            engine.dispose()
        cookie = {"nl_staff": token}
        headers = {"Origin": site.base_url, "Sec-Fetch-Site": "same-origin"}

        def client(server: Server) -> httpx.Client:
            return httpx.Client(
                base_url=server.url, cookies=cookie, headers=headers, timeout=30, trust_env=False
            )

        with client(a) as on_a, client(b) as on_b:
            csrf = _csrf(on_a.get("/admin/subscribers/import").text)
            people = "email,name\nann@example.org,Ann\nbo@example.org,Bo\n"
            checked = on_a.post(
                "/admin/subscribers/import",
                data={"csrf_token": csrf},
                files={"file": ("people.csv", people.encode(), "text/csv")},
            )
            run = re.search(r'action="(/admin/subscribers/import/[^/"]+/run)"', checked.text)
            assert run, checked.text[:500]
            started = on_a.post(run.group(1), data={"csrf_token": csrf, "confirmed": "no"})
            assert started.status_code == 303
            progress = started.headers["location"]
            page = _poll(on_b, progress, "Done:")  # the other process answers the poll
            assert "Done: 2 imported" in page and "hx-trigger" not in page

            synced = on_a.post("/admin/sources/sync", data={"csrf_token": csrf, "source": "*"})
            assert synced.status_code == 303
            table = _poll(on_b, "/admin/sources/progress", "Synced:")
            assert "Synced: " in table and "Syncing" not in table


def _poll(client: httpx.Client, url: str, until: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        page = client.get(url, headers={"HX-Request": "true"}).text
        if until in page:
            return page
        assert time.monotonic() < deadline, page[:1000]
        time.sleep(0.1)
