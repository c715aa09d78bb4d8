"""Inngest's limits, applied as Inngest applies them, with its messages (issue 11):
event and request sizes at intake, steps per run, step output and run state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import inngest
import pytest
from inngest._internal.errors import SendEventsError

from pagerunner.executor import ExecutorConfig, Limits, serve_http
from pagerunner.executor.errors import EventTooLargeError
from tests.conftest import free_port

from .compat_app import build_compat_app
from .conftest import harness

MiB = 1024 * 1024


def event_of(size: int) -> dict[str, Any]:
    """An event whose compact JSON is exactly `size` bytes."""
    shell = len('{"name":"compat/big","data":{"blob":""}}')
    return {"name": "compat/big", "data": {"blob": "x" * (size - shell)}}


def test_defaults_are_inngests() -> None:
    assert ExecutorConfig().limits == Limits(
        max_event_bytes=3 * MiB,
        max_batch_bytes=10 * MiB,
        max_steps=1000,
        max_step_output_bytes=4 * MiB,
        max_state_bytes=32 * MiB,
    )
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        Limits(max_steps=0)


async def test_events_up_to_3_mib_are_taken_larger_ones_refused_with_413(tmp_path: Path) -> None:
    async with harness(tmp_path, "http", build=build_compat_app) as h:
        taken = await h.api.post("/e/test-key", json=[event_of(3 * MiB)])
        assert taken.status_code == 200, taken.text  # 512 KiB was the limit before
        refused = await h.api.post("/e/test-key", json=[event_of(3 * MiB + 1)])
        assert refused.status_code == 413
        assert refused.json() == {
            "ids": [],
            "status": 413,
            "error": f"Event is over the max size: Max {3 * MiB} bytes / Size {3 * MiB + 1} bytes",
        }


async def test_the_sdk_sees_the_size_limit(tmp_path: Path) -> None:
    limits = Limits(max_event_bytes=1000)
    async with harness(tmp_path, "http", build=build_compat_app, limits=limits) as h:
        origin = str(h.api.base_url).rstrip("/")
        client = inngest.Inngest(
            app_id="sender",
            api_base_url=origin,
            event_api_base_url=origin,
            event_key="test-key",
            is_production=False,
        )
        assert len(await client.send(inngest.Event(name="compat/small", data={"n": 1}))) == 1
        with pytest.raises(SendEventsError, match="Max 1000 bytes"):
            await client.send(inngest.Event(name="compat/big", data={"blob": "x" * 1000}))
        events = (await h.api.get("/v1/events", params={"name": "compat/big"})).json()["data"]
        assert events == []


async def test_a_request_over_the_batch_limit_is_refused(tmp_path: Path) -> None:
    limits = Limits(max_event_bytes=600_000, max_batch_bytes=1_000_000)
    async with harness(tmp_path, "http", build=build_compat_app, limits=limits) as h:
        one = await h.api.post("/e/test-key", json=[event_of(500_000)])
        assert one.status_code == 200
        two = await h.api.post("/e/test-key", json=[event_of(500_000), event_of(500_000)])
        assert two.status_code == 413
        assert "1,000,000 bytes" in two.json()["detail"]  # the edge, before the body is read
        with pytest.raises(EventTooLargeError, match="Max 1000000 bytes / Size 1000002 bytes"):
            await h.executor.send_events([event_of(500_001), event_of(500_001)])
        # Registration keeps its own bound (10 MiB): a re-sync still works.
        assert (await h.api.post("/v1/apps/compat/sync")).status_code == 200


async def test_a_run_fails_at_the_step_limit(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi", build=build_compat_app, limits=Limits(max_steps=5)) as h:
        done = await h.finished(await h.send("compat/steps", {"n": 4}))
        assert done["status"] == "Completed"
        # As on Inngest, the call after the 5th step result is refused, even a final one.
        for n in (5, 20):
            run = await h.finished(await h.send("compat/steps", {"n": n}))
            assert run["status"] == "Failed"
            assert run["error"] == {
                "error": "function has too many steps",
                "name": "InngestErrFunctionOverflowed",
                "message": "The function run exceeded the step limit of 5 steps.",
            }
            assert len(await h.steps(run["id"])) == 5


async def test_a_plan_over_the_step_limit_fails_at_once(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi", build=build_compat_app, limits=Limits(max_steps=5)) as h:
        run = await h.finished(await h.send("compat/wide", {"n": 6}))
        assert run["status"] == "Failed"
        assert run["error"]["name"] == "InngestErrFunctionOverflowed"
        assert await h.steps(run["id"]) == []  # none of the 6 planned steps was called


async def test_a_step_output_over_the_limit_is_a_failed_attempt(tmp_path: Path) -> None:
    limits = Limits(max_step_output_bytes=1000)
    async with harness(tmp_path, "asgi", build=build_compat_app, limits=limits) as h:
        small = await h.finished(await h.send("compat/big-output", {"size": 900}))
        assert small["status"] == "Completed"
        run = await h.finished(await h.send("compat/big-output", {"size": 1000}))
        assert run["status"] == "Failed"
        # Retried like any failed call (retries=1), then the run fails: as Inngest does.
        assert [e["attempt"] for e in h.ledger.for_run(run["id"])] == [0, 1]
        message = run["error"]["message"]
        assert message.startswith("error validating generator opcode ")
        assert message.endswith(": step output size is greater than the limit")


async def test_a_run_fails_when_its_state_would_be_over_the_limit(tmp_path: Path) -> None:
    limits = Limits(max_state_bytes=10_000)
    async with harness(tmp_path, "asgi", build=build_compat_app, limits=limits) as h:
        run = await h.finished(await h.send("compat/hoarder", {"n": 10, "size": 3000}))
        assert run["status"] == "Failed"
        message = "The function run exceeded the state size limit of 10000 bytes."
        assert run["error"] == {
            "error": f"InngestErrStateOverflowed: {message}",
            "name": "InngestErrStateOverflowed",
            "message": message,
        }
        assert len(await h.steps(run["id"])) == 3  # ~3 KB each: a 4th would not fit


async def test_the_limits_are_flags_and_env_of_pagerunner_executor(tmp_path: Path) -> None:
    port, app_port = free_port(), free_port()
    app, _ = build_compat_app(api_origin=f"http://127.0.0.1:{port}")
    app_url = f"http://127.0.0.1:{app_port}/api/inngest"
    async with serve_http(app, host="127.0.0.1", port=app_port):
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pagerunner", "executor", "--port", str(port)),
            *("--db", str(tmp_path / "x.db"), "-u", app_url, "--max-steps", "3"),
            env={**os.environ, "PAGERUNNER_EXECUTOR_MAX_EVENT_BYTES": "2000"},
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await api.get("/v1/functions")).json()["data"]:
                            break
                    await asyncio.sleep(0.05)
                refused = await api.post("/e/k", json=[event_of(2001)])
                assert refused.status_code == 413 and "Max 2000 bytes" in refused.json()["error"]
                sent = await api.post("/e/k", json=[{"name": "compat/steps", "data": {"n": 9}}])
                (event_id,) = sent.json()["ids"]
                for _ in range(300):
                    runs = (await api.get(f"/v1/events/{event_id}/runs")).json()["data"]
                    if runs and runs[0]["status"] != "Running":
                        break
                    await asyncio.sleep(0.05)
                assert runs[0]["error"]["message"] == (
                    "The function run exceeded the step limit of 3 steps."
                )
        finally:
            proc.terminate()
            await proc.wait()
