"""pagerunner as separate processes: kill -9 in the middle of a query; app and executor apart."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.executor import serve_http
from pagerunner.simulator import Simulator, SimulatorConfig
from tests.conftest import free_port

from .conftest import process_env

EXPECTED = Simulator(SimulatorConfig())


async def start(args: list[str], env: Mapping[str, str], ready_url: str) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pagerunner",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            try:
                if (await client.get(ready_url)).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{args[0]} did not start")


async def query_until(api: httpx.AsyncClient, query_id: str, done: set[str]) -> dict[str, Any]:
    for _ in range(1200):
        query: dict[str, Any] = (await api.get(f"/api/queries/{query_id}")).json()
        if query["status"] in done:
            return query
        await asyncio.sleep(0.05)
    raise AssertionError(f"query stuck: {query}")


async def all_record_ids(api: httpx.AsyncClient, query_id: str) -> list[str]:
    page = (await api.get(f"/api/queries/{query_id}/results", params={"limit": 1000})).json()
    return [item["data"]["id"] for item in page["items"]]


async def test_serve_killed_mid_query_completes_with_exactly_the_records(tmp_path: Path) -> None:
    rng = random.Random()
    port = free_port()
    env = process_env(
        tmp_path / "pagerunner.db",
        port=port,
        page_delay_s="0.05",
        retry_base_s="0.05",
        log_level="warning",
    )
    base = f"http://127.0.0.1:{port}"
    proc = await start(["serve"], env, f"{base}/healthz")
    try:
        async with httpx.AsyncClient(base_url=base) as api:
            body = {"source": "demo", "params": {"q": "crash total:500", "location": "Reno"}}
            query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
            for _ in range(2):
                await asyncio.sleep(rng.uniform(0.3, 0.9))
                proc.kill()  # SIGKILL, mid-query
                await proc.wait()
                proc = await start(["serve"], env, f"{base}/healthz")
            query = await query_until(api, query_id, {"completed", "failed", "paused"})
            ids = await all_record_ids(api, query_id)
    finally:
        proc.kill()
        await proc.wait()
    expected = [r["id"] for r in EXPECTED.expected_records("crash total:500", "Reno")]
    assert query["status"] == "completed"
    assert query["records_fetched"] == 500 and query["pages_fetched"] == 25
    assert ids == expected  # nothing lost, nothing twice, in order


async def test_app_and_standalone_executor_in_separate_processes(tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig())
    demo_port, app_port, exec_port = free_port(), free_port(), free_port()
    env = {
        "PAGERUNNER_PORT": str(app_port),
        "PAGERUNNER_DEMO_PORT": str(demo_port),
        "PAGERUNNER_DB": str(tmp_path / "app.db"),
        "PAGERUNNER_DEMO": "false",
        "PAGERUNNER_PAGE_DELAY_S": "0",
        "PAGERUNNER_LOG_LEVEL": "warning",
        "INNGEST_DEV": f"http://127.0.0.1:{exec_port}",
    }
    app_url = f"http://127.0.0.1:{app_port}"
    async with serve_http(sim.app, host="127.0.0.1", port=demo_port):
        app_proc = await start(["serve"], env, f"{app_url}/healthz")
        exec_proc = await start(
            [
                "executor",
                "--port",
                str(exec_port),
                "--db",
                str(tmp_path / "executor.db"),
                "-u",
                f"{app_url}/api/inngest",
                "--log-level",
                "warning",
            ],
            {},
            f"http://127.0.0.1:{exec_port}/healthz",
        )
        try:
            async with httpx.AsyncClient(base_url=app_url) as api:
                health = (await api.get("/healthz")).json()
                body = {"source": "demo", "params": {"q": "split total:70"}}
                query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
                query = await query_until(api, query_id, {"completed", "failed", "paused"})
                ids = await all_record_ids(api, query_id)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{exec_port}") as ex:
                runs = (await ex.get("/v1/runs")).json()["data"]
        finally:
            for proc in (exec_proc, app_proc):
                proc.terminate()
                await proc.wait()
    assert health["engine"] == "inngest-dev"
    assert query["status"] == "completed"
    assert ids == [r["id"] for r in sim.expected_records("split total:70")]
    # One run of the query (and, when a minute passed meanwhile, of the schedules' cron).
    ran = [r["function_id"] for r in runs if not r["function_id"].endswith("run-schedules")]
    assert ran == ["pagerunner-execute-query"]
    with sqlite3.connect(tmp_path / "app.db") as conn:  # no embedded executor ran in the app
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "pr_queries" in tables and "exec_runs" not in tables


async def test_sigterm_stops_serve_cleanly_and_the_query_continues_after(tmp_path: Path) -> None:
    port = free_port()
    env = process_env(
        tmp_path / "pagerunner.db", port=port, page_delay_s="0.2", log_level="warning"
    )
    base = f"http://127.0.0.1:{port}"
    proc = await start(["serve"], env, f"{base}/healthz")
    async with httpx.AsyncClient(base_url=base) as api:
        body = {"source": "demo", "params": {"q": "term total:200"}}
        query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
        await query_until(api, query_id, {"running"})
        await asyncio.sleep(0.5)
        proc.terminate()  # SIGTERM
        code = await asyncio.wait_for(proc.wait(), timeout=20)
        assert code == 0
        proc = await start(["serve"], env, f"{base}/healthz")
        try:
            query = await query_until(api, query_id, {"completed", "failed", "paused"})
            ids = await all_record_ids(api, query_id)
        finally:
            proc.terminate()
            await proc.wait()
    assert query["status"] == "completed"
    assert ids == [r["id"] for r in EXPECTED.expected_records("term total:200")]


async def runs_of(executor: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every run of execute-query the executor knows, oldest first (serve also runs
    `run-schedules` every minute, whenever a minute passes during the test)."""
    try:
        runs: list[dict[str, Any]] = (await executor.get("/v1/runs", params={"limit": 500})).json()[
            "data"
        ]
    except httpx.HTTPError:
        return []
    ours = [r for r in runs if r["function_id"].endswith("execute-query")]
    return sorted(ours, key=lambda r: r["run_id"])


