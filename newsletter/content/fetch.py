"""HTTP for remote sources (httpx): timeouts, limits, retries with backoff, one-line errors.

A request answered 429 or 5xx is retried ``retries`` times, waiting ``backoff`` seconds, then
twice as long each time (or what ``Retry-After`` asks, up to a minute). A refused connection,
a timeout or any other HTTP error is not retried: it becomes a SourceError at once.

Limits, because the answer comes from outside:

- ``max_bytes``: the body is read in pieces and decompressed here, each piece bounded, so a
  small gzip answer that inflates to gigabytes stops as soon as it passes the limit (httpx's own
  decoding inflates a whole network read at once, and nests ``gzip, gzip`` without bound). Only
  ``gzip`` and ``deflate`` are asked for and accepted; redirects are followed here, never read.
- ``time_limit``: one deadline for the whole source (every page, retry and wait). httpx's
  timeouts are per read, so a server that drips a byte a second would hold a sync for ever;
  each request runs in a worker thread that is abandoned when the deadline passes.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from newsletter import __version__
from newsletter.errors import SourceError

USER_AGENT = f"newsletter/{__version__} (content sync)"
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0
MAX_REDIRECTS = 10
PIECE = 64 * 1024  # the most a decompressor may produce at once
DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_TIME_LIMIT = 600.0


@dataclass(frozen=True)
class Answer:
    """A response read whole: its status, headers, final URL and decoded body (within limits)."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    url: httpx.URL
    content: bytes = b""


