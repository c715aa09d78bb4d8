"""initial: the schema of release 0.1.0, which made these tables with `create_all`

Revision ID: 0001
Revises:
Create Date: 2026-12-03

A database made by that release has these tables and no version table: it is
stamped with this revision, not migrated by it (see `migrate.upgrade`). So this
file must keep creating exactly what `create_all` created then.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def upgrade() -> None:
    op.create_table(
        "exec_apps",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sdk", sa.String(length=64), nullable=False),
        sa.Column("framework", sa.String(length=64), nullable=False),
        sa.Column("app_version", sa.String(length=255), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("function_count", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "exec_functions",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("app_name", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("exec_functions", "app_name")

    op.create_table(
        "exec_events",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("exec_events", "name", "received_at")

    op.create_table(
        "exec_runs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("function_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=26), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("queued_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("force_plan", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("stack", sa.JSON(), nullable=False),
        sa.Column("concurrency_keys", sa.JSON(), nullable=False),
        sa.Column("singleton_key", sa.String(length=255), nullable=True),
        sa.Column("original_run_id", sa.String(length=26), nullable=True),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("exec_runs", "function_id", "event_id", "status", "queued_at")
    op.create_index("ix_exec_runs_fn_status", "exec_runs", ["function_id", "status"])

    op.create_table(
        "exec_steps",
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("op", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opts", sa.JSON(), nullable=True),
        sa.Column("memo", sa.JSON(), nullable=True),
        sa.Column("has_memo", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "step_id"),
    )

    op.create_table(
        "exec_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=True),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("exec_attempts", "run_id")

    op.create_table(
        "exec_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.Float(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        # Job ids are never reused (the loop tracks jobs by id).
        sqlite_autoincrement=True,
    )
    _indexes("exec_jobs", "run_id", "available_at")

    op.create_table(
        "exec_waits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=True),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("expression", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("exec_waits", "run_id", "event_name", "correlation_id")

    op.create_table(
        "exec_flow_keys",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    _indexes("exec_flow_keys", "expires_at")

    op.create_table(
        "exec_debounces",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("function_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=26), nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("fire_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    op.create_table(
        "exec_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    for table in (
        "exec_leases",
        "exec_debounces",
        "exec_flow_keys",
        "exec_waits",
        "exec_jobs",
        "exec_attempts",
        "exec_steps",
        "exec_runs",
        "exec_events",
        "exec_functions",
        "exec_apps",
    ):
        op.drop_table(table)
