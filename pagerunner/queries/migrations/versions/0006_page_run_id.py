"""page run id: the durable run that stored each page (a long query runs as a chain of runs)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
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
    with op.batch_alter_table("pr_pages") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pr_pages") as batch:
        batch.drop_column("run_id")
