"""schedules: a query or combo on a cron timetable, its ticks, and which links are new

`pr_query_records.is_new` says the query stored the record first (NULL in older
links): a tick's export of new records reads it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("pr_query_records") as batch:
        batch.add_column(sa.Column("is_new", sa.Boolean(), nullable=True))
    op.create_table(
        "pr_schedules",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("max_queries", sa.Integer(), nullable=False),
        sa.Column("webhook", sa.Text(), nullable=True),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("overlap", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_schedules")),
    )
    op.create_index(op.f("ix_pr_schedules_next_at"), "pr_schedules", ["next_at"])
    op.create_table(
        "pr_schedule_ticks",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("schedule_id", sa.String(length=26), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.String(length=26), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pr_schedules.id"],
            name=op.f("fk_pr_schedule_ticks_schedule_id_pr_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_schedule_ticks")),
        sa.UniqueConstraint(
            "schedule_id",
            "scheduled_at",
            name=op.f("uq_pr_schedule_ticks_schedule_id_scheduled_at"),
        ),
    )
    op.create_index(op.f("ix_pr_schedule_ticks_batch_id"), "pr_schedule_ticks", ["batch_id"])
    op.create_index(op.f("ix_pr_schedule_ticks_run_id"), "pr_schedule_ticks", ["run_id"])


def downgrade() -> None:
    op.drop_table("pr_schedule_ticks")
    op.drop_table("pr_schedules")
    with op.batch_alter_table("pr_query_records") as batch:
        batch.drop_column("is_new")
