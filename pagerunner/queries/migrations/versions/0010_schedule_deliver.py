"""schedule deliveries: a destination spec on schedules, given to each tick's queries

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pr_schedules") as batch:
        batch.add_column(sa.Column("deliver", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pr_schedules") as batch:
        batch.drop_column("deliver")
