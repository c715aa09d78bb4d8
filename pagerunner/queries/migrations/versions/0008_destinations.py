"""destinations: a destination spec on queries and combos, and one row per load (dlt)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pr_queries") as batch:
        batch.add_column(sa.Column("deliver", sa.Text(), nullable=True))
    with op.batch_alter_table("pr_batches") as batch:
        batch.add_column(sa.Column("deliver", sa.Text(), nullable=True))
    op.create_table(
        "pr_destination_loads",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("query_id", sa.String(length=26), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_destination_loads")),
    )
    op.create_index(op.f("ix_pr_destination_loads_query_id"), "pr_destination_loads", ["query_id"])


def downgrade() -> None:
    op.drop_table("pr_destination_loads")
    with op.batch_alter_table("pr_batches") as batch:
        batch.drop_column("deliver")
    with op.batch_alter_table("pr_queries") as batch:
        batch.drop_column("deliver")
