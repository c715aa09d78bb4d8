"""exec_apps.reached: an app URL given to the executor that has not answered yet

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
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
    # Every app of an older database answered its sync once: reached.
    with op.batch_alter_table("exec_apps") as batch:
        batch.add_column(
            sa.Column("reached", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    op.execute("DELETE FROM exec_apps WHERE NOT reached")
    with op.batch_alter_table("exec_apps") as batch:
        batch.drop_column("reached")
