"""HTTP for remote sources (httpx): timeouts, retries with backoff, one-line errors.

A request answered 429 or 5xx is retried ``retries`` times, waiting ``backoff`` seconds, then
twice as long each time (or what ``Retry-After`` asks, up to a minute). A refused connection,
a timeout or any other HTTP error is not retried: it becomes a SourceError at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from newsletter import __version__
from newsletter.errors import SourceError

USER_AGENT = f"newsletter/{__version__} (content sync)"
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Fetcher:
    """A client plus the policy for one source's requests."""

    source: str
    client: httpx.Client
    retries: int = 3
    backoff: float = 1.0

    def get(
        self,
        url: str,
        *,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GET ``url``; a 2xx or 304 response, or SourceError."""
        for attempt in range(self.retries + 1):
            response = self._send(url, params, headers)
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                break
            time.sleep(self._delay(response, attempt))
        if response.status_code >= 400:
            retried = self.retries and _retryable(response)
            tries = f" (after {self.retries + 1} tries)" if retried else ""
            raise SourceError(
                self.source,
                f"GET {_shown(response.request.url)}: HTTP {response.status_code} "
                f"{response.reason_phrase}{tries}",
            )
        return response

    def get_json(self, url: str, *, params: dict[str, str | int] | None = None) -> Any:
        """GET ``url`` and decode its JSON body; an HTML page or bad JSON is a SourceError."""
        return self.decode_json(
            self.get(url, params=params, headers={"Accept": "application/json"})
        )

    def decode_json(self, response: httpx.Response) -> Any:
        """The JSON body of ``response``; an HTML page or bad JSON is a SourceError."""
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        where = f"GET {_shown(response.request.url)}"
        if "json" not in kind:
            raise SourceError(
                self.source, f"{where}: expected JSON but got {kind or 'no content type'}"
            )
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise SourceError(self.source, f"{where}: the JSON is malformed ({exc})") from exc

    def _send(
        self, url: str, params: dict[str, str | int] | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        try:
            return self.client.get(url, params=params, headers=headers)
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

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        asked = response.headers.get("retry-after", "")
        if asked.isdigit():
            return min(float(asked), MAX_RETRY_AFTER)
        return float(self.backoff * 2**attempt)


def make_client(timeout: float) -> httpx.Client:
    """A client with our User-Agent that follows redirects and gives up after ``timeout`` s."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def _shown(url: httpx.URL) -> str:
    """The URL without its query string, short enough for a one-line error."""
    return str(url.copy_with(query=None))


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
