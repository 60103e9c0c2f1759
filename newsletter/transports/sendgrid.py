"""``SendGridTransport``: one Message becomes one ``POST /v3/mail/send`` request.

The request body is built as a plain dict (not the SDK's ``Mail`` helper, which prepends
personalizations and passes numbers through in custom_args): one personalization per recipient
with its own headers, substitutions and custom_args; the text and HTML once per request. Anything
SendGrid would refuse with an opaque 400 (CR/LF in a header, an address twice, numbers in
custom_args, too many recipients) is refused here first, with a message that says what is wrong.

Errors are mapped onto ``DeliveryError``:

- 429, 5xx, SendGrid unreachable (refused, DNS, connect timeout): ``retryable``, with
  ``retry_after`` from ``Retry-After`` or ``X-RateLimit-Reset``;
- no answer in time, or the connection dropped after the request went out: ``uncertain`` (the
  202 may have been sent; never resend blindly);
- 401, 403, 404, 405: ``fatal`` (bad key, unverified sender, wrong host): stop the whole send;
- 400, 413 and the rest: that batch failed, with SendGrid's messages.

The Event Webhook's signature check is in ``webhook_signature.py``.

The SDK's client shares one header dict between calls, so each thread gets its own client.
"""

from __future__ import annotations

import email.utils
import functools
import http.client
import json
import logging
import math
import re
import socket
import threading
import time
import urllib.error
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.errors import ConfigError
from newsletter.transports.base import BatchResult, DeliveryError, Message, Recipient

DEFAULT_HOST = "https://api.sendgrid.com"
MAX_BATCH = 1000
MAX_CATEGORIES = 10
MAX_ARGS_BYTES = 10_000
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "Content-Type",
        "Content-Transfer-Encoding", "To", "From", "Subject", "Reply-To", "CC", "BCC",
    )
)  # fmt: skip
HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable US-ASCII except ':'
API_KEY_SHAPE = re.compile(r"[!-~]+")  # what an Authorization header can carry
_BEARER = re.compile(r"(Bearer\s+)[^'\"\s,}]+")


class _HideApiKey(logging.Filter):
    """python_http_client logs every request's headers at DEBUG, the API key among them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _BEARER.sub(r"\1***", record.getMessage()), ()
        return True


logging.getLogger("python_http_client.client").addFilter(_HideApiKey())
FATAL = {
    401: "SendGrid rejected the API key (check NEWSLETTER_SENDGRID_API_KEY, Mail Send scope)",
    403: "SendGrid refused to send",
    404: "SendGrid answered 404: is sendgrid_host right?",
    405: "SendGrid answered 405: is sendgrid_host right?",
}


def _refuse(problem: str) -> DeliveryError:
    return DeliveryError(f"not sent to SendGrid: {problem}")


class _Problem(ValueError):
    """Something in a Message SendGrid would refuse; the caller adds where it is."""


def check_categories(categories: Iterable[str]) -> list[str]:
    """Categories as SendGrid takes them: at most 10, unique, US-ASCII, 1 to 255 characters."""
    found = list(dict.fromkeys(categories))
    if len(found) > MAX_CATEGORIES:
        raise _Problem(f"{len(found)} categories; SendGrid takes at most {MAX_CATEGORIES}")
    for category in found:
        if not isinstance(category, str) or not 0 < len(category) <= 255:
            raise _Problem(f"category {category!r} must be 1 to 255 characters")
        if not category.isascii() or "\r" in category or "\n" in category:
            raise _Problem(f"category {category!r} must be printable US-ASCII")
    return found


def _one_line(what: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise _Problem(f"{what} contains a line break (CR/LF): {value[:60]!r}")
    return value


@functools.lru_cache(maxsize=256)  # the same few names come with every recipient
def _header_name(name: object) -> str:
    """A header name is printable US-ASCII without ':' (RFC 5322), and not one SendGrid owns."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise _Problem(f"invalid header name {name!r}")
    if name.lower() in RESERVED_HEADERS:
        raise _Problem(f"SendGrid does not allow setting the {name} header")
    return name


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    checked = dict(headers)  # per recipient: checked in place, one call per header name
    for name, value in checked.items():
        _header_name(name)
        if type(value) is not str:
            value = checked[name] = str(value)
        if "\r" in value or "\n" in value:
            _one_line(f"header {name}", value)
    return checked


