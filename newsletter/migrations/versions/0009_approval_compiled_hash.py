"""approval.compiled_hash: an approval covers the email as built (subject, preheader, HTML and
text before personalisation), not only the issue file, so a synced post or a template changed
after approval voids it. Approvals given before this revision have none and count as void.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("approval", sa.Column("compiled_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # DROP COLUMN on both backends (SQLite 3.35+), as 0007 does: no table rebuild
    op.drop_column("approval", "compiled_hash")
