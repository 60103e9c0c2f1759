"""Fuzz: generated hostile input, for a bounded time, against the signup endpoints and the
webhook of a real ``newsletter serve`` process, and against ``content sync`` from a website on
loopback. Whatever comes in: no 5xx, no traceback, no script or event handler in any page or
email we produce, and refused input leaves the store as it was.

The run is reproducible: the seed is printed in every failure. ``NEWSLETTER_FUZZ_SEED`` picks
another one and ``NEWSLETTER_FUZZ_SECONDS`` (default 5) sets the time spent per target.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from newsletter import db
from tests import hostile
from tests.conftest import run_cli
from tests.fake_site import FakePost, FakeSite, Serving
from tests.webhook_kit import SigningKey, event

SEED = int(os.environ.get("NEWSLETTER_FUZZ_SEED", "20261129"))
SECONDS = float(os.environ.get("NEWSLETTER_FUZZ_SECONDS", "5"))
SECRET = "fuzz-secret-key-" + "k" * 40
PLACEHOLDER = re.compile(r"%%[a-z_]+%%")
TABLES = ("subscriber", "consent", "status_event", "suppression")


@dataclass
class Server:
    """A ``newsletter serve`` process on a free loopback port, its stderr kept in a file."""

    url: str
    engine: sa.Engine
    outbox: Path
    stderr: Path
    key: SigningKey
    process: subprocess.Popen[bytes]
    tokens: list[str] = field(default_factory=list)

    def store(self) -> dict[str, Any]:
        """Row counts and every subscriber's status: what refused input must leave alone."""
        with self.engine.connect() as connection:
            state: dict[str, Any] = {
                table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                for table in TABLES
            }
            rows = connection.execute(sa.text("SELECT id, email, status FROM subscriber"))
            state["people"] = sorted(tuple(row) for row in rows)
        return state

    def log(self) -> str:
        time.sleep(0.3)  # uvicorn logs an exception after the 500 has gone out
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def traceback(self) -> str:
        log = self.log()
        return log if "Traceback" in log or " 500 " in log else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(project: Path, database_url: str) -> Iterator[Server]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    port = _free_port()
    key = SigningKey()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env |= {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
        "NEWSLETTER_SIGNUP_RATE_LIMIT": "off",
        "NEWSLETTER_OUTBOX_DIR": str(project / "outbox"),
        "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": key.public,
    }
    stderr = project / "serve.stderr"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, stderr.read_text()
        assert time.monotonic() < deadline, "newsletter serve did not start"
        time.sleep(0.1)
    try:
        yield Server(url, engine, project / "outbox", stderr, key, process)
    finally:
        process.terminate()
        process.wait(10)
        engine.dispose()


# ---- requests a hostile visitor could make --------------------------------------------------


def _header(rng: random.Random) -> str:
    """A header value httpx can send: printable Latin-1, no line breaks, no space at either end
    (h11 refuses one: the request would never leave the client), sometimes long."""
    value = hostile.text(rng, 2).encode("latin-1", "replace").decode("latin-1")
    return "".join(c for c in value if " " <= c <= "~")[:2000].strip(" ")


def _token(rng: random.Random, server: Server) -> str:
    if server.tokens and rng.random() < 0.6:
        real = list(rng.choice(server.tokens))
        spot = rng.randrange(len(real))
        real[spot] = "A" if real[spot] != "A" else "B"  # tampered: one character changed
        return "".join(real)
    return quote(hostile.text(rng, 1)[:500], safe="") or "x"


def _signup_request(rng: random.Random, server: Server) -> dict[str, Any]:
    """The keyword arguments of one ``httpx.request`` call aimed at the public pages."""
    headers = {"Accept": rng.choice(["text/html", "application/json", "*/*"])}
    for name in ("Referer", "User-Agent", "X-Forwarded-For", "Origin", "Host"):
        if rng.random() < 0.2:
            headers[name] = _header(rng)
    roll = rng.random()
    if roll < 0.35:
        fields = {"email": hostile.address(rng), "name": hostile.text(rng, 2)}
        if rng.random() < 0.1:
            fields["website"] = "http://spam.example"
        if rng.random() < 0.2:
            fields[hostile.text(rng, 1)[:50]] = hostile.text(rng, 1)
        return {"method": "POST", "url": "/subscribe", "data": fields, "headers": headers}
    if roll < 0.6:
        headers["Content-Type"] = "application/json"
        choice = rng.random()
        if choice < 0.5:
            body: Any = {"email": hostile.address(rng), "name": hostile.text(rng, 2)}
            if rng.random() < 0.3:
                body[rng.choice(["email", "name"])] = hostile.json_value(rng)
            content = json.dumps(body).encode()
        elif choice < 0.75:
            content = json.dumps(hostile.json_value(rng)).encode()
        elif choice < 0.9:
            content = hostile.nested_json(rng.choice([50, 1_000, 100_000]))
        else:
            content = json.dumps({"email": "a" * rng.choice([300, 100_000, 3_000_000])}).encode()
        return {"method": "POST", "url": "/subscribe", "content": content, "headers": headers}
    if roll < 0.7:
        headers["Content-Type"] = rng.choice(
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "multipart/form-data",
                "text/plain",
                "application/json; charset=utf-16",
                _header(rng),
            ]
        )
        content = rng.choice(
            [
                b"email=%ZZ&name=%",
                b"--x\r\nContent-Disposition: form-data; name=email\r\n\r\n",
                bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000))),
                b"email=" + b"a" * 200_000,
            ]
        )
        return {"method": "POST", "url": "/subscribe", "content": content, "headers": headers}
    token = _token(rng, server)
    method, path = rng.choice(
        [
            ("GET", f"/confirm/{token}"),
            ("GET", f"/unsubscribe/{token}"),
            ("POST", f"/unsubscribe/{token}"),
            ("POST", f"/resubscribe/{token}"),
            ("HEAD", f"/unsubscribe/{token}"),
            ("GET", f"/archive/{token}"),
            ("GET", f"/subscribe?email={token}"),
            ("HEAD", "/subscribe"),
        ]
    )
    body = {"List-Unsubscribe": "One-Click"} if method == "POST" else None
    return {"method": method, "url": path, "data": body, "headers": headers}