def _string_map(values: Mapping[str, Any], what: str) -> dict[str, str]:
    """Keys must be strings; values are cast to strings (SendGrid rejects numbers)."""
    result = dict(values)
    chars = 0
    for key, value in result.items():
        if type(key) is not str or not key:
            raise _Problem(f"{what} key {key!r} is not a non-empty string")
        if type(value) is not str:
            value = result[key] = str(value)
        chars += len(key) + len(value)
    # a character is at most 4 bytes in UTF-8: count bytes only when it could matter
    if chars * 4 >= MAX_ARGS_BYTES:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in result.items())
        if size >= MAX_ARGS_BYTES:
            raise _Problem(f"{what} add up to {MAX_ARGS_BYTES} bytes or more")
    return result


def _address(email_address: str, name: str) -> dict[str, str]:
    if "@" not in email_address:
        raise _Problem(f"{email_address!r} is not an email address")
    entry = {"email": _one_line("the address", email_address)}
    if name:
        # SendGrid refuses names containing ';' or ','; they are display names only.
        clean = _one_line("the name", name).replace(";", " ").replace(",", " ")
        if clean.strip():
            entry["name"] = " ".join(clean.split())
    return entry


def personalization(recipient: Recipient) -> dict[str, Any]:
    """One recipient's envelope: to, headers, substitutions, custom_args."""
    entry: dict[str, Any] = {"to": [_address(recipient.email, recipient.name)]}
    if recipient.headers:
        entry["headers"] = _headers(recipient.headers)
    if recipient.substitutions:
        entry["substitutions"] = _string_map(recipient.substitutions, "substitutions")
    if recipient.custom_args:
        entry["custom_args"] = _string_map(recipient.custom_args, "custom_args")
    return entry


def _personalizations(recipients: Sequence[Recipient]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    found = []
    for index, recipient in enumerate(recipients):
        try:
            key = recipient.email.strip().lower()
            if key in seen:
                raise _Problem("the address appears twice in one request")
            seen.add(key)
            found.append(personalization(recipient))
        except _Problem as problem:
            raise _refuse(f"recipient {index} ({recipient.email!r}): {problem}") from None
    return found


def _content(message: Message) -> list[dict[str, str]]:
    content = [
        {"type": kind, "value": value}
        for kind, value in (("text/plain", message.text), ("text/html", message.html))
        if value
    ]
    if not content:
        raise _Problem("the message has neither text nor HTML")
    return content


def request_body(
    message: Message,
    *,
    max_batch: int = MAX_BATCH,
    categories: Sequence[str] = (),
    asm_group_id: int | None = None,
    sandbox: bool = False,
) -> dict[str, Any]:
    """The ``/v3/mail/send`` JSON body for one Message (raises DeliveryError if it cannot be)."""
    count = len(message.recipients)
    if not 0 < count <= max_batch:
        raise _refuse(f"{count} recipients in one message; 1 to {max_batch} allowed")
    if not message.subject.strip():
        raise _refuse("the subject is empty")
    body: dict[str, Any] = {"personalizations": _personalizations(message.recipients)}
    try:
        _message_fields(body, message, [*categories, *message.categories])
    except _Problem as problem:
        raise _refuse(str(problem)) from None
    if asm_group_id is not None:
        body["asm"] = {"group_id": asm_group_id}
    if sandbox:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return body


def _message_fields(body: dict[str, Any], message: Message, categories: list[str]) -> None:
    """The parts of the body that are the same for every recipient."""
    try:
        body["from"] = _address(message.from_email, message.from_name)
    except _Problem as problem:
        raise _Problem(f"from: {problem}") from None
    body["subject"] = _one_line("the subject", message.subject)
    body["content"] = _content(message)
    if message.reply_to:
        body["reply_to"] = {"email": _one_line("reply_to", message.reply_to)}
    if message.headers:
        body["headers"] = _headers(message.headers)
    if message.custom_args:
        body["custom_args"] = _string_map(message.custom_args, "message custom_args")
    all_categories = check_categories(categories)
    if all_categories:
        body["categories"] = all_categories


def _retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or a date) or ``X-RateLimit-Reset``."""
    wait = _server_wait(headers, now) if headers is not None else None
    return wait if wait is None or math.isfinite(wait) else None


def _server_wait(headers: Any, now: float) -> float | None:
    value = headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(email.utils.parsedate_to_datetime(value).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(float(reset) - now, 0.0)
        except ValueError:
            return None
    return None


def sendgrid_messages(body: bytes | str | None) -> str:
    """SendGrid's ``errors[].message`` (with ``field``) as one line; the raw body otherwise."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        errors = json.loads(raw)["errors"]
        parts = [
            f"{e['field']}: {e['message']}" if e.get("field") else str(e["message"]) for e in errors
        ]
    except (ValueError, KeyError, TypeError):
        return " ".join(raw.split())[:300] or "(no details)"
    return "; ".join(parts) or "(no details)"


