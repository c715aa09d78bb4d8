"""exec_crons: the next tick of each cron trigger

One row per (function, cron expression). `Executor.start` fills it from the
synced functions, so the cron triggers of an older database start firing from
their next time after the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exec_crons",
        sa.Column("function_id", sa.String(255), primary_key=True),
        sa.Column("cron", sa.String(255), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=True),
        sa.Column("last_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_exec_crons_next_at", "exec_crons", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_exec_crons_next_at", table_name="exec_crons")
    op.drop_table("exec_crons")
