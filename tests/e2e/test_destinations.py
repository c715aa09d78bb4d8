"""Deliveries end to end: a query's records loaded into its destination when it completes.

The app runs in-process against the simulated provider, over real HTTP; the
destinations are a DuckDB file below `PAGERUNNER_DELIVERY_DIR` and the tests'
PostgreSQL server, reached as a named dlt destination configured in the
environment (through a TCP relay that the failure test starts late).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pytest

from pagerunner.simulator import Simulator, SimulatorConfig
from tests.conftest import free_port
from tests.postgres import fresh_database

from .conftest import App, fast_settings, process_env, running_app
from .test_processes import query_until, start

KEY = "_pagerunner_key"


def delivery_settings(tmp_path: Path, **overrides: Any) -> Any:
    return fast_settings(
        str(tmp_path / "p.db"),
        delivery_dir=tmp_path / "out",
        data_dir=tmp_path / "data",
        **overrides,
    )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(delivery_settings(tmp_path)) as value:
        yield value


async def loads_done(app: App, query_id: str, n: int = 1, timeout_s: float = 60) -> dict[str, Any]:
    """The query once `n` loads exist and the newest is loaded or failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        query = await app.query(query_id)
        loads = query["destination_loads"]
        if len(loads) >= n and loads[0]["status"] in ("loaded", "failed"):
            return query
        assert time.monotonic() < deadline, f"no load finished: {query}"
        await asyncio.sleep(0.1)


def duck_keys(path: Path, table: str = "demo") -> list[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return [k for (k,) in conn.sql(f"SELECT {KEY} FROM pagerunner.{table}").fetchall()]


async def test_a_completed_query_is_loaded_into_its_destination(app: App, tmp_path: Path) -> None:
    query_id = await app.run(
        "coffee total:45", "Austin", deliver={"destination": "duckdb:///leads.duckdb"}
    )
    done = await app.until(query_id)
    assert done["status"] == "completed"
    assert done["deliver"] == {"destination": "duckdb:///leads.duckdb"}
    query = await loads_done(app, query_id)
    (load,) = query["destination_loads"]
    assert load["status"] == "loaded" and load["records"] == 45 and load["attempts"] == 1
    assert load["id"] == f"{query_id}.{done['run_id']}"
    keys = duck_keys(tmp_path / "out" / "leads.duckdb")
    assert sorted(keys) == sorted(app.expected_ids("coffee total:45", "Austin"))
    page = (await app.api.get(f"/queries/{query_id}")).text
    assert "duckdb:///leads.duckdb" in page and "badge-loaded" in page and "45 records" in page
    (run,) = [r for r in await app.runs() if r["function_id"].endswith("deliver-query")]
    assert run["status"] == "Completed"


async def test_overlapping_queries_and_a_combo_leave_each_record_once(
    app: App, tmp_path: Path
) -> None:
    deliver = {"destination": "duckdb:///shared.duckdb"}
    first = await app.run("tea total:60", max_pages=1, deliver=deliver)  # its first 20
    await loads_done(app, first)
    body = {
        "source": "demo",
        "params": {"q": ["tea total:60", "cake total:20"], "location": [""]},
        "deliver": deliver,
    }
    created = (await app.api.post("/api/combos", json=body)).json()
    for query_id in created["query_ids"]:
        assert (await loads_done(app, query_id))["destination_loads"][0]["status"] == "loaded"
    combo = (await app.api.get(f"/api/combos/{created['id']}")).json()
    assert combo["deliver"] == deliver
    assert "duckdb:///shared.duckdb" in (await app.api.get(f"/combos/{created['id']}")).text
    again = await app.run("tea total:60", deliver=deliver)  # all 60, again
    await loads_done(app, again)
    keys = duck_keys(tmp_path / "out" / "shared.duckdb")
    expected = app.expected_ids("tea total:60") + app.expected_ids("cake total:20")
    assert len(keys) == len(set(keys)) == 80
    assert sorted(keys) == sorted(expected)


@pytest.mark.parametrize(
    ("destination", "words"),
    [
        ("postgresql://loader:hunter2@db.example.com/dwh", "no password"),
        ("postgresql://loader@db.example.com/dwh", "DESTINATION__<NAME>__DESTINATION_TYPE"),
        ("duckdb:///../escape.duckdb", "inside PAGERUNNER_DELIVERY_DIR"),
        ("duckdb:////tmp/anywhere.duckdb", "inside PAGERUNNER_DELIVERY_DIR"),
        ("nosuchdestination", "DESTINATION__NOSUCHDESTINATION__DESTINATION_TYPE"),
        ("os.path", "no dots"),
        ("ftp://x/y", "unknown kind"),
    ],
)
async def test_a_bad_destination_is_a_422_naming_the_field(
    app: App, destination: str, words: str
) -> None:
    for path, params in (("/api/queries/run", {"q": "x"}), ("/api/combos", {"q": ["x"]})):
        body = {"source": "demo", "params": params, "deliver": {"destination": destination}}
        response = await app.api.post(path, json=body)
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "deliver", "destination"], error
        assert words in error["msg"]
        assert "hunter2" not in response.text
    assert (await app.api.get("/api/queries")).json()["total"] == 0  # nothing was created