@pytest.mark.slow  # about 20 s: four starts of serve
async def test_serve_killed_during_hand_overs_completes_with_exactly_the_records(
    tmp_path: Path,
) -> None:
    """Two pages per run: kill -9 as a hand-over's event has just made the next run."""
    rng = random.Random()
    port = free_port()
    env = process_env(
        tmp_path / "pagerunner.db",
        port=port,
        pages_per_run="2",
        page_delay_s="0.05",
        retry_base_s="0.05",
        log_level="warning",
    )
    base = f"http://127.0.0.1:{port}"
    executor_base = f"http://127.0.0.1:{env['PAGERUNNER_EXECUTOR_PORT']}"
    proc = await start(["serve"], env, f"{base}/healthz")
    try:
        async with (
            httpx.AsyncClient(base_url=base) as api,
            httpx.AsyncClient(base_url=executor_base) as executor,
        ):
            body = {"source": "demo", "params": {"q": "handover total:300"}}
            query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
            seen = 1
            for kill in range(3):
                while len(await runs_of(executor)) <= seen:
                    await asyncio.sleep(0.002)
                # At once: most likely before the hand-over step's memo is stored, so the
                # step runs again and sends its event again; then a little later.
                await asyncio.sleep(rng.uniform(0, 0.03) if kill else 0)
                proc.kill()  # SIGKILL, around the hand-over
                await proc.wait()
                proc = await start(["serve"], env, f"{base}/healthz")
                seen = len(await runs_of(executor))
            query = await query_until(api, query_id, {"completed", "failed", "paused"})
            ids = await all_record_ids(api, query_id)
            pages = (await api.get(f"/api/queries/{query_id}/pages")).json()["items"]
            runs = await runs_of(executor)
            events = (await executor.get("/v1/events", params={"limit": 500})).json()["data"]
    finally:
        proc.kill()
        await proc.wait()
    expected = [r["id"] for r in EXPECTED.expected_records("handover total:300")]
    assert query["status"] == "completed" and query["pages_fetched"] == 15
    assert ids == expected  # nothing lost, nothing twice, in order
    # Eight runs of two pages (the last of one), each started once and each completed.
    assert [r["status"] for r in runs] == ["Completed"] * 8
    chain = [r["run_id"] for r in runs]
    assert [p["run_id"] for p in pages] == [chain[(n - 1) // 2] for n in range(1, 16)]
    started: dict[str, int] = {}
    for event in events:  # a re-sent hand-over is the same event: it started no second run
        if event["name"] == "query/execute.requested":
            started[event["id"]] = started.get(event["id"], 0) + event["run_count"]
    assert sorted(started.values()) == [1] * 8
    assert sum(1 for e in events if e["name"] == "query/execute.requested") >= 8
