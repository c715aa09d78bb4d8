"""Apps written with the real Inngest JS SDK (v3 and v4) through the executor (issue 11, item 1).

`js/app.mjs` races a 1 s `step.sleep` against a 6 s `step.waitForEvent` that never
matches. On Inngest the JS SDK v3 answers execution version 1, so the function goes on
after the sleep; v4 answers 2, so a plain `Promise.race` waits for both (Inngest's
pending steps) and `group.parallel({ mode: "race" })` goes on after the sleep.

Skipped where node or the SDKs are missing (`npm ci --prefix tests/executor/js`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.executor import Executor, ExecutorConfig, running_executor
from tests.conftest import free_port

JS_DIR = Path(__file__).with_name("js")


def missing(sdk: str) -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / f"inngest-{sdk}").is_dir():
        return f"the Inngest JS SDK {sdk} is not installed (npm ci --prefix tests/executor/js)"
    return None


@contextlib.asynccontextmanager
async def js_app(tmp_path: Path, sdk: str) -> AsyncIterator[tuple[Executor, httpx.AsyncClient]]:
    """The executor and the JS app (a node process) syncing with it."""
    reason = missing(sdk)
    if reason is not None:
        pytest.skip(reason)
    port, app_port = free_port(), free_port()
    origin, app_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{app_port}/api/inngest"
    env = {**os.environ, "SDK": sdk, "PORT": str(app_port), "EXECUTOR_URL": origin}
    env["INNGEST_DEV"] = origin
    log = (tmp_path / f"node-{sdk}.log").open("wb")
    node = await asyncio.create_subprocess_exec(
        "node", str(JS_DIR / "app.mjs"), env=env, stdout=log, stderr=log
    )
    try:
        await _answers(app_url, node, tmp_path / f"node-{sdk}.log")
        config = ExecutorConfig(
            db_url=str(tmp_path / "executor.db"), app_urls=(app_url,), poll_interval_s=0.2
        )
        async with (
            running_executor(config, port=port) as executor,
            httpx.AsyncClient(base_url=origin) as api,
        ):
            yield executor, api
    finally:
        node.terminate()
        await node.wait()
        log.close()


async def _answers(url: str, node: Any, log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            if node.returncode is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                await client.get(url)
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"the JS app did not start: {log.read_text()[-2000:]}")


async def race(executor: Executor, api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """Send the event and wait for the run: the run, with how long it took (`took_s`) and
    when its step "after" (which follows the race) ended, from the run's start (`after_s`)."""
    response = await api.post("/e/key", json={"name": name, "data": {}})
    assert response.status_code == 200, response.text
    event_id = response.json()["ids"][0]
    for _ in range(200):
        run_ids = await executor.runs_for_event(event_id)
        if run_ids:
            break
        await asyncio.sleep(0.05)
    run = dict(await executor.wait_for_run(run_ids[0], timeout_s=30))
    steps = (await api.get(f"/v1/runs/{run['id']}/steps")).json()["data"]
    after = next(s for s in steps if s["name"] == "after")
    run["took_s"] = run["ended_at"] - run["queued_at"]
    run["after_s"] = datetime.fromisoformat(after["ended_at"]).timestamp() - run["queued_at"]
    return run


async def test_js_v3_promise_race_goes_on_after_the_sleep(tmp_path: Path) -> None:
    async with js_app(tmp_path, "v3") as (executor, api):
        run = await race(executor, api, "js/race")
    assert run["status"] == "Completed", run
    assert run["output"] == "nap"
    assert run["after_s"] < 4  # not after the 6 s of the wait
    assert run["took_s"] < 4
    assert run["request_version"] == 1  # what JS v3 answers, when the executor lets it choose


async def test_js_v4_promise_race_waits_for_both_unless_in_a_race_group(tmp_path: Path) -> None:
    async with js_app(tmp_path, "v4") as (executor, api):
        plain = await race(executor, api, "js/race")
        grouped = await race(executor, api, "js/group-race")
    assert plain["status"] == "Completed", plain
    assert plain["output"] == "nap"  # the sleep ended first: it wins, but only at the end
    assert plain["after_s"] >= 6
    assert plain["request_version"] == 2
    # group.parallel({mode: "race"}): the function goes on after the sleep. The SDK still
    # reports the losing wait until it ends, so the run ends then, as on Inngest.
    assert grouped["status"] == "Completed", grouped
    assert grouped["output"] == "nap"
    assert grouped["after_s"] < 4
    assert grouped["took_s"] >= 6


@pytest.mark.parametrize("sdk", ["v3", "v4"])
async def test_the_js_sdks_answer_to_the_sync_put_is_a_sync(tmp_path: Path, sdk: str) -> None:
    """Issue 11, item 4: the JS SDK does not answer the PUT with {"ok": true}; the sync
    worked, and the executor records it as such (no error, the app reached)."""
    async with js_app(tmp_path, sdk) as (_, api):
        (app,) = (await api.get("/v1/apps")).json()["data"]
        assert app["reached"] is True and app["error"] is None
        assert app["function_count"] >= 1 and app["synced_at"] is not None
        assert app["sdk"].startswith("js")
        resynced = await api.post(f"/v1/apps/{app['name']}/sync")
        assert resynced.status_code == 200, resynced.text
