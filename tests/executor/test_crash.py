"""kill -9 the executor at random moments: every run still finishes, no recorded step reruns."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from pagerunner.executor import serve_http
from tests.conftest import free_port

from .sdk_app import build_app

RUNS, STEPS, KILLS = 24, 10, 4


async def start_executor(port: int, db: Path, app_url: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pagerunner",
        "executor",
        "--port",
        str(port),
        "--db",
        str(db),
        "-u",
        app_url,
        "--log-level",
        "warning",
        "--retry-schedule",
        "exponential",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            try:
                functions = (await client.get("/v1/functions")).json()["data"]
                if functions:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("executor did not come up")


async def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    port, app_port = free_port(), free_port()
    db = tmp_path / "executor.db"
    app, ledger = build_app(api_origin=f"http://127.0.0.1:{port}")
    app_url = f"http://127.0.0.1:{app_port}/api/inngest"
    async with serve_http(app, host="127.0.0.1", port=app_port):
        proc = await start_executor(port, db, app_url)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
                sent = await api.post(
                    "/e/k",
                    json=[
                        {"name": "test/chain", "data": {"steps": STEPS, "i": i}}
                        for i in range(RUNS)
                    ],
                )
                event_ids = sent.json()["ids"]
                for _ in range(KILLS):
                    await asyncio.sleep(rng.uniform(0.1, 0.8))
                    proc.kill()  # SIGKILL: no cleanup, no lease release
                    await proc.wait()
                    proc = await start_executor(port, db, app_url)
                runs = await wait_all_finished(api, event_ids)
        finally:
            proc.kill()
            await proc.wait()

    assert len(runs) == RUNS, f"seed={seed}"
    assert all(r["status"] == "Completed" for r in runs), f"seed={seed}: {runs}"
    assert all(r["output"] == sum(range(STEPS)) for r in runs), f"seed={seed}"
    recorded = recorded_steps(db)
    executions: dict[tuple[str, str], list[float]] = defaultdict(list)
    for entry in ledger.entries:
        executions[(entry["run_id"], entry["step"])].append(entry["at"])
    assert set(executions) == set(recorded), f"seed={seed}: every step ran and was recorded"
    repeated = sum(len(v) > 1 for v in executions.values())
    print(f"seed={seed} steps={len(recorded)} repeated_before_recording={repeated}")
    late = {k: v for k, v in executions.items() if max(v) > recorded[k]}
    assert not late, f"seed={seed}: steps executed after their result was recorded: {late}"


async def wait_all_finished(api: httpx.AsyncClient, event_ids: list[str]) -> list[dict[str, Any]]:
    for _ in range(1200):
        runs = []
        for event_id in event_ids:
            runs += (await api.get(f"/v1/events/{event_id}/runs")).json()["data"]
        if len(runs) == len(event_ids) and all(r["status"] != "Running" for r in runs):
            return runs
        await asyncio.sleep(0.05)
    raise AssertionError(f"runs did not finish: {runs}")


def recorded_steps(db: Path) -> dict[tuple[str, str], float]:
    """(run id, step name) -> when the executor recorded the step's result."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT run_id, name, ended_at FROM exec_steps WHERE has_memo = 1"
        ).fetchall()
    return {(run_id, name): ended_at for run_id, name, ended_at in rows}
