"""credentials: shared request slots and back-off per credential, usage per day and month

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pr_credentials",
        sa.Column("credential_id", sa.String(length=255), nullable=False),
        sa.Column("next_slot_at", sa.Float(), nullable=False),
        sa.Column("last_sent_at", sa.Float(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("block_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_pr_credentials")),
    )
    op.create_table(
        "pr_usage",
        sa.Column("credential_id", sa.String(length=255), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", "period", name=op.f("pk_pr_usage")),
    )


def downgrade() -> None:
    op.drop_table("pr_usage")
    op.drop_table("pr_credentials")
