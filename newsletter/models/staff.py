"""The staff area's tables: accounts, sessions, one-time sign-in links, the activity log, issue
revisions and approvals. Secrets (session tokens, link tokens) are stored only as SHA-256."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.models.columns import _utc_column


class Role(StrEnum):
    """Each role can do everything the one before it can (``staff/roles.py`` says what)."""

    viewer = "viewer"
    editor = "editor"
    publisher = "publisher"
    admin = "admin"


def _staff_fk(*, cascade: bool) -> sa.Column[int]:
    ondelete = "CASCADE" if cascade else "SET NULL"
    return sa.Column(sa.ForeignKey("staff.id", ondelete=ondelete), nullable=not cascade, index=True)


class Staff(SQLModel, table=True):
    """A person who signs in to /admin. ``password_hash`` is empty until they set one through
    their sign-in link; ``disabled_at`` set: no sign-in, every session refused."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    role: Role = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    password_hash: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = _utc_column()
    password_changed_at: datetime | None = _utc_column(nullable=True)
    last_signin_at: datetime | None = _utc_column(nullable=True)
    disabled_at: datetime | None = _utc_column(nullable=True)
    # two-factor sign-in (staff/totp.py): the base32 secret (set while setting up, in use once
    # ``totp_enabled_at`` is set) and the last 30-second step a code was accepted for (no replay)
    totp_secret: str = Field(default="", max_length=64)
    totp_enabled_at: datetime | None = _utc_column(nullable=True)
    totp_last_step: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))


class StaffRecoveryCode(SQLModel, table=True):
    """A one-time recovery code of two-factor sign-in: only its SHA-256 (the codes are long
    and random, so a fast hash is enough); ``used_at`` set: spent."""

    __tablename__ = "staff_recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(sa_column=_staff_fk(cascade=True))
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc_column()
    used_at: datetime | None = _utc_column(nullable=True)


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is here.
    ``csrf_token`` is the form token of this session (sent back in every form and htmx call)."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(sa_column=_staff_fk(cascade=True))
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _utc_column()
    last_seen_at: datetime = _utc_column()
    expires_at: datetime = _utc_column()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=500)
    revoked_at: datetime | None = _utc_column(nullable=True)


class StaffLink(SQLModel, table=True):
    """A one-time sign-in link (``invite`` or ``reset``) where a person sets their password."""

    __tablename__ = "staff_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(sa_column=_staff_fk(cascade=True))
    purpose: str = Field(max_length=20)
    created_at: datetime = _utc_column()
    expires_at: datetime = _utc_column()
    used_at: datetime | None = _utc_column(nullable=True)


class Activity(SQLModel, table=True):
    """One state-changing action: who (``actor``: a staff address, ``cli``, ``scheduler``), what
    (``action``), on what (``subject``: an issue slug, a staff address), when. Never updated."""

    __tablename__ = "activity"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc_column(index=True)
    staff_id: int | None = Field(default=None, sa_column=_staff_fk(cascade=False))
    actor: str = Field(max_length=320)
    action: str = Field(max_length=40, index=True)
    subject: str = Field(default="", max_length=320, index=True)
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    ip: str = Field(default="", max_length=64)


class IssueRevision(SQLModel, table=True):
    """The full text of an issue file as one person saved it (``kind``: created, saved,
    restored, scheduled, unscheduled) or as an autosaved ``draft`` that never reached the file.
    ``file_hash`` is the SHA-256 of ``text``; ``base_hash`` the version the edit started from."""

    __tablename__ = "issue_revision"

    id: int | None = Field(default=None, primary_key=True)
    issue_slug: str = Field(max_length=200, index=True)
    at: datetime = _utc_column()
    staff_id: int | None = Field(default=None, sa_column=_staff_fk(cascade=False))
    author: str = Field(default="", max_length=320)
    kind: str = Field(max_length=20)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    file_hash: str = Field(max_length=64)
    base_hash: str = Field(default="", max_length=64)


class Approval(SQLModel, table=True):
    """A publisher's approval of an issue's content (``content_hash``: the file without its
    ``send_at``) and of the email built from it (``compiled_hash``: ``CompiledIssue.content_hash``,
    the ledger's hash of subject, preheader, HTML and text before personalisation); a change to
    either voids it, and so does a missing ``compiled_hash`` (approvals older than migration
    0009). ``withdrawn_at``: taken back."""

    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    issue_slug: str = Field(max_length=200, index=True)
    content_hash: str = Field(max_length=64)
    compiled_hash: str | None = Field(default=None, max_length=64)
    staff_id: int | None = Field(default=None, sa_column=_staff_fk(cascade=False))
    approver: str = Field(max_length=320)
    at: datetime = _utc_column()
    withdrawn_at: datetime | None = _utc_column(nullable=True)
