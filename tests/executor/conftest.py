"""Fixtures running the real executor against the real-SDK test app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.executor import Backoff, Executor, ExecutorConfig, running_executor, serve_http
from tests.conftest import free_port

from .sdk_app import Ledger, build_app

FAST_BACKOFF = Backoff(base_s=0.05, cap_s=0.5, jitter=0.0)


@dataclass
class Harness:
    executor: Executor
    ledger: Ledger
    api: httpx.AsyncClient  # the executor's HTTP API
    app_url: str

    async def send(self, name: str, data: dict[str, Any] | None = None, **extra: Any) -> str:
        response = await self.api.post(
            "/e/test-key", json=[{"name": name, "data": data or {}, **extra}]
        )
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()["ids"]
        return ids[0]

    async def run_of(self, event_id: str, timeout_s: float = 10.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            run_ids = await self.executor.runs_for_event(event_id)
            if run_ids:
                return run_ids[0]
            assert asyncio.get_running_loop().time() < deadline, f"no run for {event_id}"
            await asyncio.sleep(0.02)

    async def finished(self, event_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        run_id = await self.run_of(event_id)
        return dict(await self.executor.wait_for_run(run_id, timeout_s=timeout_s))

    async def steps(self, run_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/v1/runs/{run_id}/steps")
        assert response.status_code == 200, response.text
        steps: list[dict[str, Any]] = response.json()["data"]
        return steps


AppBuilder = Callable[..., tuple[Any, Ledger]]


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path,
    transport: str,
    *,
    signing_key: str | None = None,
    build: AppBuilder = build_app,
    **config: Any,
) -> AsyncIterator[Harness]:
    """The executor (with its HTTP API) and a test app, over `asgi` or real `http`."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    app, ledger = build(api_origin=origin, signing_key=signing_key)
    async with contextlib.AsyncExitStack() as stack:
        if transport == "asgi":
            app_url, asgi = "http://testapp.internal/api/inngest", {"http://testapp.internal": app}
        else:
            app_port = free_port()
            await stack.enter_async_context(serve_http(app, host="127.0.0.1", port=app_port))
            app_url, asgi = f"http://127.0.0.1:{app_port}/api/inngest", {}
        config.setdefault("db_url", str(tmp_path / "executor.db"))
        config = ExecutorConfig(
            app_urls=(app_url,),
            backoff=FAST_BACKOFF,
            signing_key=signing_key,
            poll_interval_s=0.2,
            **config,
        )
        executor = await stack.enter_async_context(
            running_executor(config, port=port, asgi_apps=asgi)
        )
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=origin))
        yield Harness(executor=executor, ledger=ledger, api=api, app_url=app_url)


@pytest.fixture(params=["asgi", "http"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, request.param) as value:
        yield value