def _long_inputs(request: dict[str, Any]) -> list[str]:
    """Pieces of what was sent that an answer must not echo whole."""
    values: list[str] = []
    for value in (request.get("data") or {}).values():
        values.append(str(value))
    content = request.get("content")
    if isinstance(content, bytes):
        values.append(content.decode("utf-8", "replace"))
    return [v for v in values if len(v) > 300]


def _assert_answer(
    server: Server, response: httpx.Response, request: dict[str, Any], before: Any
) -> None:
    where = f"seed {SEED}: {request['method']} {request['url'][:80]} -> {response.status_code}"
    assert response.status_code < 500, f"{where}\n{server.log()[-3000:]}"
    if "html" in response.headers.get("content-type", ""):
        found = hostile.scripty(
            response.text, origin=f"{response.url.scheme}://{response.url.netloc.decode()}"
        )
        assert not found, (where, found)
    for value in _long_inputs(request):
        assert value[:300] not in response.text, f"{where}: the answer echoes the whole input"
    if response.status_code >= 400:
        assert server.store() == before, f"{where}: refused input changed the store"


def _collect_tokens(server: Server) -> None:
    """Confirm links from the confirmation emails sent so far: the tokens tampering starts from."""
    found = []
    for path in server.outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(("plain",))
        text = part.get_content() if part is not None else ""
        found += re.findall(r"/confirm/([A-Za-z0-9_.\-]+)", text)
    server.tokens = found


def _assert_outbox_safe(server: Server) -> None:
    for path in server.outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        html = message.get_body(("html",))
        if html is not None:
            body = html.get_content()
            assert not hostile.scripty(body), (path.name, hostile.scripty(body))
            assert not PLACEHOLDER.search(body), f"{path.name}: an unfilled placeholder"


def test_fuzz_signup_pages(server: Server) -> None:
    rng = random.Random(SEED)
    deadline = time.monotonic() + SECONDS
    count = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while time.monotonic() < deadline or count < 20:
            if count % 25 == 0:
                _collect_tokens(server)
            request = _signup_request(rng, server)
            before = server.store()
            response = client.request(**request)
            _assert_answer(server, response, request, before)
            count += 1
        assert client.get("/healthz").status_code == 200
    assert not server.traceback(), f"seed {SEED}: the server logged\n{server.traceback()}"
    _assert_outbox_safe(server)


def _webhook_body(rng: random.Random, people: list[tuple[Any, ...]]) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return hostile.nested_json(rng.choice([100, 10_000]))
    if roll < 0.2:
        return json.dumps(hostile.json_value(rng)).encode()
    events = []
    for _ in range(rng.randint(1, 20)):
        person = rng.choice(people) if people and rng.random() < 0.7 else (rng.randint(1, 50), "")
        kind = rng.choice(["bounce", "dropped", "spamreport", "unsubscribe", "delivered", "open"])
        item = event(
            kind,
            str(person[1]) if rng.random() < 0.8 else hostile.address(rng),
            subscriber_id=rng.choice([person[0], str(person[0]), hostile.json_value(rng)]),
            send_id=rng.choice([1, "1", hostile.json_value(rng)]),
        )
        for name in rng.sample(sorted(item), rng.randint(0, 3)):
            item[name] = hostile.json_value(rng)
        events.append(item)
    return json.dumps(events).encode()


