"""A fake SendGrid v3 Mail Send API on loopback that is as strict as the real one, or stricter.

Every request body is validated against the ``POST /v3/mail/send`` schema of SendGrid's official
OpenAPI file (``tests/sendgrid/tsg_mail_v3.json``, patched in memory for its known faults, see
``tests/sendgrid/README.md``) plus the cross-field rules that the file does not express. It
answers 202 with ``X-Message-Id``, 200 in sandbox mode, 400/401/404/405/413 with SendGrid-shaped
error bodies, and can be told to answer the next requests with 429/500/503, slowly, or by
dropping the connection.

In a test::

    with FakeSendGrid() as fake:
        SendGridTransport(fake.api_key, host=fake.url).send(message)
        fake.recipients()          # who SendGrid accepted mail for

As a process (for bench/): ``python -m tests.fake_sendgrid`` prints its URL on the first line
and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.sendgrid_spec import MAX_BODY_BYTES, error_entry, validate

UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"
UNVERIFIED = (
    "The from address does not match a verified Sender Identity. Mail cannot be sent until this "
    "error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/"
    "sender-identity/ to see the Sender Identity requirements"
)


@dataclass(frozen=True)
class Accepted:
    """One request the fake accepted: 202 (queued) or 200 (sandbox, nothing delivered)."""

    status: int
    message_id: str | None
    body: dict[str, Any]

    @property
    def recipients(self) -> list[str]:
        return [
            a["email"]
            for p in self.body["personalizations"]
            for kind in ("to", "cc", "bcc")
            for a in p.get(kind, [])
        ]


@dataclass
class _State:
    api_key: str
    verified_senders: frozenset[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: deque[tuple[str, float]] = field(default_factory=deque)
    accepted: list[Accepted] = field(default_factory=list)
    requests: int = 0
    unauthorized: int = 0
    fast: bool = False  # validate each distinct personalization shape once (same verdict)
    record: bool = True  # False keeps only the counts (for bench/: a million bodies is a lot)
    delivered: int = 0  # recipients accepted with 202
    validating: float = 0.0  # seconds spent validating bodies
    rejected: list[dict[str, Any]] = field(default_factory=list)
    busy: int = 0
    idle: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.idle = threading.Condition(self.lock)

    def next_fault(self) -> tuple[str, float] | None:
        with self.lock:
            self.requests += 1
            return self.faults.popleft() if self.faults else None


def _verified(senders: frozenset[str] | None, body: dict[str, Any]) -> bool:
    if senders is None:
        return True
    froms = [body["from"], *(p["from"] for p in body["personalizations"] if "from" in p)]
    return all(f["email"].lower() in senders for f in froms)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) before the answer
            pass
        self.close_connection = True

    def _errors(self, status: int, *errors: dict[str, Any]) -> None:
        self._answer(status, {"errors": list(errors)})

    def do_GET(self) -> None:
        if self.path == "/_fake/stats":  # not SendGrid's: the fake's own counters, for bench/
            state = self.server.state
            with state.lock:
                stats: dict[str, float] = {"requests": state.requests, "delivered": state.delivered}
                stats["validating_seconds"] = state.validating
            self._answer(200, stats)
            return
        self._errors(405 if self.path == "/v3/mail/send" else 404, error_entry("not found"))

    def do_POST(self) -> None:
        state = self.server.state
        with state.lock:
            state.busy += 1
        try:
            self._post(state)
        finally:
            with state.lock:
                state.busy -= 1
                state.idle.notify_all()

    def _post(self, state: _State) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if length > MAX_BODY_BYTES:
            self._errors(413, error_entry("content too large"))
            return
        if self.path != "/v3/mail/send":
            self._errors(404, error_entry("not found"))
        elif self.headers.get("Authorization") != f"Bearer {state.api_key}":
            with state.lock:
                state.unauthorized += 1
            self._errors(401, error_entry(UNAUTHORIZED))
        else:
            self._mail_send(state, raw)

    def _mail_send(self, state: _State, raw: bytes) -> None:
        fault = state.next_fault()
        if fault and self._fault(*fault):
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._errors(400, error_entry("Bad Request"))
            return
        started = time.perf_counter()
        errors = validate(body, fast=state.fast)
        with state.lock:
            state.validating += time.perf_counter() - started
        if not errors and not _verified(state.verified_senders, body):
            self._errors(403, error_entry(UNVERIFIED, "from"))
            return
        if errors:
            with state.lock:
                state.rejected.append({"body": body, "errors": errors})
            self._errors(400, *errors)
            return
        sandbox = body.get("mail_settings", {}).get("sandbox_mode", {}).get("enable") is True
        message_id = None if sandbox else secrets.token_urlsafe(16)[:22]
        with state.lock:
            accepted = Accepted(200 if sandbox else 202, message_id, body)
            state.delivered += 0 if sandbox else len(accepted.recipients)
            if state.record:
                state.accepted.append(accepted)
        self._answer(
            200 if sandbox else 202, headers={"X-Message-Id": message_id} if message_id else {}
        )

    def _fault(self, kind: str, value: float) -> bool:
        """Act out a scripted fault; True when the request is answered (or dropped)."""
        if kind == "drop":
            self.close_connection = True
            return True
        if kind == "slow":
            time.sleep(value)
            return False  # then handle it normally: the slow request may well be accepted
        status = int(value)
        if status == 429:
            reset = str(int(time.time()) + int(self.server.reset_in))
            limits = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            self._answer(
                429,
                {"errors": [{"field": None, "message": "too many requests"}]},
                {**limits, "X-RateLimit-Reset": reset},
            )
        else:
            message = "internal server error" if status == 500 else "service unavailable"
            self._errors(status, error_entry(message))
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State
    reset_in: float = 2


class FakeSendGrid:
    """The fake server in a thread on 127.0.0.1, a free port; use as a context manager."""

    def __init__(
        self,
        api_key: str = "SG.fake-key.for-tests",
        *,
        verified_senders: Iterable[str] = (),
        record: bool = True,
        fast: bool = False,
        port: int = 0,
    ) -> None:
        """``verified_senders``: when given, any other From address gets SendGrid's 403.

        ``record=False`` keeps counts only; ``fast=True`` validates with ``fast_is_valid``;
        ``port``: a given port (say, where SendGrid was "down": nothing listened there).
        """
        self.api_key = api_key
        self._server = _Server(("127.0.0.1", port), _Handler)
        senders = frozenset(s.lower() for s in verified_senders) or None
        self._server.state = _State(api_key, senders, record=record, fast=fast)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _script(self, count: int, kind: str, value: float) -> None:
        with self._server.state.lock:
            self._server.state.faults.extend([(kind, value)] * count)

    def fail_next(self, count: int, status: int, *, reset_in: float = 2) -> None:
        """Answer the next ``count`` mail sends with 429 (+ X-RateLimit-*), 500 or 503."""
        if status not in (429, 500, 503):
            raise ValueError("status must be 429, 500 or 503")
        self._server.reset_in = reset_in
        self._script(count, "status", status)

    def slow_next(self, count: int, seconds: float) -> None:
        """Wait ``seconds`` before answering (then accept if valid) the next ``count``."""
        self._script(count, "slow", seconds)

    def drop_next(self, count: int) -> None:
        """Read the next ``count`` requests, then close the connection without answering."""
        self._script(count, "drop", 0)

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait until no request is being handled (a slow one may still be on its way)."""
        state = self._server.state
        with state.lock:
            if not state.idle.wait_for(lambda: state.busy == 0, timeout):
                raise TimeoutError("the fake SendGrid is still busy")

    @property
    def accepted(self) -> list[Accepted]:
        with self._server.state.lock:
            return list(self._server.state.accepted)

    @property
    def rejected(self) -> list[dict[str, Any]]:
        with self._server.state.lock:
            return list(self._server.state.rejected)

    @property
    def requests(self) -> int:
        """Mail send requests that got past the API key check."""
        with self._server.state.lock:
            return self._server.state.requests

    @property
    def unauthorized(self) -> int:
        """Requests answered 401 for a wrong or missing API key."""
        with self._server.state.lock:
            return self._server.state.unauthorized

    def recipients(self, status: int = 202) -> list[str]:
        """Every address accepted for delivery (202), in order, duplicates kept."""
        return [r for a in self.accepted if a.status == status for r in a.recipients]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-key", default="SG.fake-key.for-tests")
    parser.add_argument("--no-record", action="store_true", help="keep counts, not bodies")
    parser.add_argument("--fast", action="store_true", help="validate each shape once")
    args = parser.parse_args()
    with FakeSendGrid(args.api_key, record=not args.no_record, fast=args.fast) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
        print(json.dumps({"requests": fake.requests}))


if __name__ == "__main__":
    main()
