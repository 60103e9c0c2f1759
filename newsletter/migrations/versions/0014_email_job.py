"""email_job: confirmation and staff emails through a job table (#14).

A signup writes its subscriber, its consent and the email's job in one transaction and answers at
once; the email worker (``newsletter serve`` in the background, or ``newsletter worker``)
delivers the job with retries, never twice (email_jobs/). ``subscriber_id`` and ``staff_id`` are
set to NULL when that row is deleted (an erased subscriber's job is then dropped, not sent).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_email_job_claim", "email_job", ["state", "next_attempt_at", "id"])
    op.create_index("ix_email_job_state_finished", "email_job", ["state", "finished_at"])
    op.create_index("ix_email_job_subscriber_id", "email_job", ["subscriber_id"])
    op.create_index("ix_email_job_staff_id", "email_job", ["staff_id"])


def downgrade() -> None:
    op.drop_table("email_job")