def map_http_error(error: HTTPError, now: float) -> DeliveryError:
    status = int(error.status_code)
    details = sendgrid_messages(error.body)
    if status == 429 or status >= 500:
        return DeliveryError(
            f"SendGrid is busy or failing: it answered {status} ({details})",
            retryable=True,
            status=status,
            retry_after=_retry_after(error.headers, now),
        )
    if status in FATAL:
        return DeliveryError(f"{FATAL[status]}: {details}", fatal=True, status=status)
    if status == 413:
        return DeliveryError(f"SendGrid refused the batch as too large: {details}", status=413)
    return DeliveryError(f"SendGrid rejected the batch ({status}): {details}", status=status)


def map_connection_error(error: urllib.error.URLError, host: str) -> DeliveryError:
    """The request never reached SendGrid: safe to try again."""
    reason = error.reason
    if isinstance(reason, socket.gaierror):
        why = f"cannot resolve the host name ({reason.strerror})"
    elif isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, TimeoutError):
        why = "connection timed out"
    elif isinstance(reason, OSError) and reason.strerror:
        why = reason.strerror
    else:
        why = str(reason)
    return DeliveryError(f"cannot connect to SendGrid at {host}: {why}", retryable=True)


class SendGridTransport:
    """Sends each Message as one SendGrid v3 Mail Send request (up to ``max_batch`` recipients)."""

    def __init__(
        self,
        api_key: str,
        *,
        host: str = DEFAULT_HOST,
        timeout: float = 30.0,
        max_batch: int = MAX_BATCH,
        sandbox: bool = False,
        asm_group_id: int | None = None,
        categories: Sequence[str] = (),
    ) -> None:
        if not api_key:
            raise ConfigError("SendGrid needs an API key: set NEWSLETTER_SENDGRID_API_KEY")
        if not API_KEY_SHAPE.fullmatch(api_key):  # http.client would echo it in its error
            raise ConfigError(
                "the SendGrid API key holds a space, a line break or a character that is not "
                "printable ASCII (it is not shown); set NEWSLETTER_SENDGRID_API_KEY again"
            )
        if not 1 <= max_batch <= MAX_BATCH:
            raise ConfigError(f"sendgrid_batch_size must be 1 to {MAX_BATCH}, not {max_batch}")
        if not timeout > 0:
            raise ConfigError("sendgrid_timeout must be more than 0 seconds")
        if not host.startswith(("https://", "http://")):
            raise ConfigError(f"sendgrid_host must be an http(s) URL, not {host!r}")
        if asm_group_id is not None and asm_group_id < 1:
            raise ConfigError(f"sendgrid_asm_group_id must be a positive id, not {asm_group_id}")
        try:
            self.categories = check_categories(categories)
        except ValueError as exc:
            raise ConfigError(f"sendgrid_categories: {exc}") from exc
        self.max_batch = max_batch
        self.host = host.rstrip("/")
        self.timeout = timeout
        self.sandbox = sandbox
        self.asm_group_id = asm_group_id
        self._api_key = api_key
        self._local = threading.local()

    def _client(self) -> SendGridAPIClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = SendGridAPIClient(api_key=self._api_key, host=self.host)
            client.client.timeout = self.timeout  # the SDK has no timeout of its own
            self._local.client = client
        return client

    def body(self, message: Message) -> dict[str, Any]:
        return request_body(
            message,
            max_batch=self.max_batch,
            categories=self.categories,
            asm_group_id=self.asm_group_id,
            sandbox=self.sandbox,
        )

    def send(self, message: Message) -> BatchResult:
        response = self.post(self.body(message))
        return BatchResult(
            accepted=[r.email for r in message.recipients],
            message_id=response.headers.get("X-Message-Id") or None,
        )

    def post(self, body: dict[str, Any]) -> Any:
        """POST one request body; every way it can fail becomes a DeliveryError."""
        try:
            return self._client().send(body)
        except HTTPError as exc:
            raise map_http_error(exc, time.time()) from None
        except urllib.error.URLError as exc:
            raise map_connection_error(exc, self.host) from None
        except TimeoutError:
            raise DeliveryError(
                f"SendGrid at {self.host} did not answer within {self.timeout:g} s; "
                "the batch may have been accepted, so it is not sent again",
                uncertain=True,
            ) from None
        except (http.client.HTTPException, OSError) as exc:  # reset, TLS trouble mid-answer
            raise DeliveryError(
                f"the connection to SendGrid at {self.host} broke before it answered "
                f"({type(exc).__name__}); the batch may have been accepted, so it is not "
                "sent again",
                uncertain=True,
            ) from None
