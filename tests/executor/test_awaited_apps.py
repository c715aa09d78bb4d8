"""An app the executor is given (`-u`) but that starts later: it is shown, awaited, synced
as soon as it answers, reachable by the sync endpoint, and the events sent meanwhile run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from pagerunner.executor import Backoff, Executor, ExecutorConfig, running_executor, serve_http
from tests.conftest import free_port

from .conftest import FAST_BACKOFF
from .sdk_app import APP_ID, build_app


@contextlib.asynccontextmanager
async def executor_before_app(
    tmp_path: Path, sync_backoff: Backoff
) -> AsyncIterator[tuple[Executor, httpx.AsyncClient, Any, int]]:
    """An executor told about an app at a port where nothing listens yet."""
    port, app_port = free_port(), free_port()
    app_url = f"http://127.0.0.1:{app_port}/api/inngest"
    config = ExecutorConfig(
        db_url=str(tmp_path / "executor.db"),
        app_urls=(app_url,),
        backoff=FAST_BACKOFF,
        sync_backoff=sync_backoff,
        poll_interval_s=0.1,
    )
    app, _ledger = build_app(api_origin=f"http://127.0.0.1:{port}")
    async with (
        running_executor(config, port=port) as executor,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api,
    ):
        yield executor, api, app, app_port


async def send(api: httpx.AsyncClient, n: int) -> str:
    response = await api.post("/e/key", json={"name": "test/sequential", "data": {"n": n}})
    assert response.status_code == 200, response.text
    event_id: str = response.json()["ids"][0]
    return event_id


async def run_of(executor: Executor, event_id: str) -> str:
    for _ in range(200):
        if runs := await executor.runs_for_event(event_id):
            return runs[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no run for event {event_id}")


async def test_an_app_that_starts_later_is_synced_and_the_events_sent_meanwhile_run(
    tmp_path: Path,
) -> None:
    quick = Backoff(base_s=0.1, cap_s=0.3, jitter=0.0)
    async with executor_before_app(tmp_path, quick) as (executor, api, app, app_port):
        apps = (await api.get("/v1/apps")).json()["data"]
        page = (await api.get("/apps")).text
        early = [await send(api, n) for n in (1, 2)]
        await asyncio.sleep(0.5)  # several failed attempts
        assert await executor.runs_for_event(early[0]) == []
        async with serve_http(app, host="127.0.0.1", port=app_port):
            runs = [await executor.wait_for_run(await run_of(executor, e)) for e in early]
            later = await executor.wait_for_run(await run_of(executor, await send(api, 3)))
            synced = (await api.get("/v1/apps")).json()["data"]
            runs_per_event = [len(await executor.runs_for_event(e)) for e in early]
    app_url = f"http://127.0.0.1:{app_port}/api/inngest"
    [awaited] = apps
    assert awaited["url"] == app_url and awaited["reached"] is False
    assert "could not sync" in awaited["error"] and awaited["synced_at"] is None
    assert app_url in page and "not reached yet" in page
    assert [r["output"] for r in runs] == [{"a": 1, "b": 2}, {"a": 2, "b": 3}]
    assert later["output"] == {"a": 3, "b": 4}
    assert runs_per_event == [1, 1]
    assert [(a["name"], a["url"], a["reached"], a["error"]) for a in synced] == [
        (APP_ID, app_url, True, None)
    ]


async def test_the_sync_endpoint_reaches_an_awaited_app_by_its_id(tmp_path: Path) -> None:
    slow = Backoff(base_s=600, cap_s=600, jitter=0.0)  # only the endpoint syncs here
    async with executor_before_app(tmp_path, slow) as (executor, api, app, app_port):
        early = await send(api, 5)
        down = await api.post(f"/v1/apps/{APP_ID}/sync")
        async with serve_http(app, host="127.0.0.1", port=app_port):
            up = await api.post(f"/v1/apps/{APP_ID}/sync")
            functions = (await api.get("/v1/functions")).json()["data"]
            run = await executor.wait_for_run(await run_of(executor, early))
            again = await api.post(f"/v1/apps/{APP_ID}/sync")
            unknown = await api.post("/v1/apps/someone-else/sync")
    assert down.status_code == 404
    assert f"app '{APP_ID}' not found" in down.json()["error"]
    assert "could not sync http://127.0.0.1" in down.json()["error"]  # why, for the operator
    assert up.status_code == 200, up.text
    assert up.json()["data"]["app_id"] == APP_ID
    assert f"{APP_ID}-sequential" in {f["id"] for f in functions}
    assert run["output"] == {"a": 5, "b": 6}
    assert again.status_code == 200
    assert unknown.status_code == 404 and unknown.json()["error"] == "app 'someone-else' not found"
