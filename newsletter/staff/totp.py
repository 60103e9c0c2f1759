"""Two-factor sign-in: time-based codes (TOTP, RFC 6238, ``pyotp``), recovery codes, and the
half-signed-in step between a correct password and a correct code.

Setting up: ``start`` stores a new secret (not yet in use), the person scans its QR code
(``qr_svg``) and types a code; ``confirm`` checks it, turns two-factor sign-in on and hands back
``RECOVERY_CODES`` recovery codes, shown once. Each is 80 random bits, so only its SHA-256 is kept:
a slow hash (argon2) defends guessable passwords, and these cannot be guessed offline, while
checking a typed code against ten argon2 hashes would cost a second of server time per try.

A code is accepted for its 30-second step or the one either side (clocks drift), and once:
``verify`` moves ``totp_last_step`` forward in the same UPDATE that checks it is behind, so a
code seen over a shoulder, or sent twice at once, is refused the second time. A recovery code is
spent the same way (``used_at`` set only if empty).

The step between password and code is a row of ``staff_link`` (purpose ``second_step``, only the
SHA-256 of its token, ``PENDING_LIFETIME``): the browser holds the token in a cookie that opens
nothing but the code form, and ``finish`` uses it up when the code is right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import Staff, StaffRecoveryCode, utcnow
from newsletter.staff import links

RECOVERY_CODES = 10
PENDING, PENDING_LIFETIME = "second_step", timedelta(minutes=5)
STEP = 30  # seconds: what every authenticator app uses
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
_CODE = re.compile(r"\d{6}")
_PATH_DATA = re.compile(r'\sd="([MHVZmhvz0-9.,\s-]+)"')


def enabled(staff: Staff) -> bool:
    return staff.totp_enabled_at is not None and bool(staff.totp_secret)


def uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer[:60] or None)


def qr_svg(text: str, label: str) -> str:
    """``text`` as a QR code: an inline ``<svg>`` of one black path on white, with no style
    attribute (the admin Content-Security-Policy forbids inline style)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=4)
    found = _PATH_DATA.search(image.to_string(encoding="unicode"))
    assert found is not None, "qrcode's SVG has no path"
    size = image.width + 2 * image.border
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="{label}"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{found.group(1)}" fill="#000"/></svg>'
    )


def _set(engine: sa.Engine, staff_id: int, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(sa.update(Staff).where(col(Staff.id) == staff_id).values(**values))


def start(engine: sa.Engine, staff_id: int) -> str:
    """A new secret for setting up (two-factor sign-in stays as it was until ``confirm``)."""
    secret = pyotp.random_base32()
    with engine.begin() as connection:
        connection.execute(
            sa.update(Staff)
            .where(col(Staff.id) == staff_id, col(Staff.totp_enabled_at).is_(None))
            .values(totp_secret=secret, totp_last_step=0)
        )
    return secret


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if not secret or not _CODE.fullmatch(code):
        return None
    totp, step = pyotp.TOTP(secret), _step(now)
    found = None
    for candidate in (step - 1, step, step + 1):  # every one compared: no timing difference
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            found = candidate
    return found


def verify(engine: sa.Engine, staff_id: int, code: str, *, now: datetime | None = None) -> bool:
    """Is ``code`` right for the account's secret now, and not used before? Marks it used."""
    with Session(engine) as session:
        staff = session.get(Staff, staff_id)
    if staff is None:
        return False
    step = _matching_step(staff.totp_secret, code, now or utcnow())
    if step is None:
        return False
    with engine.begin() as connection:
        moved = connection.execute(
            sa.update(Staff)
            .where(
                col(Staff.id) == staff_id,
                col(Staff.totp_secret) == staff.totp_secret,
                col(Staff.totp_last_step) < step,
            )
            .values(totp_last_step=step)
        )
    return bool(moved.rowcount)


def _recovery_hash(code: str) -> str:
    plain = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(plain.encode()).hexdigest()


def _new_code() -> str:
    text = "".join(secrets.choice(_ALPHABET) for _ in range(16))  # 16 * log2(31) > 79 bits
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def confirm(
    engine: sa.Engine, staff_id: int, code: str, *, now: datetime | None = None
) -> list[str] | None:
    """Turn two-factor sign-in on if ``code`` fits the secret being set up: the new recovery
    codes (replacing any old ones), or None for a wrong code."""
    now = now or utcnow()
    if not verify(engine, staff_id, code, now=now):
        return None
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    with Session(engine) as session:
        session.execute(
            sa.delete(StaffRecoveryCode).where(col(StaffRecoveryCode.staff_id) == staff_id)
        )
        session.execute(
            sa.update(Staff).where(col(Staff.id) == staff_id).values(totp_enabled_at=now)
        )
        for plain in codes:
            hashed = _recovery_hash(plain)
            session.add(StaffRecoveryCode(staff_id=staff_id, code_hash=hashed, created_at=now))
        session.commit()
    return codes


def use_recovery_code(
    engine: sa.Engine, staff_id: int, code: str, *, now: datetime | None = None
) -> bool:
    """Is ``code`` one of the account's unused recovery codes? Spends it."""
    if not 8 <= len(code) <= 64:
        return False
    with engine.begin() as connection:
        spent = connection.execute(
            sa.update(StaffRecoveryCode)
            .where(
                col(StaffRecoveryCode.staff_id) == staff_id,
                col(StaffRecoveryCode.code_hash) == _recovery_hash(code),
                col(StaffRecoveryCode.used_at).is_(None),
            )
            .values(used_at=now or utcnow())
        )
    return bool(spent.rowcount)


def recovery_left(engine: sa.Engine, staff_id: int) -> int:
    with Session(engine) as session:
        query = select(sa.func.count()).where(
            col(StaffRecoveryCode.staff_id) == staff_id, col(StaffRecoveryCode.used_at).is_(None)
        )
        return int(session.exec(query).one())


def turn_off(engine: sa.Engine, staff_id: int) -> None:
    """Two-factor sign-in off: the secret and the recovery codes are gone."""
    _set(engine, staff_id, totp_secret="", totp_enabled_at=None, totp_last_step=0)
    with engine.begin() as connection:
        connection.execute(
            sa.delete(StaffRecoveryCode).where(col(StaffRecoveryCode.staff_id) == staff_id)
        )


def begin(engine: sa.Engine, staff_id: int, *, now: datetime | None = None) -> str:
    """The half-signed-in step after a correct password: its token (for a cookie)."""
    return links.issue(engine, staff_id, PENDING, PENDING_LIFETIME, now=now)


def pending(engine: sa.Engine, token: str, *, now: datetime | None = None) -> Staff | None:
    """The (enabled) person half-signed-in with ``token``, or None."""
    found = links.peek(engine, token, purposes=(PENDING,), now=now)
    return None if found is None else found[1]


def finish(engine: sa.Engine, token: str, *, now: datetime | None = None) -> bool:
    """Use up the half-signed-in step (once: of two requests with it, one wins)."""
    return links.claim(engine, token, purposes=(PENDING,), now=now) is not None
