"""exec_runs.request_version: the execution version each run's app chose

Inngest sends -1 until the app answers its first ops with `x-inngest-req-version`,
then that version: from 2 on, parallel steps resume the function together, below 2
after each one (the JS SDK v3 answers 1). Runs of older databases were all called
with version 2 and keep it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
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
    # A plain ADD COLUMN: exec_runs may be large.
    op.add_column(
        "exec_runs",
        sa.Column("request_version", sa.Integer(), nullable=False, server_default=sa.text("-1")),
    )
    op.execute("UPDATE exec_runs SET request_version = 2")


def downgrade() -> None:
    with op.batch_alter_table("exec_runs") as batch:
        batch.drop_column("request_version")
