"""The exception tree. The core raises these; the CLI prints them as one line and exits 1.

NewsletterError
├── ConfigError          settings file or NEWSLETTER_* variable is invalid
├── DatabaseError        the database cannot be reached or migrated
├── LocatedError         a fault in a file someone wrote: says the file, line and field
│   ├── ContentError         a content source cannot be read (file, line, field when known)
│   ├── IssueFileError       an issue file is malformed (file, line, field)
│   ├── CompileError         a template fails to render or compile (template, line)
│   └── ImportFileError      a subscriber CSV file cannot be imported (file, line, field)
├── SourceError          a website or feed cannot be synced (names the source and the fault)
├── SendError            a send cannot start or had to stop (it can be resumed)
│   └── CheckFailed          pre-send checks found errors, so the send does not start
├── DeliveryError        a transport did not take a batch (retryable, fatal or uncertain)
├── SubscriberError      a subscriber operation cannot be done
│   ├── InvalidAddress       an email address is not valid (``field`` says which input)
│   ├── UnknownSubscriber    no subscriber has that address
│   └── ConfirmationNotSent  the transport did not take the confirmation email
├── TokenError           a confirm or unsubscribe link is tampered, unknown or expired
└── WebhookError         an Event Webhook request's body is not a JSON array of events

DeliveryError is how a transport fails (``transports.base`` re-exports it); the sender turns it
into a ledger status or a SendError, a signup or a staff add into ConfirmationNotSent.
tests/test_errors.py keeps this drawing equal to the classes below.
"""

from __future__ import annotations

from pathlib import Path


class NewsletterError(Exception):
    """Base of every error the tool reports to a person."""


class ConfigError(NewsletterError):
    pass


class DatabaseError(NewsletterError):
    pass


class LocatedError(NewsletterError):
    """An error in a file the user wrote: says which file, which line and which field."""

    def __init__(
        self, path: Path | str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"


class ContentError(LocatedError):
    pass


class SourceError(NewsletterError):
    """A remote source failed: down, too slow, an HTTP error, or an answer of the wrong shape."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"source {source!r}: {message}")


class IssueFileError(LocatedError):
    pass


class CompileError(LocatedError):
    pass


class SendError(NewsletterError):
    """A send cannot start, or had to stop; what was not sent stays pending, resumable."""


class CheckFailed(SendError):
    """An issue's pre-send checks found errors, so its send (or schedule) does not start."""


class DeliveryError(NewsletterError):
    """A batch was not accepted.

    ``retryable``: trying the same batch again later may work (429, 5xx, connection trouble).
    ``fatal``: nothing else will work either (bad API key, unverified sender): stop the send.
    ``uncertain``: the provider may have accepted it (a timeout after the request was sent).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        fatal: bool = False,
        uncertain: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.fatal = fatal
        self.uncertain = uncertain
        self.status = status
        self.retry_after = retry_after


class ImportFileError(LocatedError):
    pass


class SubscriberError(NewsletterError):
    pass


class InvalidAddress(SubscriberError):
    """``field`` names the input (``email``) so forms and JSON can point at it."""

    def __init__(self, message: str, *, field: str = "email") -> None:
        super().__init__(message)
        self.field = field


class UnknownSubscriber(SubscriberError):
    pass


class ConfirmationNotSent(SubscriberError):
    pass


class TokenError(NewsletterError):
    """``expired`` is true when the signature is good but the link is too old."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class WebhookError(NewsletterError):
    pass
