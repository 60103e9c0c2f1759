"""Staff sessions: a random token in the browser's cookie, only its SHA-256 in ``staff_session``.

A session ends when it is signed out (``revoked_at``), ``session_idle_timeout`` seconds after its
last request, ``session_max_age`` seconds after sign-in, or at once when its staff member is
disabled. ``touch`` records each request at most once a minute, so reading pages does not write
the database on every click.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import Staff, StaffSession, utcnow

TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, idle_seconds: int, max_age_seconds: int) -> Lifetimes:
        return cls(timedelta(seconds=idle_seconds), timedelta(seconds=max_age_seconds))


def start(
    engine: sa.Engine,
    staff_id: int,
    lifetimes: Lifetimes,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> tuple[str, StaffSession]:
    """A new session: (the token for the cookie, the row). The token is never stored."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=token_hash(token),
        staff_id=staff_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetimes.absolute,
        ip=ip[:64],
        user_agent=user_agent[:500],
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return token, row


def find(
    engine: sa.Engine, token: str, lifetimes: Lifetimes, *, now: datetime | None = None
) -> tuple[StaffSession, Staff] | None:
    """The live session for ``token`` and its (enabled) staff member, or None; touches it."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session:
        found = session.exec(
            select(StaffSession, Staff)
            .join(Staff, col(Staff.id) == col(StaffSession.staff_id))
            .where(StaffSession.token_hash == token_hash(token))
        ).first()
        if found is None:
            return None
        row, staff = found
        if (
            row.revoked_at is not None
            or staff.disabled_at is not None
            or now >= row.expires_at
            or now - row.last_seen_at >= lifetimes.idle
        ):
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
            session.add(row)
            session.commit()
        return row, staff


def revoke(engine: sa.Engine, session_id: int, *, now: datetime | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.id) == session_id, col(StaffSession.revoked_at).is_(None))
            .values(revoked_at=now or utcnow())
        )


def revoke_all(
    engine: sa.Engine, staff_id: int, *, keep: int | None = None, now: datetime | None = None
) -> int:
    """Sign a staff member out everywhere (but the session ``keep``); how many ended."""
    query = sa.update(StaffSession).where(
        col(StaffSession.staff_id) == staff_id, col(StaffSession.revoked_at).is_(None)
    )
    if keep is not None:
        query = query.where(col(StaffSession.id) != keep)
    with engine.begin() as connection:
        return connection.execute(query.values(revoked_at=now or utcnow())).rowcount


def live(
    engine: sa.Engine, staff_id: int, lifetimes: Lifetimes, *, now: datetime | None = None
) -> list[StaffSession]:
    """A staff member's sessions that have not ended, newest first."""
    now = now or utcnow()
    with Session(engine) as session:
        rows = session.exec(
            select(StaffSession)
            .where(
                StaffSession.staff_id == staff_id,
                col(StaffSession.revoked_at).is_(None),
                col(StaffSession.expires_at) > now,
                col(StaffSession.last_seen_at) > now - lifetimes.idle,
            )
            .order_by(col(StaffSession.created_at).desc())
        ).all()
    return list(rows)
