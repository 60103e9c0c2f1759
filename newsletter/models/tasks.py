"""``background_task``: a long job the web app runs in a thread (a CSV import, a source's Sync
now), its progress and outcome kept in the database so that whichever web process a poll reaches
can answer it (``web/background_tasks.py``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.models.columns import _utc_column


class BackgroundTask(SQLModel, table=True):
    """One task per (``kind``, ``name``): ``running`` until ``done`` or ``failed``; a running
    row whose ``until`` has passed was lost with its process (and may be started again)."""

    __tablename__ = "background_task"

    kind: str = Field(max_length=40, primary_key=True)
    name: str = Field(max_length=200, primary_key=True)
    state: str = Field(max_length=20)
    started_by: str = Field(default="", max_length=200)
    process: str = Field(default="", max_length=100)  # host:pid that runs it
    started_at: datetime = _utc_column()
    updated_at: datetime = _utc_column()
    until: datetime = _utc_column()
    finished_at: datetime | None = _utc_column(nullable=True, index=True)
    done: int = 0
    total: int = 0
    result: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False, default="{}"))
    error: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, default=""))