def test_fuzz_webhook_changes_nobody(server: Server) -> None:
    """No delivery of ours exists, so no event, however well signed, may change a subscriber."""
    rng = random.Random(SEED)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(5):
            response = client.post("/subscribe", data={"email": f"person{n}@example.net"})
            assert response.status_code == 303  # to the thanks page
        before = server.store()
        deadline = time.monotonic() + SECONDS
        count = 0
        while time.monotonic() < deadline or count < 20:
            body = _webhook_body(rng, before["people"])
            headers = server.key.headers(body)
            if rng.random() < 0.1:
                headers[rng.choice(list(headers))] = _header(rng)
            response = client.post("/webhooks/sendgrid", content=body, headers=headers)
            where = f"seed {SEED}: {body[:300]!r}"
            assert response.status_code < 500, f"{where}\n{server.log()[-3000:]}"
            assert server.store() == before, f"{where} changed a subscriber"
            count += 1
    assert not server.traceback(), f"seed {SEED}: the server logged\n{server.traceback()}"


# ---- content sync from a hostile website ----------------------------------------------------


@dataclass
class JunkSite(FakeSite):
    """A site whose posts endpoint answers ``junk`` (bytes) when it is set."""

    junk: bytes | None = None

    def _posts(self, query: dict[str, str]) -> Any:
        if self.junk is None:
            return super()._posts(query)
        extra = {"X-WP-Total": "1", "X-WP-TotalPages": "1"}
        return 200, "application/json; charset=UTF-8", extra, self.junk


def _hostile_post(rng: random.Random, n: int) -> FakePost:
    good_date = f"2016-{rng.randint(7, 9):02d}-{rng.randint(1, 28):02d}T0{rng.randint(0, 9)}:00:00"
    return FakePost(
        id=n,
        title=hostile.text(rng, 2),
        content=hostile.post_html(rng),
        excerpt=hostile.text(rng, 2),
        slug=rng.choice([f"post-{n}", hostile.text(rng, 1)[:60]]),
        author=hostile.text(rng, 1),
        image=rng.choice(
            [
                "",
                "javascript:alert(1)",
                "https://example.org/%%email%%.png",
                'https://example.org/a.png" onerror="alert(1)',
            ]
        ),
        image_alt=hostile.text(rng, 1),
        date_gmt=good_date if rng.random() < 0.9 else rng.choice(["0001-01-01T00:00:00", "x"]),
        categories=[2],
    )


FUZZ_ISSUE = """\
title = "Fuzz"
subject = "Fuzz"
quarter = "2016-Q3"
template = "quarterly"

[[sections]]
title = "Everything, in full"
categories = ["news"]
display = "full"
limit = 200
"""


def _posts_of(engine: sa.Engine, source: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        query = sa.text("SELECT source_id, content_hash FROM post WHERE source = :s ORDER BY 1")
        return [tuple(row) for row in connection.execute(query, {"s": source})]


def test_fuzz_content_sync(project: Path, database_url: str, monkeypatch) -> None:
    rng = random.Random(SEED)
    monkeypatch.setenv("NEWSLETTER_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "0")
    monkeypatch.setenv("NEWSLETTER_HTTP_TIMEOUT", "5")
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    (project / "issues" / "fuzz.toml").write_text(FUZZ_ISSUE, encoding="utf-8")
    deadline = time.monotonic() + SECONDS
    count = 0
    while time.monotonic() < deadline or count < 5:
        site = JunkSite(posts=[_hostile_post(rng, n) for n in range(1, rng.randint(2, 8))])
        if rng.random() < 0.4:
            site.junk = rng.choice(
                [
                    json.dumps(hostile.json_value(rng)).encode(),
                    json.dumps([hostile.json_value(rng) for _ in range(3)]).encode(),
                    hostile.nested_json(100_000),
                    b"<html><body>not json</body></html>",
                ]
            )
        name = f"fuzz{count}"
        with Serving(site) as url:
            sources = [{"name": name, "type": "wordpress", "url": url}]
            monkeypatch.setenv("NEWSLETTER_SOURCES", json.dumps(sources))
            code, _out, err = run_cli("content", "sync")
        where = f"seed {SEED}, round {count}"
        assert code in (0, 1), f"{where}: exit {code}\n{err}"
        assert "Traceback" not in err, f"{where}\n{err}"
        if code == 1:
            assert name in err, f"{where}: the error does not name the source\n{err}"
            assert _posts_of(engine, name) == [], f"{where}: a refused source changed the store"
        count += 1
    code, _out, err = run_cli("build", "fuzz")
    assert code in (0, 1) and "Traceback" not in err, err
    built = project / "build" / "fuzz" / "index.html"
    if code == 0:
        html = built.read_text(encoding="utf-8")
        assert not hostile.scripty(html), hostile.scripty(html)
        sample_code, _out, err = run_cli("build", "2016-q3")
        assert sample_code == 0, err
        sample = (project / "build" / "2016-q3" / "index.html").read_text(encoding="utf-8")
        for token in set(PLACEHOLDER.findall(html)):
            assert html.count(token) <= sample.count(token), f"{token} from a post"
    engine.dispose()
