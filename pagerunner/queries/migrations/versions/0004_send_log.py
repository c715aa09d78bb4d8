"""send log: the latest sends per credential, for the limiter's window check

It replaces `last_sent_at` (the latest send is the log's last entry).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pr_credentials") as batch:
        batch.add_column(sa.Column("sent_log", sa.Text(), nullable=False, server_default="[]"))
        batch.drop_column("last_sent_at")


def downgrade() -> None:
    with op.batch_alter_table("pr_credentials") as batch:
        batch.add_column(sa.Column("last_sent_at", sa.Float(), nullable=False, server_default="0"))
        batch.drop_column("sent_log")
