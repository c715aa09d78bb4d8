"""Sleeps and waits are durable: a run parked in either survives an executor restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pagerunner.executor import ExecutorConfig, running_executor
from tests.conftest import free_port

from .conftest import FAST_BACKOFF
from .sdk_app import build_app

APP_ORIGIN = "http://testapp.internal"


async def test_sleeping_and_waiting_runs_continue_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    app, ledger = build_app(api_origin=f"http://127.0.0.1:{port}")
    config = ExecutorConfig(
        db_url=str(tmp_path / "x.db"),
        app_urls=(f"{APP_ORIGIN}/api/inngest",),
        backoff=FAST_BACKOFF,
        poll_interval_s=0.1,
    )
    asgi = {APP_ORIGIN: app}
    async with running_executor(config, port=port, asgi_apps=asgi) as executor:
        sent_at = time.time()
        sleep_event, wait_event = await executor.send_events(
            [
                {"name": "test/sleep", "data": {"s": 2}},
                {"name": "test/wait", "data": {"id": "R", "timeout": 30}},
            ]
        )
        sleeper = (await executor.runs_for_event(sleep_event))[0]
        waiter = (await executor.runs_for_event(wait_event))[0]
        for _ in range(100):  # until both are parked
            if [e["step"] for e in ledger.for_run(sleeper)] == ["before"]:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
    # The executor is gone; a new one opens the same database.
    async with running_executor(config, port=port, asgi_apps=asgi) as executor:
        await executor.send_events([{"name": "test/wait.reply", "data": {"id": "R", "n": 1}}])
        slept = await executor.wait_for_run(sleeper, timeout_s=10)
        waited = await executor.wait_for_run(waiter, timeout_s=10)
    assert slept["status"] == "Completed" and slept["output"] >= 1.9
    assert time.time() - sent_at >= 2.0
    assert [e["step"] for e in ledger.for_run(sleeper)] == ["before", "after"]
    assert waited["status"] == "Completed" and waited["output"] == {"id": "R", "n": 1}
