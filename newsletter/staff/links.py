"""One-time sign-in links: where a new staff member (``invite``) or one whose password was reset
(``reset``) sets a password.

The link carries a random token; ``staff_link`` stores only its SHA-256. A link works for
``LIFETIME`` (24 hours) and once: ``claim`` marks it used in the same UPDATE that checks it is
unused and unexpired, so two browsers racing with one link cannot both win. A new link for a
person voids their older unused ones.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import Staff, StaffLink, utcnow
from newsletter.staff.sessions import token_hash

LIFETIME = timedelta(hours=24)
INVITE, RESET = "invite", "reset"
PURPOSES = (INVITE, RESET)  # the table holds other one-time steps too (staff/totp.py)
PATH = "/admin/link/"


def url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}{token}"


def create(engine: sa.Engine, staff_id: int, purpose: str, *, now: datetime | None = None) -> str:
    """A new link for ``staff_id``: its token (shown once, never stored). Older unused links of
    the same person stop working."""
    now = now or utcnow()
    void(engine, staff_id, now=now)
    return issue(engine, staff_id, purpose, LIFETIME, now=now)


def issue(
    engine: sa.Engine,
    staff_id: int,
    purpose: str,
    lifetime: timedelta,
    *,
    now: datetime | None = None,
) -> str:
    """A one-time token of ``purpose`` for ``staff_id``, valid for ``lifetime``: the token
    (only its SHA-256 is stored). Also the two-factor step's token (staff/totp.py)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with Session(engine) as session:
        session.add(
            StaffLink(
                token_hash=token_hash(token),
                staff_id=staff_id,
                purpose=purpose,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
        session.commit()
    return token


def void(engine: sa.Engine, staff_id: int, *, now: datetime | None = None) -> None:
    """Every unused link of ``staff_id`` stops working (the account was disabled)."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(StaffLink)
            .where(col(StaffLink.staff_id) == staff_id, col(StaffLink.used_at).is_(None))
            .values(used_at=now or utcnow())
        )


def _usable(token: str) -> bool:
    return 0 < len(token) <= 100


def peek(
    engine: sa.Engine,
    token: str,
    *,
    purposes: tuple[str, ...] = PURPOSES,
    now: datetime | None = None,
) -> tuple[StaffLink, Staff] | None:
    """The link (of one of ``purposes``) and its (enabled) staff member if it still works;
    changes nothing."""
    if not _usable(token):
        return None
    now = now or utcnow()
    with Session(engine) as session:
        found = session.exec(
            select(StaffLink, Staff)
            .join(Staff, col(Staff.id) == col(StaffLink.staff_id))
            .where(StaffLink.token_hash == token_hash(token), col(StaffLink.purpose).in_(purposes))
        ).first()
    if found is None:
        return None
    link, staff = found
    if link.used_at is not None or now >= link.expires_at or staff.disabled_at is not None:
        return None
    return link, staff


def claim(
    engine: sa.Engine,
    token: str,
    *,
    purposes: tuple[str, ...] = PURPOSES,
    now: datetime | None = None,
) -> int | None:
    """Use the link: the staff id it was for, or None if it is unknown, used or expired.
    Atomic: of two claims of one link, one wins."""
    if not _usable(token):
        return None
    now = now or utcnow()
    with engine.begin() as connection:
        claimed = connection.execute(
            sa.update(StaffLink)
            .where(
                col(StaffLink.token_hash) == token_hash(token),
                col(StaffLink.purpose).in_(purposes),
                col(StaffLink.used_at).is_(None),
                col(StaffLink.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(StaffLink.staff_id))
        ).first()
        if claimed is None:
            return None
        enabled = connection.execute(
            sa.select(col(Staff.id)).where(
                col(Staff.id) == claimed[0], col(Staff.disabled_at).is_(None)
            )
        ).first()
    return int(claimed[0]) if enabled is not None else None
