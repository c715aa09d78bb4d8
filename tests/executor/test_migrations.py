"""The executor's schema is under Alembic: the migrations build exactly `schema.metadata`,
the first one is exactly what release 0.1.0 made with `create_all`, and the executor and
the query store keep their versions apart in one database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, text

from pagerunner.executor.errors import StoreError
from pagerunner.executor.signing import canonical_json
from pagerunner.executor.store import schema
from pagerunner.executor.store.migrate import INITIAL_REVISION, alembic_config, migrate
from pagerunner.queries import schema as query_schema
from pagerunner.queries.migrate import migrate as migrate_queries
from pagerunner.sqlstore import sync_url
from tests.conftest import table_names

FIXTURE = Path(__file__).with_name("fixtures") / "executor-0.1.0.sql"

# A query store table sharing the database: the executor's migrations leave it alone.
foreign = MetaData()
Table("pr_queries", foreign, Column("id", Integer, primary_key=True))


def schema_diff(url: str, metadata: MetaData, include_name: Any) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": include_name, "compare_type": True}
            )
            diff: list[Any] = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    # exec_leases repeats its primary key as a unique constraint, which PostgreSQL does not
    # reflect as one; `create_all` made the same table.
    return [d for d in diff if not _is_the_primary_key(d)]


def _is_the_primary_key(diff: Any) -> bool:
    if not (isinstance(diff, tuple) and diff[0] == "add_constraint"):
        return False
    constraint = diff[1]
    primary = schema.metadata.tables[constraint.table.name].primary_key.columns.keys()
    return sorted(constraint.columns.keys()) == sorted(primary)


def version(url: str, table: str) -> list[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(f"SELECT version_num FROM {table}")).scalars())
    finally:
        engine.dispose()


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


async def test_migrated_schema_matches_metadata(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    foreign.create_all(engine)
    engine.dispose()

    await migrate(db_url)
    assert schema_diff(db_url, schema.metadata, schema.include_name) == []
    assert table_names(db_url) == {
        "pr_queries",
        schema.VERSION_TABLE,
        *schema.metadata.tables,
    }
    assert version(db_url, schema.VERSION_TABLE) == [head()]
    await migrate(db_url)  # at head already: nothing to do
    assert schema_diff(db_url, schema.metadata, schema.include_name) == []


def ddl(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name LIKE 'exec_%' AND sql IS NOT NULL"
            f" AND name != '{schema.VERSION_TABLE}'"
        ).fetchall()
    return dict(rows)


async def test_the_initial_revision_is_what_release_0_1_0_created(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.executescript(FIXTURE.read_text())
    await migrate(str(tmp_path / "new.db"), INITIAL_REVISION)
    assert ddl(tmp_path / "new.db") == ddl(old)  # byte for byte, every table and index
    assert len(ddl(old)) == 11 + 15


async def test_both_stores_share_a_database_with_their_own_versions(db_url: str) -> None:
    await migrate_queries(db_url)
    await migrate(db_url)
    await migrate_queries(db_url)
    assert version(db_url, schema.VERSION_TABLE) == [head()]
    assert version(db_url, query_schema.VERSION_TABLE) != []
    assert schema_diff(db_url, schema.metadata, schema.include_name) == []
    assert schema_diff(db_url, query_schema.metadata, query_schema.include_name) == []


def test_downgrade_removes_only_the_executors_tables(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    foreign.create_all(engine)
    engine.dispose()
    config = alembic_config(db_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert table_names(db_url) == {"pr_queries", schema.VERSION_TABLE}


def test_the_filter_ignores_the_query_store() -> None:
    assert schema.include_name("exec_runs", "table")
    assert not schema.include_name("pr_queries", "table")
    assert not schema.include_name(schema.VERSION_TABLE, "table")
    assert schema.include_name("ix_anything", "index")


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "executor.db"
    await migrate(str(db))
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(StoreError, match="Can't locate revision identified by '9999'"):
        await migrate(str(db))


async def test_memos_of_runs_in_flight_are_rewritten_as_canonical_json(tmp_path: Path) -> None:
    # Calls splice stored memos into a body that must be JCS-canonical when signed.
    db = tmp_path / "executor.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(FIXTURE.read_text())
    await migrate(str(db))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.memo, r.status FROM exec_steps s JOIN exec_runs r ON r.id = s.run_id"
            " WHERE s.has_memo"
        ).fetchall()
    running = [memo for memo, status in rows if status == "Running"]
    assert running
    assert all(memo == canonical_json(json.loads(memo)).decode() for memo in running)
