"""Email addresses: validation, the key that says two addresses are one person, the form sent.

Three forms of one address:

- ``email``, what is stored and shown: as typed, trimmed, the domain normalised by
  email-validator (lower case, Unicode form of an international domain name);
- ``key``, what is compared (the subscriber's ``email_key`` column, unique, and what a
  suppression entry hashes): the local part lower-cased, the domain IDNA-normalised (UTS 46,
  IDNA 2008, the Unicode form, lower case). ``Ann.Lee@Example.ORG`` and ``ann.lee@example.org``
  are one person; so are ``bo@münchen.de`` and ``bo@XN--MNCHEN-3YA.DE``. Dots and ``+tags``
  are kept: ``a.b@`` and ``ab@`` stay two addresses (only some providers ignore dots);
- ``sendable``, what goes to a transport: the domain in ASCII (punycode), so the outbox's
  ``.eml`` headers and SendGrid's ``to.email`` are plain ASCII.

An address longer than 254 characters (RFC 5321) is refused before anything else looks at it,
and so is a non-ASCII local part (``jörg@example.org``): it needs SMTPUTF8 end to end, which
SendGrid has long dropped as invalid, and a message to it cannot be downgraded to ASCII.
International domain names work everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.errors import InvalidAddress

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

MAX_LENGTH = 254  # RFC 5321 (the path limit of 256 less the angle brackets)
SHOWN = 80  # at most this much of a refused address is quoted back


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # stored and shown
    key: str  # compared


def _quoted(text: str) -> str:
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def _validated(text: str, check_deliverability: bool) -> ValidatedEmail:
    # imported here: a command that reads addresses but never validates one (subscribers
    # count) does not wait for email-validator
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{_quoted(text)} is not a valid email address: {exc}") from exc


def parse(raw: str, *, check_deliverability: bool = False) -> Address:
    """A new address from outside (form, JSON, command line, CSV); InvalidAddress if refused."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("Please enter your email address.")
    if len(text) > MAX_LENGTH:
        raise InvalidAddress(
            f"the email address is too long: {len(text)} characters, at most {MAX_LENGTH}"
        )
    found = _validated(text, check_deliverability)
    if found.smtputf8:
        raise InvalidAddress(
            f"{_quoted(text)} cannot be used: the part before the @ must be plain ASCII "
            "letters, digits and punctuation (international domain names are fine)"
        )
    email = str(found.normalized)
    return Address(email=email, key=email.lower())


def key_of(email: str) -> str:
    """The key of an address already stored or sent (either form of its domain).

    Cheap for an ASCII domain without punycode labels; otherwise the domain is normalised by
    email-validator, as ``parse`` does. Something that no longer validates: lower-cased.
    """
    text = email.strip()
    domain = text.rpartition("@")[2]
    if domain.isascii() and "xn--" not in domain.lower():
        return text.lower()
    from email_validator import EmailNotValidError, validate_email

    try:
        found = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return text.lower()
    return str(found.normalized).lower()


def sendable(email: str) -> str | None:
    """The ASCII form a transport takes (punycode domain); None for a non-ASCII local part."""
    if email.isascii():
        return email
    from email_validator import EmailNotValidError, validate_email

    try:
        found = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return None
    return found.ascii_email
