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
import copy
import json
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent / "sendgrid" / "tsg_mail_v3.json"
SPEC_URI = "urn:sendgrid-oai:tsg_mail_v3.json"
SCHEMA_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
MAX_RECIPIENTS = 1000
MAX_ARGS_BYTES = 10_000
MAX_BODY_BYTES = 30 * 1024 * 1024
RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}  # fmt: skip
UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"
UNVERIFIED = (
    "The from address does not match a verified Sender Identity. Mail cannot be sent until this "
    "error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/"
    "sender-identity/ to see the Sender Identity requirements"
)
FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    "email parameter, but may also contain a name parameter."
)
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _patch(document: dict[str, Any]) -> dict[str, Any]:
    """Fix, in memory, the faults SOURCE.md lists in the official file."""
    document = copy.deepcopy(document)
    body = document["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    props = body["schema"]["properties"]
    # 1. top-level custom_args is an object of string -> string, not a string
    props["custom_args"] = {**STRING_MAP, "description": props["custom_args"]["description"]}
    personal = props["personalizations"]["items"]["properties"]
    # 2. per-personalization custom_args: string values; byte limits are checked in code
    personal["custom_args"] = {**STRING_MAP, "description": personal["custom_args"]["description"]}
    personal["substitutions"].pop("maxProperties")
    # 3. at least one personalization
    props["personalizations"]["minItems"] = 1
    return document


@cache
def validator() -> Draft202012Validator:
    document = _patch(json.loads(SPEC.read_text()))
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document))
    return Draft202012Validator(
        {"$ref": SPEC_URI + SCHEMA_POINTER},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _error(message: str, field: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": None}


def _schema_message(error: Any, path: str) -> str:
    """SendGrid's documented wording where there is one, jsonschema's otherwise."""
    if error.validator == "required" and not path and "'from'" in error.message:
        return FROM_REQUIRED
    if path == "personalizations" and error.validator == "minItems":
        return "You must have at least one personalization."
    if path == "personalizations" and error.validator == "maxItems":
        return (
            "The personalization block is limited to 1000 personalizations per API request. "
            f"You have provided {len(error.instance)} personalizations. Please consider "
            "splitting this into multiple requests and resending your request."
        )
    return str(error.message)


def schema_errors(body: Any) -> list[dict[str, Any]]:
    found = []
    for error in sorted(validator().iter_errors(body), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path)
        message = _schema_message(error, path)
        if len(message) > 300:  # jsonschema quotes the whole instance
            message = message[:300] + "..."
        found.append(_error(message, path or None))
    return found


def _bytes(mapping: dict[str, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in mapping.items())


def _personalization_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors, seen, total = [], set(), 0
    top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
    for index, entry in enumerate(body["personalizations"]):
        for kind in ("to", "cc", "bcc"):
            for address in entry.get(kind, []):
                total += 1
                email = str(address.get("email", "")).lower()
                if email in seen:
                    errors.append(
                        _error(
                            "Each unique email address in the personalizations array should "
                            "only be included once. You have included [" + email + "] more "
                            "than once.",
                            f"personalizations.{index}.{kind}",
                        )
                    )
                seen.add(email)
        if _bytes(entry.get("substitutions", {})) >= MAX_ARGS_BYTES:
            errors.append(_error("substitutions exceed 10,000 bytes", f"personalizations.{index}"))
        if _bytes({**top_args, **entry.get("custom_args", {})}) >= MAX_ARGS_BYTES:
            errors.append(_error("custom_args exceed 10,000 bytes", f"personalizations.{index}"))
        errors += _header_errors(entry.get("headers", {}), f"personalizations.{index}.headers")
    if total > MAX_RECIPIENTS:
        errors.append(
            _error(
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
                "personalizations",
            )
        )
    return errors


def _header_errors(headers: dict[str, Any], where: str) -> list[dict[str, Any]]:
    errors = []
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            errors.append(_error(f"The {name} header cannot be set", where))
        if not isinstance(value, str):
            errors.append(_error("Invalid type. Expected: string", f"{where}.{name}"))
    return errors


def rule_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The cross-field rules of the docs (only run on a body the schema accepted)."""
    errors = _personalization_errors(body)
    if "template_id" not in body and not body.get("content"):
        errors.append(
            _error(
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.",
                "content",
            )
        )
    every_has_subject = all(p.get("subject") for p in body["personalizations"])
    if not body.get("subject") and "template_id" not in body and not every_has_subject:
        errors.append(
            _error(
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.",
                "subject",
            )
        )
    if "reply_to" in body and "reply_to_list" in body:
        errors.append(_error("reply_to and reply_to_list cannot both be used", "reply_to"))
    if any(not c.isascii() for c in body.get("categories", [])):
        errors.append(_error("categories must be US-ASCII", "categories"))
    errors += _header_errors(body.get("headers", {}), "headers")
    return errors


def validate(body: Any) -> list[dict[str, Any]]:
    """SendGrid-shaped errors for a request body; empty when SendGrid would take it."""
    errors = schema_errors(body)
    return errors or rule_errors(body)


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
                stats = {"requests": state.requests, "delivered": state.delivered}
                stats["validating_seconds"] = state.validating
            self._answer(200, stats)
            return
        self._errors(405 if self.path == "/v3/mail/send" else 404, _error("not found"))

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
            self._errors(413, _error("content too large"))
            return
        if self.path != "/v3/mail/send":
            self._errors(404, _error("not found"))
        elif self.headers.get("Authorization") != f"Bearer {state.api_key}":
            with state.lock:
                state.unauthorized += 1
            self._errors(401, _error(UNAUTHORIZED))
        else:
            self._mail_send(state, raw)

    def _mail_send(self, state: _State, raw: bytes) -> None:
        fault = state.next_fault()
        if fault and self._fault(*fault):
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._errors(400, _error("Bad Request"))
            return
        started = time.perf_counter()
        errors = validate(body)
        with state.lock:
            state.validating += time.perf_counter() - started
        if not errors and not _verified(state.verified_senders, body):
            self._errors(403, _error(UNVERIFIED, "from"))
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
            self._errors(status, _error(message))
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
    ) -> None:
        """``verified_senders``: when given, any other From address gets SendGrid's 403."""
        self.api_key = api_key
        self._server = _Server(("127.0.0.1", 0), _Handler)
        senders = frozenset(s.lower() for s in verified_senders) or None
        self._server.state = _State(api_key, senders, record=record)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
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
    args = parser.parse_args()
    with FakeSendGrid(args.api_key, record=not args.no_record) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
        print(json.dumps({"requests": fake.requests}))


if __name__ == "__main__":
    main()
