"""Loads through dlt into real destinations: a DuckDB file, the tests' PostgreSQL, files.

Every load merges on the record key: loading twice, or loading overlapping sets,
leaves each record once, with its latest fields; nested lists become child tables.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from pagerunner.destinations import (
    KEY_COLUMN,
    DestinationRefused,
    DestinationSpec,
    DltLoader,
    LoadFailed,
    parse,
)
from tests.conftest import free_port
from tests.postgres import fresh_database


def records(keys: Iterable[int], tag: str = "") -> list[dict[str, Any]]:
    return [
        {
            "key": f"k{k}",
            "data": {"id": k, "name": f"n{k}{tag}", "tags": ["a", "b"], "geo": {"lat": k / 10}},
        }
        for k in keys
    ]


async def batches(items: list[dict[str, Any]], size: int = 7) -> AsyncIterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def loader(tmp_path: Path, max_nesting: int | None = None) -> DltLoader:
    return DltLoader(
        pipelines_dir=tmp_path / "pipelines",
        role="test",
        max_nesting=max_nesting,
        environment=lambda: dict(os.environ),
    )


def duck_rows(path: Path, sql: str) -> list[Any]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.sql(sql).fetchall()


async def test_duckdb_merges_on_the_record_key(tmp_path: Path) -> None:
    spec = parse("duckdb:///out/leads.duckdb", base_dir=tmp_path, confined=False)
    load = loader(tmp_path)
    assert (await load.load(spec, "demo", batches(records(range(20))))).records == 20
    assert (await load.load(spec, "demo", batches(records(range(20))))).records == 20
    assert (await load.load(spec, "demo", batches(records(range(10, 30), "!")))).records == 20
    path = tmp_path / "out" / "leads.duckdb"
    rows = duck_rows(path, f"SELECT {KEY_COLUMN}, name FROM pagerunner.demo ORDER BY id")
    assert [r[0] for r in rows] == [f"k{k}" for k in range(30)]  # each once
    assert rows[5][1] == "n5" and rows[15][1] == "n15!"  # the latest load wins
    assert duck_rows(path, "SELECT count(*) FROM pagerunner.demo__tags") == [(60,)]
    columns = {r[0] for r in duck_rows(path, "DESCRIBE pagerunner.demo")}
    assert {"id", "name", "geo__lat", KEY_COLUMN} <= columns


async def test_nesting_zero_keeps_nested_fields_as_json(tmp_path: Path) -> None:
    spec = parse("duckdb:///flat.duckdb", base_dir=tmp_path, confined=False)
    await loader(tmp_path, max_nesting=0).load(spec, "serpapi-maps", batches(records(range(3))))
    path = tmp_path / "flat.duckdb"
    tables = {r[0] for r in duck_rows(path, "SHOW TABLES FROM pagerunner")}
    assert "serpapi_maps" in tables and "serpapi_maps__tags" not in tables
    (tags,) = duck_rows(path, "SELECT tags FROM pagerunner.serpapi_maps WHERE id = 1")[0]
    assert json.loads(tags) == ["a", "b"]


async def test_postgres_merges_and_takes_the_password_from_dlts_variable(
    tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database(postgres_server_url)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "not-needed-with-trust")
    spec = parse(f"{url}?dataset=leads", base_dir=None, confined=False)
    load = loader(tmp_path)
    await load.load(spec, "demo", batches(records(range(25))))
    await load.load(spec, "demo", batches(records(range(15, 40))))
    with psycopg.connect(url) as conn:
        (count, distinct) = conn.execute(
            f"SELECT count(*), count(DISTINCT {KEY_COLUMN}) FROM leads.demo"
        ).fetchone() or (0, 0)
        (tags,) = conn.execute("SELECT count(*) FROM leads.demo__tags").fetchone() or (0,)
    assert count == distinct == 40 and tags == 80


@pytest.mark.parametrize("file_format", ["parquet", "jsonl", "csv"])
async def test_files_hold_each_record_once(tmp_path: Path, file_format: str) -> None:
    spec = parse(f"{file_format}:///exports", base_dir=tmp_path, confined=False)
    load = loader(tmp_path)
    assert (await load.load(spec, "demo", batches(records(range(12))))).records == 12
    assert (await load.load(spec, "demo", batches(records(range(12))))).records == 0
    assert (await load.load(spec, "demo", batches(records(range(8, 20))))).records == 8
    files = sorted((tmp_path / "exports" / "pagerunner" / "demo").iterdir())
    assert files and all(
        f.name.split(".")[-2 if f.suffix == ".gz" else -1] == file_format for f in files
    )
    view = {"parquet": "read_parquet", "jsonl": "read_json_auto", "csv": "read_csv_auto"}
    glob = str(tmp_path / "exports" / "pagerunner" / "demo" / "*")
    keys = duckdb.sql(f"SELECT {KEY_COLUMN} FROM {view[file_format]}('{glob}')").fetchall()
    assert sorted(k for (k,) in keys) == sorted(f"k{k}" for k in range(20))


async def test_a_named_destination_is_configured_the_dlt_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__WAREHOUSE__DESTINATION_TYPE", "duckdb")
    monkeypatch.setenv("DESTINATION__WAREHOUSE__CREDENTIALS", str(tmp_path / "wh.duckdb"))
    spec = parse("warehouse", base_dir=None, confined=True)
    load = loader(tmp_path)
    load.check(spec)
    await load.load(spec, "demo", batches(records(range(5))))
    assert duck_rows(tmp_path / "wh.duckdb", "SELECT count(*) FROM pagerunner.demo") == [(5,)]
    with pytest.raises(DestinationRefused, match="DESTINATION__NOWHERE__DESTINATION_TYPE"):
        load.check(parse("nowhere", base_dir=None, confined=True))


async def test_a_failed_load_says_why_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cret-Pa55word"
    port = free_port()  # nothing listens there
    monkeypatch.setenv("DESTINATION__DOWN__DESTINATION_TYPE", "postgres")
    monkeypatch.setenv(
        "DESTINATION__DOWN__CREDENTIALS", f"postgresql://loader:{secret}@127.0.0.1:{port}/dwh"
    )
    spec = DestinationSpec("down", "named", "down")
    with pytest.raises(LoadFailed) as failed:
        await loader(tmp_path).load(spec, "demo", batches(records(range(3))))
    message = str(failed.value)
    assert secret not in message and "127.0.0.1" in message
    assert "connect" in message.lower() or "refused" in message.lower(), message


async def test_an_unfinished_load_is_finished_before_the_next(tmp_path: Path) -> None:
    """A load whose package was extracted but never loaded (a crash) goes in first, once."""
    import dlt

    spec = parse("duckdb:///again.duckdb", base_dir=tmp_path, confined=False)
    await loader(tmp_path).load(spec, "demo", batches(records(range(1))))
    pipeline = dlt.pipeline(
        pipeline_name=f"pagerunner_test_{spec.key}",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(credentials=spec.target),
        dataset_name=spec.dataset,
    )
    rows = [{**r["data"], KEY_COLUMN: r["key"]} for r in records(range(5))]
    pipeline.extract(
        dlt.resource(rows, name="demo", write_disposition="merge", primary_key=KEY_COLUMN)
    )
    pipeline.normalize()
    assert pipeline.has_pending_data  # as a load killed before it reached the destination
    await loader(tmp_path).load(spec, "demo", batches(records(range(3, 8))))
    keys = duck_rows(tmp_path / "again.duckdb", f"SELECT {KEY_COLUMN} FROM pagerunner.demo")
    assert sorted(k for (k,) in keys) == [f"k{k}" for k in range(8)]


def test_gzip_jsonl_keys_are_read(tmp_path: Path) -> None:
    from pagerunner.destinations.loader import _file_keys

    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"_pagerunner_key": "a"}\n{"_pagerunner_key": "b"}\n'))
    with path.open("rb") as raw:
        assert _file_keys(str(path), raw) == ["a", "b"]
