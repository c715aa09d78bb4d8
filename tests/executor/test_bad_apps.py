"""Apps that misbehave: each run fails with a readable error, the executor keeps going."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastapi
import pytest
from fastapi.responses import HTMLResponse, JSONResponse

from pagerunner.executor import Executor, ExecutorConfig

from .conftest import FAST_BACKOFF

ORIGIN = "http://bad.internal"


def registration(fn_id: str, retries: int = 2, origin: str = ORIGIN) -> dict[str, Any]:
    url = f"{origin}/api/inngest?fnId=bad-{fn_id}&stepId=step"
    return {
        "appname": "bad",
        "url": f"{origin}/api/inngest",
        "functions": [
            {
                "id": f"bad-{fn_id}",
                "name": fn_id,
                "triggers": [{"event": f"bad/{fn_id}"}],
                "steps": {
                    "step": {
                        "id": "step",
                        "name": "step",
                        "retries": {"attempts": retries},
                        "runtime": {"type": "http", "url": url},
                    }
                },
            }
        ],
    }


def bad_app(calls: list[str]) -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.post("/api/inngest")
    async def handle(fnId: str) -> Any:
        calls.append(fnId)
        kind = fnId.removeprefix("bad-")
        if kind == "html":
            return HTMLResponse("<html><body>Login required</body></html>")
        if kind == "gateway":
            return JSONResponse({"message": "bad gateway"}, status_code=502)
        if kind == "slow":
            await asyncio.sleep(5)
        if kind == "garbage-ops":
            return JSONResponse(
                {"not": "ops"}, status_code=206, headers={"x-inngest-sdk": "inngest-py:v0.5.19"}
            )
        return JSONResponse(None, headers={"x-inngest-sdk": "inngest-py:v0.5.19"})

    return app


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[tuple[Executor, list[str]]]:
    calls: list[str] = []
    config = ExecutorConfig(
        db_url=str(tmp_path / "x.db"), backoff=FAST_BACKOFF, call_timeout_s=0.3, poll_interval_s=0.1
    )
    ex = Executor(config, asgi_apps={ORIGIN: bad_app(calls)})
    await ex.start()
    yield ex, calls
    await ex.stop()


async def run_to_end(ex: Executor, name: str) -> dict[str, Any]:
    (event_id,) = await ex.send_events([{"name": name, "data": {}}])
    (run_id,) = await ex.runs_for_event(event_id)
    return dict(await ex.wait_for_run(run_id, timeout_s=10))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("html", "not an Inngest SDK response"),
        ("gateway", "HTTP 502"),
        ("slow", "timed out"),
        ("garbage-ops", "206 body is not a list of ops"),
    ],
)
async def test_bad_answers_are_retried_then_fail_readably(
    executor: tuple[Executor, list[str]], kind: str, message: str
) -> None:
    ex, calls = executor
    await ex.register(registration(kind, retries=2))
    run = await run_to_end(ex, f"bad/{kind}")
    assert run["status"] == "Failed"
    assert message in run["error"]["message"]
    assert calls.count(f"bad-{kind}") == 3  # retries=2 -> three attempts, then failed


async def test_unreachable_app_fails_with_the_address(tmp_path: Path) -> None:
    config = ExecutorConfig(
        db_url=str(tmp_path / "x.db"), backoff=FAST_BACKOFF, poll_interval_s=0.1
    )
    ex = Executor(config)
    await ex.start()
    try:
        await ex.register(registration("gone", retries=1, origin="http://127.0.0.1:9"))
        run = await run_to_end(ex, "bad/gone")
    finally:
        await ex.stop()
    assert run["status"] == "Failed"
    assert "could not reach http://127.0.0.1:9/api/inngest" in run["error"]["message"]


async def test_event_without_a_function_is_stored_with_no_run(
    executor: tuple[Executor, list[str]],
) -> None:
    ex, _ = executor
    (event_id,) = await ex.send_events([{"name": "nobody/listens", "data": {"a": 1}}])
    assert await ex.runs_for_event(event_id) == []


async def test_run_of_a_function_removed_by_resync_fails_clearly(
    executor: tuple[Executor, list[str]],
) -> None:
    ex, _ = executor
    await ex.register(registration("slow"))
    (event_id,) = await ex.send_events([{"name": "bad/slow", "data": {}}])
    await ex.register({"appname": "bad", "url": f"{ORIGIN}/api/inngest", "functions": []})
    (run_id,) = await ex.runs_for_event(event_id)
    run = await ex.wait_for_run(run_id, timeout_s=10)
    assert run["status"] == "Failed"
    assert "not registered" in run["error"]["message"]
