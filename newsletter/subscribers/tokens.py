"""Signed links: expiring confirm tokens and (non-expiring) unsubscribe tokens.

Tokens sign a subscriber's random ``key``, never the address, so a link reveals nothing and
cannot be forged without ``secret_key`` (itsdangerous, HMAC). Changing ``secret_key``
invalidates every link already sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

from newsletter.config import Settings
from newsletter.errors import ConfigError, TokenError

CONFIRM_SALT = "newsletter.confirm"
UNSUBSCRIBE_SALT = "newsletter.unsubscribe"
PROOF_SALT = "newsletter.proof"
EMPTY_KEY_ADVICE = (
    "secret_key is empty: set NEWSLETTER_SECRET_KEY to the same key as the web app's "
    "(newsletter serve), which signs every confirmation and unsubscribe link: a different key "
    "breaks every link already sent. Only for a first installation, make one with "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


class _KeyedSigner(Signer):
    """itsdangerous' Signer with its derived key computed once, not on every signature
    (a send signs one unsubscribe link per recipient: 5 µs instead of 23 µs each)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived = super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived if secret_key is None else super().derive_key(secret_key)


class Tokens:
    """Makes and reads the two kinds of token with one secret."""

    def __init__(self, secret: str, *, confirm_max_age: int) -> None:
        if not secret:
            raise ConfigError(EMPTY_KEY_ADVICE)
        self._confirm = URLSafeTimedSerializer(secret, salt=CONFIRM_SALT)
        self._unsubscribe = _KeyedSigner(secret, salt=UNSUBSCRIBE_SALT, digest_method=sha256)
        self._proof = _KeyedSigner(secret, salt=PROOF_SALT, digest_method=sha256)
        self.confirm_max_age = confirm_max_age

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        return cls(
            settings.secret_key.get_secret_value(),
            confirm_max_age=settings.confirm_link_hours * 3600,
        )

    def confirm_token(self, key: str) -> str:
        return str(self._confirm.dumps(key))

    def read_confirm(self, token: str) -> tuple[str, datetime]:
        """(subscriber key, when the token was issued); TokenError when bad or expired."""
        try:
            key, issued = self._confirm.loads(
                token, max_age=self.confirm_max_age, return_timestamp=True
            )
        except SignatureExpired as exc:
            raise TokenError("this confirmation link has expired", expired=True) from exc
        except BadSignature as exc:
            raise TokenError("this confirmation link is not valid") from exc
        return _key(key), issued.astimezone(UTC)

    def unsubscribe_token(self, key: str) -> str:
        """``key.signature``: made for every recipient of every send, so it must be cheap."""
        return self._unsubscribe.sign(key).decode("ascii")

    def read_unsubscribe(self, token: str) -> str:
        try:
            return _key(self._unsubscribe.unsign(token).decode("ascii"))
        except (BadSignature, UnicodeError) as exc:
            raise TokenError("this unsubscribe link is not valid") from exc

    def proof_token(self, send_id: int) -> str:
        """A [TEST] proof's links name its send by this signed id: no guessing other proofs."""
        return self._proof.sign(str(send_id)).decode("ascii")

    def read_proof(self, token: str) -> int:
        try:
            value = self._proof.unsign(token).decode("ascii")
        except (BadSignature, UnicodeError) as exc:
            raise TokenError("this proof link is not valid") from exc
        if not value.isdigit():
            raise TokenError("this proof link is not valid")
        return int(value)


def _key(value: object) -> str:
    if not isinstance(value, str):
        raise TokenError("this link is not valid")
    return value


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/confirm/{token}"


def proof_urls(base_url: str, tokens: Tokens, send_id: int) -> tuple[str, str]:
    """A [TEST] proof's (unsubscribe, view-in-browser) URLs: pages about the proof itself."""
    view = f"{base_url.rstrip('/')}/proof/{tokens.proof_token(send_id)}"
    return f"{view}/unsubscribe", view


def unsubscribe_url(base_url: str, tokens: Tokens, key: str) -> str:
    """A subscriber's one-click unsubscribe URL, for the email body and List-Unsubscribe."""
    return f"{base_url.rstrip('/')}/unsubscribe/{tokens.unsubscribe_token(key)}"
