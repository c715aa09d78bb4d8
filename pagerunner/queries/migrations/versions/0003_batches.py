"""batches: combos of queries from list-valued params

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pr_batches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("query_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_batches")),
    )
    with op.batch_alter_table("pr_queries") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(length=26), nullable=True))
        batch.create_index(op.f("ix_pr_queries_batch_id"), ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("pr_queries") as batch:
        batch.drop_index(op.f("ix_pr_queries_batch_id"))
        batch.drop_column("batch_id")
    op.drop_table("pr_batches")
