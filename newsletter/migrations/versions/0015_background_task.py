"""``background_task`` (#14): a CSV import's or a Sync now's progress and outcome in the database,
so that with several web processes the page's poll is answered by whichever process it reaches.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "background_task",
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("process", sa.String(100), nullable=False),
        _at("started_at"),
        _at("updated_at"),
        _at("until"),
        _at("finished_at", nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_background_task_finished_at", "background_task", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_background_task_finished_at", table_name="background_task")
    op.drop_table("background_task")
