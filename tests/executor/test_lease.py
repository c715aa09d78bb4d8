"""Two executors on one database: one drives the queue, the other takes over when it stops."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from pagerunner.executor import Executor, ExecutorConfig, running_executor
from tests.conftest import free_port

from .conftest import FAST_BACKOFF
from .sdk_app import build_app

APP_ORIGIN = "http://testapp.internal"


async def test_standby_accepts_events_and_takes_over_without_double_runs(tmp_path: Path) -> None:
    port = free_port()
    app, ledger = build_app(api_origin=f"http://127.0.0.1:{port}")
    config = ExecutorConfig(
        db_url=str(tmp_path / "shared.db"),
        app_urls=(f"{APP_ORIGIN}/api/inngest",),
        backoff=FAST_BACKOFF,
        poll_interval_s=0.1,
        lease_ttl_s=2.0,
    )
    leading = running_executor(config, port=port, asgi_apps={APP_ORIGIN: app})
    first = await leading.__aenter__()  # starts, serves /fn/register, syncs the app
    await asyncio.sleep(0.3)
    second = Executor(config, asgi_apps={APP_ORIGIN: app})
    await second.start()
    try:
        await asyncio.sleep(0.5)
        assert first.is_leader and not second.is_leader
        # The standby stores events; the leader runs them.
        ids = await second.send_events(
            [{"name": "test/chain", "data": {"steps": 4}} for _ in range(5)]
        )
        runs = [(await first.runs_for_event(i))[0] for i in ids]
        for run_id in runs:
            assert (await first.wait_for_run(run_id, timeout_s=15))["status"] == "Completed"
        await leading.__aexit__(None, None, None)  # stops and releases the lease
        for _ in range(100):
            if second.is_leader:
                break
            await asyncio.sleep(0.05)
        assert second.is_leader
        more = await second.send_events([{"name": "test/chain", "data": {"steps": 4}}])
        (late_run,) = await second.runs_for_event(more[0])
        assert (await second.wait_for_run(late_run, timeout_s=15))["output"] == 6
    finally:
        await second.stop()
    executions = Counter((e["run_id"], e["step"]) for e in ledger.entries)
    assert len(executions) == 6 * 4 and set(executions.values()) == {1}
