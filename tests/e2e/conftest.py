"""pagerunner as a user runs it: the whole runtime in-process, driven over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.runtime import Runtime, running_pagerunner
from pagerunner.settings import Settings
from pagerunner.simulator import Simulator
from tests.conftest import free_port

TERMINAL = {"completed", "failed", "paused", "cancelled"}


def fast_settings(db: str, **overrides: Any) -> Settings:
    """Fast settings on free ports: no delay between pages, quick retries and timeouts."""
    values: dict[str, Any] = {
        "db": db,
        "port": free_port(),
        "executor_port": free_port(),
        "demo_port": free_port(),
        "page_delay_s": 0,
        "retry_base_s": 0.05,
        "source_timeout_s": 1.0,
        "log_level": "warning",
        **overrides,
    }
    return Settings(**values)


def process_env(db: Path, *, port: int | None = None, **settings: str) -> dict[str, str]:
    """Environment for pagerunner in a subprocess: free ports, `db`, and PAGERUNNER_<KEY> values."""
    return {
        "PAGERUNNER_PORT": str(port or free_port()),
        "PAGERUNNER_EXECUTOR_PORT": str(free_port()),
        "PAGERUNNER_DEMO_PORT": str(free_port()),
        "PAGERUNNER_DB": str(db),
        **{f"PAGERUNNER_{key.upper()}": value for key, value in settings.items()},
    }


@dataclass
class App:
    runtime: Runtime
    api: httpx.AsyncClient  # the app
    executor_api: httpx.AsyncClient

    @property
    def sim(self) -> Simulator:
        assert self.runtime.simulator is not None
        return self.runtime.simulator

    async def run(self, q: str, location: str = "", **extra: Any) -> str:
        body = {"source": "demo", "params": {"q": q, "location": location}, **extra}
        response = await self.api.post("/api/queries/run", json=body)
        assert response.status_code == 202, response.text
        query_id: str = response.json()["id"]
        return query_id

    async def query(self, query_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/queries/{query_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def until(
        self, query_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 20
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            query = await self.query(query_id)
            if query["status"] in statuses:
                return query
            assert asyncio.get_running_loop().time() < deadline, f"stuck: {query}"
            await asyncio.sleep(0.05)

    async def record_ids(self, query_id: str) -> list[str]:
        ids: list[str] = []
        offset = 0
        while True:
            page = (
                await self.api.get(
                    f"/api/queries/{query_id}/results", params={"limit": 1000, "offset": offset}
                )
            ).json()
            ids += [item["data"]["id"] for item in page["items"]]
            offset += len(page["items"])
            if offset >= page["total"]:
                return ids

    def expected_ids(self, q: str, location: str = "") -> list[str]:
        return [r["id"] for r in self.sim.expected_records(q, location)]

    async def runs(self) -> list[dict[str, Any]]:
        response = await self.executor_api.get("/v1/runs", params={"limit": 500})
        runs: list[dict[str, Any]] = response.json()["data"]
        return runs


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[App]:
    """pagerunner in this process. Its cron clock stands still (the schedules' tests move
    theirs): `run-schedules` never runs here, so a test that counts runs counts its own."""
    frozen = time.time()
    async with (
        running_pagerunner(settings, clock=lambda: frozen) as runtime,
        httpx.AsyncClient(base_url=settings.app_origin) as api,
        httpx.AsyncClient(base_url=settings.executor_origin) as executor_api,
    ):
        yield App(runtime=runtime, api=api, executor_api=executor_api)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(fast_settings(str(tmp_path / "pagerunner.db"))) as value:
        yield value
