"""Staff passwords: the rules a new one must pass, and argon2 hashes (pwdlib).

Only the hash is ever stored: argon2id with pwdlib's (argon2-cffi's) current parameters. A
hash made with other parameters still verifies, and ``verify`` then hands back a fresh hash for
the caller to store, so raising the parameters upgrades each account at its next sign-in.

A new password needs ``MIN_LENGTH`` characters, is not one of the well-known passwords of
``well-known-passwords.txt`` (in lower case, with leading and trailing digits and punctuation
removed: ``Password2024!`` is ``password``), is not one character repeated, and is not the
person's address, the part before its @, or their name.
"""

from __future__ import annotations

import functools
import re
import secrets
from pathlib import Path

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from newsletter.errors import WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte of "password" is only slow
WELL_KNOWN_FILE = Path(__file__).with_name("well-known-passwords.txt")
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_HASHER = PasswordHash((Argon2Hasher(),))


@functools.cache
def well_known() -> frozenset[str]:
    """The well-known passwords, in lower case."""
    lines = WELL_KNOWN_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def _plain(text: str) -> str:
    """Lower case, letters and digits only: how a password is compared to a name."""
    return "".join(c for c in text.casefold() if c.isalnum())


def problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` is refused for the person ``email``/``name``, or None if it is fine."""
    if len(password) < MIN_LENGTH:
        return f"The password is too short: use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password is too long: at most {MAX_LENGTH} characters."
    if not password.strip():
        return "The password cannot be only spaces."
    lowered = password.strip().lower()
    if lowered in well_known() or _EDGES.sub("", lowered) in well_known():
        return "This is one of the common passwords attackers try first: choose another."
    if len(set(lowered)) <= 2:
        return "The password repeats one or two characters: choose another."
    own = {_plain(email), _plain(email.partition("@")[0]), _plain(name)} - {""}
    if _plain(password) in own or _plain(_EDGES.sub("", lowered)) in own:
        return "The password cannot be your email address or your name."
    return None


def check(password: str, *, email: str = "", name: str = "") -> None:
    """Raise WeakPassword (a one-line reason, never the password) if ``password`` is refused."""
    reason = problem(password, email=email, name=name)
    if reason is not None:
        raise WeakPassword(reason)


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password``."""
    return _HASHER.hash(password)


def verify(password: str, stored: str) -> tuple[bool, str | None]:
    """(does ``password`` match ``stored``, a new hash to store if its parameters are old).

    An empty or unrecognised ``stored`` (no password set yet) never matches, after the same
    argon2 work as a real check, so the answer takes as long either way."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]
    if not stored:
        dummy_verify(password)
        return False, None
    try:
        return _HASHER.verify_and_update(password, stored)
    except UnknownHashError:
        dummy_verify(password)
        return False, None


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(24))


def dummy_verify(password: str) -> None:
    """The work of checking a password, against nothing: for an address with no account."""
    _HASHER.verify(password[:MAX_LENGTH], _dummy_hash())
