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
│   └── UnknownSubscriber    no subscriber has that address
├── StaffError           a staff account operation cannot be done
│   ├── UnknownStaff         no staff member has that address
│   └── WeakPassword         a new password is refused (too short, too common, the address)
├── TokenError           a confirm or unsubscribe link is tampered, unknown or expired
└── WebhookError         an Event Webhook request's body is not a JSON array of events

DeliveryError is how a transport fails (``transports.base`` re-exports it); the sender turns it
into a ledger status or a SendError, the email worker into an email job's state.
tests/test_errors.py keeps this drawing equal to the classes below.

A LocatedError may carry further problems of the same file (``gathered``): the CLI prints one
line per problem. ``plain`` turns a pydantic validation error into a sentence for a person.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast


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
        self.also: list[LocatedError] = []  # further problems of the same run (``gathered``)
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """This problem alone: ``file:line: field: message``."""
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"

    def lines(self) -> list[str]:
        """Every problem, one line each (what the CLI prints)."""
        return [self.one_line(), *(problem.one_line() for problem in self.also)]

    def __str__(self) -> str:
        return "; ".join(self.lines())


E = TypeVar("E", bound=LocatedError)


def gathered(problems: Sequence[E]) -> E:
    """One error standing for several problems (sorted by file and line): the first, carrying
    the others in ``also``."""
    flat: list[LocatedError] = []
    for problem in problems:
        flat += [problem, *problem.also]
        problem.also = []
    flat.sort(key=lambda p: (str(p.path), p.line or 0))
    first = cast(E, flat[0])  # problems of one kind: E
    first.also = flat[1:]
    return first


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


class StaffError(NewsletterError):
    """A staff account cannot be added, changed or found (``staff/accounts.py``)."""


class UnknownStaff(StaffError):
    pass


class WeakPassword(StaffError):
    """The message says what is wrong and never repeats the password."""


class TokenError(NewsletterError):
    """``expired`` is true when the signature is good but the link is too old."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class WebhookError(NewsletterError):
    pass


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``: the same but for letter case first, else difflib's."""
    names = list(known)
    same = [k for k in names if k.casefold() == name.casefold()]
    close = same or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPES = {
    "int_type": "must be a whole number, not {input}",
    "int_parsing": "must be a whole number (an integer), not {input}",
    "int_from_float": "must be a whole number (an integer), not {input}",
    "float_type": "must be a number, not {input}",
    "float_parsing": "must be a number, not {input}",
    "bool_type": "must be true or false, not {input}",
    "bool_parsing": "must be true or false, not {input}",
    "string_type": "must be text in quotes, not {input}",
    "list_type": 'must be a list, e.g. ["a", "b"], not {input}',
    "dict_type": "must be a group of keys (a table), not {input}",
    "model_type": "must be a group of keys (a table), not {input}",
    "model_attributes_type": "must be a group of keys (a table), not {input}",
    "missing": "required key is missing",
    "string_too_short": "must not be empty",
    "too_short": "needs at least {min_length} entry",
    "string_too_long": "is too long: at most {max_length} characters",
    "too_long": "has too many entries: at most {max_length}",
    "greater_than_equal": "must be at least {ge}, not {input}",
    "less_than_equal": "must be at most {le}, not {input}",
    "greater_than": "must be more than {gt}, not {input}",
    "less_than": "must be less than {lt}, not {input}",
    "literal_error": "{input} is not one of {expected}",
    "date_type": "{input} is not a date: write YYYY-MM-DD",
    "date_parsing": "{input} is not a date: write YYYY-MM-DD",
    "date_from_datetime_parsing": "{input} is not a date: write YYYY-MM-DD",
    "date_from_datetime_inexact": "must be a day (YYYY-MM-DD) without a time, not {input}",
    "datetime_type": "{input} is not a date and time: write YYYY-MM-DDTHH:MM:SS+07:00",
    "datetime_parsing": "{input} is not a date and time: write YYYY-MM-DDTHH:MM:SS+07:00",
    "datetime_from_date_parsing": "{input} is not a date and time: write YYYY-MM-DDTHH:MM:SS",
    "url_type": "{input} is not an address: write an absolute https:// address",
    "url_parsing": "{input} is not an absolute address: write https://...",
    "url_scheme": "{input} is not an http(s) address: write https://...",
}


def plain(error: Mapping[str, Any], keys: Iterable[str] = ()) -> str:
    """One item of a pydantic ``ValidationError.errors()`` as a sentence a person understands,
    never pydantic's own wording ("Extra inputs are not permitted", "Field required").

    ``keys`` are the keys allowed where the error occurred, to suggest one for an unknown key.
    """
    kind, loc = str(error.get("type", "")), tuple(error.get("loc", ()))
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = sorted(keys)
        guess = did_you_mean(name, allowed)
        if guess:
            return f"unknown key {name!r} (did you mean {guess!r}?)"
        listed = f"; the keys are: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {name!r} (a typo?){listed}"
    if kind in ("value_error", "assertion_error"):
        return (
            str(error.get("msg", ""))
            .removeprefix("Value error, ")
            .removeprefix("Assertion failed, ")
        )
    template = _TYPES.get(kind)
    if template is None:  # a kind we did not foresee: pydantic's sentence, softened
        message = str(error.get("msg", "is not valid"))
        return message[:1].lower() + message[1:]
    context = _Context(error.get("ctx") or {}, input=_short(error.get("input")))
    return template.format_map(context)


class _Context(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"
