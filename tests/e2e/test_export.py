"""`pagerunner export ... --to`: the CLI loads a query's or a combo's records with dlt.

The CLI runs as a user runs it, in a subprocess (its working directory a temporary
folder), against the app running in this process; the destinations are real: a
DuckDB file, Parquet files and the tests' PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg

from tests.postgres import fresh_database

from .conftest import App

KEY = "_pagerunner_key"


async def export(
    app: App, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    api = str(app.api.base_url).rstrip("/")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pagerunner",
        "export",
        *args,
        "--api-url",
        api,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PAGERUNNER_DATA_DIR": str(cwd / "data"), **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


def duck_keys(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return [k for (k,) in conn.sql(f"SELECT {KEY} FROM pagerunner.demo").fetchall()]


async def test_exporting_twice_and_overlapping_leaves_each_record_once(
    app: App, tmp_path: Path
) -> None:
    first = await app.run("bagels total:60", max_pages=2)  # the first 40
    second = await app.run("bagels total:60")  # all 60
    await app.until(first)
    await app.until(second)
    to = ("--to", "duckdb:///leads.duckdb")
    for query_id in (first, first, second):
        done = await export(app, tmp_path, query_id, *to)
        assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert f"loaded 60 records of query {second} into duckdb:///leads.duckdb" in said
    keys = duck_keys(tmp_path / "leads.duckdb")  # relative to the working directory
    assert len(keys) == len(set(keys)) == 60
    assert sorted(keys) == sorted(app.expected_ids("bagels total:60"))


async def test_a_combo_exports_its_distinct_records(app: App, tmp_path: Path) -> None:
    body = {"source": "demo", "params": {"q": ["x total:30", "y total:10"], "location": ["L"]}}
    combo = (await app.api.post("/api/combos", json=body)).json()
    for query_id in combo["query_ids"]:
        await app.until(query_id)
    for _ in range(2):
        done = await export(app, tmp_path, combo["id"], "--to", "parquet:///lake")
        assert done.returncode == 0, done.stderr
    assert f"of combo {combo['id']}" in " ".join(done.stderr.split())
    glob = tmp_path / "lake" / "pagerunner" / "demo" / "*.parquet"
    keys = [k for (k,) in duckdb.sql(f"SELECT {KEY} FROM read_parquet('{glob}')").fetchall()]
    expected = app.expected_ids("x total:30", "L") + app.expected_ids("y total:10", "L")
    assert sorted(keys) == sorted(expected)  # the second export added none


async def test_postgres_takes_its_password_from_dlts_variable(
    app: App, tmp_path: Path, postgres_server_url: str
) -> None:
    url = fresh_database(postgres_server_url)
    query_id = await app.run("tacos total:25")
    await app.until(query_id)
    env = {"DESTINATION__POSTGRES__CREDENTIALS__PASSWORD": "unused-with-trust"}
    for _ in range(2):
        done = await export(app, tmp_path, query_id, "--to", f"{url}?dataset=leads", env=env)
        assert done.returncode == 0, done.stderr
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT {KEY} FROM leads.demo").fetchall()
    assert sorted(k for (k,) in rows) == sorted(app.expected_ids("tacos total:25"))


async def test_export_says_what_is_wrong(app: App, tmp_path: Path) -> None:
    query_id = await app.run("errors total:20")
    await app.until(query_id)
    password = await export(app, tmp_path, query_id, "--to", "postgresql://u:hunter2@h/db")
    assert password.returncode == 2
    said = " ".join(password.stderr.split())
    assert "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD" in said and "hunter2" not in said
    unknown = await export(app, tmp_path, "01NOSUCHTHING0000000000000", "--to", "duckdb:///x")
    assert unknown.returncode == 1 and "no query or combo" in unknown.stderr
    nowhere = await export(app, tmp_path, query_id, "--to", "nosuchdestination")
    assert nowhere.returncode == 1
    assert "DESTINATION__NOSUCHDESTINATION__DESTINATION_TYPE" in " ".join(nowhere.stderr.split())
    assert not (tmp_path / "x").exists()
