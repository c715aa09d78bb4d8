"""webhooks: a URL on queries and combos, and one row per delivery (attempts and outcome)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pr_queries") as batch:
        batch.add_column(sa.Column("webhook", sa.Text(), nullable=True))
    with op.batch_alter_table("pr_batches") as batch:
        batch.add_column(sa.Column("webhook", sa.Text(), nullable=True))
    op.create_table(
        "pr_webhook_deliveries",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("query_id", sa.String(length=26), nullable=True),
        sa.Column("batch_id", sa.String(length=26), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_pr_webhook_deliveries_query_id"), "pr_webhook_deliveries", ["query_id"]
    )
    op.create_index(
        op.f("ix_pr_webhook_deliveries_batch_id"), "pr_webhook_deliveries", ["batch_id"]
    )


def downgrade() -> None:
    op.drop_table("pr_webhook_deliveries")
    with op.batch_alter_table("pr_batches") as batch:
        batch.drop_column("webhook")
    with op.batch_alter_table("pr_queries") as batch:
        batch.drop_column("webhook")
