"""The email job table: one transactional email (a confirmation, a staff sign-in link) waiting for
the email worker (``email_jobs/``). Written in the same transaction as what asked for it (the
signup, the staff invitation): the transactional-outbox pattern, named so it is not confused
with the outbox transport."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.models.columns import _utc_column


class EmailJobKind(StrEnum):
    """What the email is: built by the worker at delivery time (``email_jobs/kinds.py``)."""

    confirmation = "confirmation"  # a signup, a staff "add pending", a resend
    reconfirm = "reconfirm"  # an imported pending address asked in bulk (re-permission)
    staff_link = "staff_link"  # a staff invitation or reset: its one-time link in ``payload``


class EmailJobState(StrEnum):
    """``queued`` until a worker claims it; ``in_flight`` from just before it is handed to the
    transport; then ``sent``, ``failed`` (refused, or still failing after the retries),
    ``uncertain`` (the worker died or timed out while it was in flight: the provider may have
    it; never resent unless the operator asks) or ``dropped`` (not needed any more: the person
    confirmed or was erased, the link was used)."""

    queued = "queued"
    in_flight = "in_flight"
    sent = "sent"
    failed = "failed"
    uncertain = "uncertain"
    dropped = "dropped"


UNFINISHED = (EmailJobState.queued.value, EmailJobState.in_flight.value)


class EmailJob(SQLModel, table=True):
    """One transactional email. ``subscriber_id``/``staff_id`` name whom it is for (NULL once
    that row is gone: an erased subscriber's job holds nothing about them and is dropped);
    ``payload`` is JSON for what must be fixed when it is asked for (a staff link's token), and
    is wiped once the job is sent or dropped."""

    __tablename__ = "email_job"
    __table_args__ = (
        # the claim: the oldest due queued job
        sa.Index("ix_email_job_claim", "state", "next_attempt_at", "id"),
        # the lease check and `newsletter jobs`: rows per state, by when they finished
        sa.Index("ix_email_job_state_finished", "state", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: EmailJobKind = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    subscriber_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("subscriber.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    staff_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    payload: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, default=""))
    state: EmailJobState = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = _utc_column()
    claimed_at: datetime | None = _utc_column(nullable=True)
    claimed_by: str = Field(default="", max_length=100)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = _utc_column()
    finished_at: datetime | None = _utc_column(nullable=True)
