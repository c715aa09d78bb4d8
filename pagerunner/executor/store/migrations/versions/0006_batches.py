"""exec_batches, exec_batch_events and exec_runs.batch_id: `batchEvents`

The open batches of functions that batch events (one per function and key) and
their events in order; a run started from a batch keeps the batch's id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exec_batches",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("function_id", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("fire_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("function_id", "key_hash", name="uq_exec_batches_fn_key"),
    )
    op.create_table(
        "exec_batch_events",
        sa.Column("batch_id", sa.String(26), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(26), nullable=False),
    )
    op.create_index("ix_exec_batch_events_event_id", "exec_batch_events", ["event_id"])
    # Plain ADD COLUMN, not a batch copy (exec_runs may be large).
    op.add_column("exec_runs", sa.Column("batch_id", sa.String(26), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exec_runs") as batch:
        batch.drop_column("batch_id")
    op.drop_index("ix_exec_batch_events_event_id", table_name="exec_batch_events")
    op.drop_table("exec_batch_events")
    op.drop_table("exec_batches")