async def test_files_need_the_delivery_dir_and_deliver_takes_only_a_destination(
    tmp_path: Path,
) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"))) as app:
        body = {"source": "demo", "params": {"q": "x"}, "deliver": {"destination": "duckdb:///a"}}
        response = await app.api.post("/api/queries/run", json=body)
        assert response.status_code == 422 and "which is not set" in response.text
        body["deliver"] = {"destination": "duckdb:///a", "password": "x"}
        response = await app.api.post("/api/queries/run", json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "deliver", "password"]


async def test_without_dlt_a_destination_is_a_422_saying_what_to_install(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dlt", None)  # `import dlt` now raises ImportError
    body = {"source": "demo", "params": {"q": "x"}, "deliver": {"destination": "duckdb:///a"}}
    response = await app.api.post("/api/queries/run", json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "deliver", "destination"]
    assert "install pagerunner[dlt]" in error["msg"]
    plain = await app.run("no destination total:20")  # queries without one are unaffected
    assert (await app.until(plain))["status"] == "completed"


def test_the_default_import_does_not_load_dlt() -> None:
    code = (
        "import sys; import pagerunner.app, pagerunner.cli, pagerunner.runtime; "
        "assert 'dlt' not in sys.modules and 'duckdb' not in sys.modules, 'dlt imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@contextlib.asynccontextmanager
async def relay(port: int, target_port: int) -> AsyncIterator[None]:
    """A TCP relay from `port` to `target_port` on 127.0.0.1 (a destination coming back)."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        yield


async def test_a_failed_load_shows_and_loading_again_fetches_nothing(
    tmp_path: Path,
    postgres_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "pw-Never-Shown-42"
    database = fresh_database(postgres_server_url)
    server_port = int(postgres_server_url.split(":")[2].split("/")[0])
    relay_port = free_port()  # nothing listens there yet: the warehouse is down
    name = database.rsplit("/", 1)[1]
    monkeypatch.setenv("DESTINATION__WAREHOUSE__DESTINATION_TYPE", "postgres")
    monkeypatch.setenv(
        "DESTINATION__WAREHOUSE__CREDENTIALS",
        f"postgresql://postgres:{secret}@127.0.0.1:{relay_port}/{name}",
    )
    async with running_app(delivery_settings(tmp_path)) as app:
        query_id = await app.run("down total:40", deliver={"destination": "warehouse"})
        assert (await app.until(query_id))["status"] == "completed"
        query = await loads_done(app, query_id)
        (load,) = query["destination_loads"]
        assert load["status"] == "failed" and load["attempts"] == 4  # 1 + 3 retries
        assert str(relay_port) in load["last_error"] and secret not in load["last_error"]
        page = (await app.api.get(f"/queries/{query_id}")).text
        assert "badge-failed" in page and 'id="action-deliver"' in page and secret not in page
        steps = await _deliver_steps(app)
        assert steps and secret not in str(steps)
        fetched = query["pages_fetched"], sum(app.sim.stats.requests_by_key.values())

        async with relay(relay_port, server_port):
            again = await app.api.post(f"/api/queries/{query_id}/deliver")
            assert again.status_code == 202, again.text
            assert again.json()["status"] == "queued"
            query = await loads_done(app, query_id, n=2)
        newest, failed = query["destination_loads"]
        assert newest["status"] == "loaded" and newest["records"] == 40 and failed == load
        now = query["pages_fetched"], sum(app.sim.stats.requests_by_key.values())
        assert now == fetched  # nothing was fetched again
    with psycopg.connect(database) as conn:
        rows = conn.execute(f"SELECT {KEY} FROM pagerunner.demo").fetchall()
    assert sorted(k for (k,) in rows) == sorted(app.expected_ids("down total:40"))
    logged = "".join(capfd.readouterr())  # pagerunner's, dlt's and the SDK's logs
    assert "load_attempt_failed" in logged and secret not in logged


async def _deliver_steps(app: App) -> list[Any]:
    runs = [r for r in await app.runs() if r["function_id"].endswith("deliver-query")]
    steps = []
    for run in runs:
        response = await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")
        steps += response.json()["data"]
    return steps


async def test_loading_again_is_refused_without_a_destination(app: App) -> None:
    plain = await app.run("plain total:20")
    await app.until(plain)
    response = await app.api.post(f"/api/queries/{plain}/deliver")
    assert response.status_code == 409 and "no destination" in response.text
    missing = await app.api.post("/api/queries/01NOSUCHQUERY0000000000000/deliver")
    assert missing.status_code == 404


async def test_the_forms_take_check_and_show_a_destination(app: App, tmp_path: Path) -> None:
    form = (await app.api.get("/queries/new")).text
    assert 'name="deliver"' in form and "PAGERUNNER_DELIVERY_DIR" in form
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    fields = {"csrf_token": token, "source": "demo", "params.q": "form total:20"}
    bad = await app.api.post("/queries/new", data={**fields, "deliver": "duckdb:///../x"})
    assert bad.status_code == 422 and "inside PAGERUNNER_DELIVERY_DIR" in bad.text
    made = await app.api.post("/queries/new", data={**fields, "deliver": "duckdb:///form.duckdb"})
    assert made.status_code == 303
    query_id = made.headers["location"].split("/")[2].split("?")[0]
    await loads_done(app, query_id)
    assert len(duck_keys(tmp_path / "out" / "form.duckdb")) == 20
    again = await app.api.post(f"/queries/{query_id}/deliver", data={"csrf_token": token})
    assert again.status_code == 303 and again.headers["location"].endswith("?done=deliver")
    query = await loads_done(app, query_id, n=2)
    assert [load["status"] for load in query["destination_loads"]] == ["loaded", "loaded"]
    assert len(duck_keys(tmp_path / "out" / "form.duckdb")) == 20  # merged: still once each
    combo_form = (await app.api.get("/combos/new")).text
    assert 'name="deliver"' in combo_form
    combo = await app.api.post(
        "/combos/new",
        data={
            "csrf_token": token,
            "source": "demo",
            "lines.q": "a total:5\nb total:5",
            "deliver": "parquet:///combo",
            "action": "create",
        },
    )
    assert combo.status_code == 303
    combo_id = combo.headers["location"].split("/")[2].split("?")[0]
    summary = (await app.api.get(f"/api/combos/{combo_id}")).json()
    assert summary["deliver"] == {"destination": "parquet:///combo"}
    for member in summary["queries"]:
        assert (await loads_done(app, member["id"]))["destination_loads"][0]["records"] == 5
    files = duckdb.sql(
        f"SELECT {KEY} FROM read_parquet('{tmp_path}/out/combo/pagerunner/demo/*.parquet')"
    ).fetchall()
    assert len(files) == 10


@pytest.mark.slow
async def test_serve_killed_during_a_load_leaves_each_record_once(tmp_path: Path) -> None:
    port = free_port()
    env = process_env(
        tmp_path / "p.db",
        port=port,
        page_delay_s="0",
        retry_base_s="0.05",
        log_level="warning",
        delivery_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
    )
    base = f"http://127.0.0.1:{port}"
    q = "killed load total:1500"
    proc = await start(["serve"], env, f"{base}/healthz")
    try:
        async with httpx.AsyncClient(base_url=base) as api:
            body = {
                "source": "demo",
                "params": {"q": q},
                "deliver": {"destination": "duckdb:///kill.duckdb"},
            }
            query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
            await query_until(api, query_id, {"completed"})
            while (await _loads(api, query_id))[:1] != ["loading"]:
                await asyncio.sleep(0.01)
            await asyncio.sleep(random.uniform(0.0, 0.3))
            proc.kill()  # SIGKILL while dlt loads
            await proc.wait()
            proc = await start(["serve"], env, f"{base}/healthz")
            for _ in range(1200):
                query = (await api.get(f"/api/queries/{query_id}")).json()
                if query["destination_loads"][0]["status"] in ("loaded", "failed"):
                    break
                await asyncio.sleep(0.05)
    finally:
        proc.kill()
        await proc.wait()
    (load,) = query["destination_loads"]
    assert load["status"] == "loaded" and load["attempts"] >= 2, load
    keys = duck_keys(tmp_path / "out" / "kill.duckdb")
    expected = [r["id"] for r in Simulator(SimulatorConfig()).expected_records(q)]
    assert len(keys) == len(set(keys)) == 1500
    assert sorted(keys) == sorted(expected)


async def _loads(api: httpx.AsyncClient, query_id: str) -> list[str]:
    query = (await api.get(f"/api/queries/{query_id}")).json()
    return [load["status"] for load in query["destination_loads"]]
