"""The email worker's settings (docs/email-jobs.md): a group of ``Settings`` kept in its own
module so ``config/__init__.py`` stays small. ``Settings`` inherits them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EmailJobSettings(BaseModel):
    """How transactional emails (confirmations, staff links) leave: through the job table."""

    email_worker_in_server: bool = Field(
        True, description="`newsletter serve` delivers queued emails in a background thread."
    )
    email_worker_busy_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="While signups are arriving, the share of its web process's time (Python runs"
        " one thread at a time) the worker inside `newsletter serve` may take; 1: no limit.",
    )
    email_job_interval: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Seconds between two looks at the email job table by a worker that was not"
        " woken (another process queued the job).",
    )
    email_job_max_attempts: int = Field(
        10, ge=1, le=100, description="Tries per email job before it is marked failed."
    )
    email_job_retry_base_delay: float = Field(
        5.0, ge=0, description="Seconds before an email job's first retry; doubles each time."
    )
    email_job_retry_max_delay: float = Field(
        900.0, ge=0, description="Longest wait between two tries of an email job, in seconds."
    )
    email_job_lease: float = Field(
        600.0,
        gt=0,
        description="Seconds after which an email job a worker on another host claimed and never"
        " settled counts as uncertain.",
    )
