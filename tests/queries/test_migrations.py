"""The migrations build exactly the schema in `schema.metadata`, and touch only `pr_*` tables."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, text

from pagerunner.queries.migrate import alembic_config, migrate
from pagerunner.queries.schema import VERSION_TABLE, include_name, metadata
from pagerunner.sqlstore import sync_url
from tests.conftest import table_names

# An executor table sharing the database: migrations must leave it alone.
foreign = MetaData()
Table("exec_runs", foreign, Column("id", Integer, primary_key=True))


def _schema_diff(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_name": include_name,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            diff: list[Any] = compare_metadata(context, metadata)
            return diff
    finally:
        engine.dispose()


async def test_migrated_schema_matches_metadata(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    foreign.create_all(engine)
    engine.dispose()

    await migrate(db_url)
    assert _schema_diff(db_url) == []
    assert table_names(db_url) == {
        "exec_runs",
        VERSION_TABLE,
        "pr_queries",
        "pr_records",
        "pr_query_records",
        "pr_pages",
        "pr_credentials",
        "pr_usage",
        "pr_batches",
        "pr_webhook_deliveries",
        "pr_destination_loads",
        "pr_schedules",
        "pr_schedule_ticks",
    }
    await migrate(db_url)  # at head already: nothing to do
    assert _schema_diff(db_url) == []


async def test_version_is_kept_in_its_own_table(db_url: str) -> None:
    await migrate(db_url)
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
            head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
            assert list(versions) == [head] and head == "0010"
    finally:
        engine.dispose()


def test_downgrade_removes_only_our_tables(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    foreign.create_all(engine)
    engine.dispose()
    config = alembic_config(db_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert table_names(db_url) == {"exec_runs", VERSION_TABLE}


def test_the_filter_ignores_the_executor() -> None:
    assert include_name("pr_queries", "table")
    assert not include_name("exec_runs", "table")
    assert not include_name(VERSION_TABLE, "table")
    assert include_name("ix_anything", "index")


@pytest.mark.parametrize("url", ["queries.db", "sqlite+aiosqlite:///x.db", "postgres://u@h/db"])
def test_sync_urls(url: str) -> None:
    assert sync_url(url).split("://")[0] in {"sqlite", "postgresql+psycopg"}
