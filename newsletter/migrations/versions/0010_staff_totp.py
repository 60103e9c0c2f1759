"""Two-factor sign-in (TOTP) for staff: the secret, when it was turned on and the last time step
a code was accepted for (``staff``), and the hashed one-time recovery codes
(``staff_recovery_code``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models.columns import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "staff", sa.Column("totp_secret", sa.String(64), nullable=False, server_default="")
    )
    op.add_column("staff", sa.Column("totp_enabled_at", UTCDateTime(), nullable=True))
    op.add_column(
        "staff", sa.Column("totp_last_step", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "staff_id",
            sa.Integer(),
            sa.ForeignKey("staff.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_staff_recovery_code_staff_id", "staff_recovery_code", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_recovery_code_staff_id", "staff_recovery_code")
    op.drop_table("staff_recovery_code")
    for column in ("totp_last_step", "totp_enabled_at", "totp_secret"):
        op.drop_column("staff", column)
