"""A database left by release 0.1.0 with runs in flight: the new executor migrates it and
every run finishes, with no recorded step run again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from pagerunner.executor import ExecutorConfig, running_executor
from pagerunner.executor.store import schema
from tests.conftest import free_port

from .conftest import FAST_BACKOFF
from .test_migrations import FIXTURE, head, schema_diff, version
from .upgrade_app import APP_ID, APP_ORIGIN, APP_URL, build_upgrade_app


async def test_a_0_1_0_database_is_upgraded_and_its_runs_in_flight_finish(tmp_path: Path) -> None:
    db = tmp_path / "executor.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(FIXTURE.read_text())
        rows = conn.execute(
            "SELECT id, function_id, json_extract(events, '$[0].data.n') FROM exec_runs"
            " WHERE status = 'Running'"
        ).fetchall()
    in_flight = {run_id: (fn, n) for run_id, fn, n in rows}
    assert sorted(fn for fn, _ in in_flight.values()) == [
        f"{APP_ID}-nap",
        f"{APP_ID}-work",
        f"{APP_ID}-work",
    ]
    port = free_port()
    app, executed = build_upgrade_app(api_origin=f"http://127.0.0.1:{port}")
    config = ExecutorConfig(
        db_url=str(db), app_urls=(APP_URL,), backoff=FAST_BACKOFF, poll_interval_s=0.1
    )
    async with running_executor(config, port=port, asgi_apps={APP_ORIGIN: app}) as executor:
        finished = {run_id: await executor.wait_for_run(run_id) for run_id in in_flight}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            apps = (await api.get("/v1/apps")).json()["data"]

    assert {run["status"] for run in finished.values()} == {"Completed"}
    for run_id, (fn, n) in in_flight.items():
        if fn.endswith("-nap"):
            assert finished[run_id]["output"] == ["before", "after"]
            # "before" was recorded under 0.1.0: its memo survived, the step did not run again.
            assert [step for run, step in executed if run == run_id] == ["after"]
        else:
            assert finished[run_id]["output"] == n * 2
            assert [step for run, step in executed if run == run_id] == ["work"]
    assert [(a["name"], a["url"], a["reached"]) for a in apps] == [(APP_ID, APP_URL, True)]
    assert version(str(db), schema.VERSION_TABLE) == [head()]
    assert schema_diff(str(db), schema.metadata, schema.include_name) == []
