"""Run priority (`priority.run`): exec_runs.priority and exec_jobs.score

A run's priority factor (seconds, -600..600) is kept on the run; a call job's
score (when it became due, less its run's factor on a first attempt) orders the
queue. Jobs of older databases score their due time: the order they had.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch copy: exec_jobs must keep SQLite's AUTOINCREMENT
    # (job ids are never reused, see schema.jobs), and exec_runs may be large.
    op.add_column(
        "exec_runs",
        sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "exec_jobs", sa.Column("score", sa.Float(), nullable=False, server_default=sa.text("0"))
    )
    op.execute("UPDATE exec_jobs SET score = available_at")
    op.create_index("ix_exec_jobs_score", "exec_jobs", ["score"])


def downgrade() -> None:
    op.drop_index("ix_exec_jobs_score", table_name="exec_jobs")
    with op.batch_alter_table("exec_jobs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("score")
    with op.batch_alter_table("exec_runs") as batch:
        batch.drop_column("priority")
