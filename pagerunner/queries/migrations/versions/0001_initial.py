"""initial: queries, records, query-record links, pages

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _bigint() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pr_queries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pages_fetched", sa.Integer(), nullable=False),
        sa.Column("records_fetched", sa.Integer(), nullable=False),
        sa.Column("records_inserted", sa.Integer(), nullable=False),
        sa.Column("checkpoint", _json(), nullable=False),
        sa.Column("exhausted", sa.Boolean(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("resume_hint", sa.Text(), nullable=True),
        sa.Column("pause_requested", sa.Boolean(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_queries")),
    )
    op.create_index(op.f("ix_pr_queries_created_at"), "pr_queries", ["created_at"])
    op.create_index(op.f("ix_pr_queries_source"), "pr_queries", ["source"])
    op.create_index(op.f("ix_pr_queries_status"), "pr_queries", ["status"])

    op.create_table(
        "pr_records",
        sa.Column("id", _bigint(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_records")),
        sa.UniqueConstraint("source", "record_key", name=op.f("uq_pr_records_source_record_key")),
    )

    op.create_table(
        "pr_pages",
        sa.Column("query_id", sa.String(length=26), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("cursor_in", sa.Text(), nullable=True),
        sa.Column("cursor_out", sa.Text(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("has_more", sa.Boolean(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("fetched_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["pr_queries.id"],
            name=op.f("fk_pr_pages_query_id_pr_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("query_id", "page_number", name=op.f("pk_pr_pages")),
    )

    op.create_table(
        "pr_query_records",
        sa.Column("query_id", sa.String(length=26), nullable=False),
        sa.Column("record_id", _bigint(), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["pr_queries.id"],
            name=op.f("fk_pr_query_records_query_id_pr_queries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["pr_records.id"],
            name=op.f("fk_pr_query_records_record_id_pr_records"),
        ),
        sa.PrimaryKeyConstraint("query_id", "record_id", name=op.f("pk_pr_query_records")),
    )
    op.create_index(
        op.f("ix_pr_query_records_query_id_page_number_position"),
        "pr_query_records",
        ["query_id", "page_number", "position"],
        unique=True,
    )
    op.create_index(op.f("ix_pr_query_records_record_id"), "pr_query_records", ["record_id"])


def downgrade() -> None:
    op.drop_table("pr_query_records")
    op.drop_table("pr_pages")
    op.drop_table("pr_records")
    op.drop_table("pr_queries")
