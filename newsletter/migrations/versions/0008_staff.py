"""The staff area: staff accounts, their sessions and one-time sign-in links, the activity log,
issue revisions and approvals; who started each send and whether a stop was asked for.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _staff(*, cascade: bool) -> sa.Column[int]:
    ondelete = "CASCADE" if cascade else "SET NULL"
    fk = sa.ForeignKey("staff.id", ondelete=ondelete)
    return sa.Column("staff_id", sa.Integer(), fk, nullable=not cascade)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff",
        _id(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _at("created_at"),
        _at("password_changed_at", nullable=True),
        _at("last_signin_at", nullable=True),
        _at("disabled_at", nullable=True),
    )
    op.create_table(
        "staff_session",
        _id(),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _staff(cascade=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _at("created_at"),
        _at("last_seen_at"),
        _at("expires_at"),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(500), nullable=False),
        _at("revoked_at", nullable=True),
    )
    op.create_index("ix_staff_session_staff_id", "staff_session", ["staff_id"])
    op.create_table(
        "staff_link",
        _id(),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _staff(cascade=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("used_at", nullable=True),
    )
    op.create_index("ix_staff_link_staff_id", "staff_link", ["staff_id"])
    op.create_table(
        "activity",
        _id(),
        _at("at"),
        _staff(cascade=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    for column in ("at", "staff_id", "action", "subject"):
        op.create_index(f"ix_activity_{column}", "activity", [column])
    op.create_table(
        "issue_revision",
        _id(),
        sa.Column("issue_slug", sa.String(200), nullable=False),
        _at("at"),
        _staff(cascade=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("base_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_issue_revision_issue_slug", "issue_revision", ["issue_slug"])
    op.create_index("ix_issue_revision_staff_id", "issue_revision", ["staff_id"])
    op.create_table(
        "approval",
        _id(),
        sa.Column("issue_slug", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _staff(cascade=False),
        sa.Column("approver", sa.String(320), nullable=False),
        _at("at"),
        _at("withdrawn_at", nullable=True),
    )
    op.create_index("ix_approval_issue_slug", "approval", ["issue_slug"])
    op.create_index("ix_approval_staff_id", "approval", ["staff_id"])
    op.add_column(
        "send", sa.Column("started_by", sa.String(320), nullable=False, server_default="")
    )
    op.add_column("send", _at("stop_requested_at", nullable=True))


def downgrade() -> None:
    op.drop_column("send", "stop_requested_at")
    op.drop_column("send", "started_by")
    for table in ("approval", "issue_revision", "activity", "staff_link", "staff_session"):
        op.drop_table(table)
    op.drop_table("staff")