@dataclass(frozen=True)
class Fetcher:
    """A client plus the policy for one source's requests; the time limit starts now."""

    source: str
    client: httpx.Client
    retries: int = 3
    backoff: float = 1.0
    max_bytes: int = DEFAULT_MAX_BYTES
    time_limit: float = DEFAULT_TIME_LIMIT
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "deadline", time.monotonic() + self.time_limit)

    def get(
        self,
        url: str,
        *,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """GET ``url``; a 2xx or 304 answer, or SourceError."""
        for attempt in range(self.retries + 1):
            response = self._send(url, params, headers)
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                break
            time.sleep(min(self._delay(response, attempt), self._left()))
        if response.status_code >= 400:
            retried = self.retries and response.status_code in RETRY_STATUSES
            tries = f" (after {self.retries + 1} tries)" if retried else ""
            raise SourceError(
                self.source,
                f"GET {_shown(response.url)}: HTTP {response.status_code} "
                f"{response.reason_phrase}{tries}",
            )
        return response

    def get_json(self, url: str, *, params: dict[str, str | int] | None = None) -> Any:
        """GET ``url`` and decode its JSON body; an HTML page or bad JSON is a SourceError."""
        return self.decode_json(
            self.get(url, params=params, headers={"Accept": "application/json"})
        )

    def decode_json(self, response: Answer) -> Any:
        """The JSON body of ``response``; an HTML page or bad JSON is a SourceError."""
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        where = f"GET {_shown(response.url)}"
        if "json" not in kind:
            raise SourceError(
                self.source, f"{where}: expected JSON but got {kind[:60] or 'no content type'}"
            )
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            reason = _reason(exc)[:200]
            raise SourceError(self.source, f"{where}: the JSON is malformed ({reason})") from exc

    def _left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _too_slow(self, url: str | httpx.URL) -> SourceError:
        return SourceError(
            self.source,
            f"GET {str(url).split('?', 1)[0]}: no complete answer within the time limit "
            f"({self.time_limit:g} s, source_time_limit)",
        )

    def _send(
        self, url: str, params: dict[str, str | int] | None, headers: dict[str, str] | None
    ) -> Answer:
        """One request (and its redirects) in a worker thread, abandoned at the deadline."""
        if self._left() <= 0:
            raise self._too_slow(url)
        box: list[Answer | BaseException] = []

        def work() -> None:
            try:
                box.append(self._fetch(url, params, headers))
            except BaseException as exc:  # handed to the caller's thread
                box.append(exc)

        worker = threading.Thread(target=work, name=f"fetch {self.source}", daemon=True)
        worker.start()
        worker.join(self._left())
        if not box:
            raise self._too_slow(url)
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _fetch(
        self, url: str, params: dict[str, str | int] | None, headers: dict[str, str] | None
    ) -> Answer:
        try:
            request = self.client.build_request("GET", url, params=params, headers=headers)
            for _ in range(MAX_REDIRECTS + 1):
                response = self.client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        body = self._body(response) if response.status_code < 300 else b""
                        return Answer(
                            response.status_code,
                            response.reason_phrase,
                            response.headers,
                            response.request.url,
                            body,
                        )
                    request = response.next_request
                finally:
                    response.close()
            raise SourceError(self.source, f"GET {_shown(request.url)}: too many redirects")
        except httpx.TimeoutException as exc:
            limit = self.client.timeout.read
            raise SourceError(
                self.source, f"GET {_shown(exc.request.url)}: no answer within {limit:g} s"
            ) from exc
        except httpx.ConnectError as exc:
            raise SourceError(
                self.source, f"GET {_shown(exc.request.url)}: cannot connect ({_reason(exc)})"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceError(self.source, f"GET {url}: {_reason(exc)}") from exc

    def _body(self, response: httpx.Response) -> bytes:
        """The decoded body, read piece by piece; past ``max_bytes`` or the deadline: stop."""
        where = f"GET {_shown(response.request.url)}"
        too_big = SourceError(
            self.source,
            f"{where}: the answer is larger than {self.max_bytes:,} bytes (source_max_bytes)",
        )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        declared = response.headers.get("content-length", "")
        if encoding == "identity" and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big
        inflate = _Inflater(encoding, self.source, where)
        body = bytearray()
        for raw in response.iter_raw():
            for piece in inflate.feed(raw):
                body += piece
                if len(body) > self.max_bytes:
                    raise too_big
            if time.monotonic() > self.deadline:
                raise self._too_slow(response.request.url)
        body += inflate.flush()
        if len(body) > self.max_bytes:
            raise too_big
        return bytes(body)

    def _delay(self, response: Answer, attempt: int) -> float:
        asked = response.headers.get("retry-after", "")
        if asked.isdigit():
            return min(float(asked), MAX_RETRY_AFTER)
        return float(self.backoff * 2**attempt)


class _Inflater:
    """Decompress ``identity``, ``gzip`` or ``deflate`` bodies, at most PIECE bytes at a time."""

    def __init__(self, encoding: str, source: str, where: str) -> None:
        self.encoding, self.source, self.where = encoding, source, where
        if encoding in ("gzip", "x-gzip"):
            self.inflater: Any = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self.inflater = zlib.decompressobj()
            self.raw_deflate_tried = False
        elif encoding != "identity":
            raise SourceError(
                source, f"{where}: the answer's Content-Encoding {encoding[:40]!r} is not supported"
            )

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.encoding == "identity":
            yield data
            return
        try:
            while data:
                yield self.inflater.decompress(data, PIECE)
                data = self.inflater.unconsumed_tail
        except zlib.error as exc:
            if self.encoding == "deflate" and not self.raw_deflate_tried:
                # "deflate" is meant to be zlib-wrapped, but some servers send it raw
                self.raw_deflate_tried = True
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                yield from self.feed(data)
                return
            raise self._broken(exc) from exc

    def flush(self) -> bytes:
        if self.encoding == "identity":
            return b""
        try:
            return bytes(self.inflater.flush())
        except zlib.error as exc:
            raise self._broken(exc) from exc

    def _broken(self, exc: zlib.error) -> SourceError:
        return SourceError(
            self.source, f"{self.where}: the {self.encoding} answer is corrupt ({exc})"
        )


def make_client(timeout: float) -> httpx.Client:
    """A client with our User-Agent that gives up after ``timeout`` s without a byte.

    Redirects are followed by ``Fetcher`` (so their bodies are never read), and only the
    encodings it can decompress within its limit are asked for.
    """
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
    )


def _shown(url: httpx.URL) -> str:
    """The URL without its query string, short enough for a one-line error."""
    return str(url.copy_with(query=None))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
