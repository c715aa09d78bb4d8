"""What Inngest's server does at the edges, against real SDK functions (issue 11):
`x-inngest-no-retry` on every status, and the exact payloads of the lifecycle events,
of `function.invoked` and of invoke results (inngest/inngest `pkg/execution/executor`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .compat_app import build_compat_app
from .conftest import Harness, harness

EVENT_KEYS = {"function_id", "run_id", "event", "events", "_inngest"}


@pytest.fixture(params=["asgi", "http"])
async def c(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, request.param, build=build_compat_app) as value:
        yield value


async def lifecycle(h: Harness, name: str, run_id: str) -> dict[str, Any]:
    """The `name` event the executor emitted for `run_id` (its `data`, and its `id`)."""
    for _ in range(100):
        response = await h.api.get("/v1/events", params={"name": name, "limit": 500})
        found = [e for e in response.json()["data"] if e["data"].get("run_id") == run_id]
        if found:
            (event,) = found
            return {"id": event["id"], "data": event["data"]}
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {name} for run {run_id}")


async def trigger(h: Harness, event_id: str) -> dict[str, Any]:
    response = await h.api.get("/v1/events", params={"limit": 500})
    (event,) = [e for e in response.json()["data"] if e["internal_id"] == event_id]
    return {k: event[k] for k in ("name", "data", "id", "ts")} | {"user": {}}


async def test_a_206_with_no_retry_fails_the_step_at_once(c: Harness) -> None:
    """A step.run nested in a step.run: the SDK answers 206 [StepError] with no-retry;
    the step fails at the first attempt (retries=3 is not used) and so does the run."""
    run = await c.finished(await c.send("compat/nested"))
    assert run["status"] == "Failed"
    assert [e["attempt"] for e in c.ledger.for_run(run["id"])] == [0]
    (step,) = await c.steps(run["id"])
    assert step["status"] == "failed" and len(step["attempts"]) == 1
    assert run["error"]["message"] == "Nested steps are not supported."


async def test_function_failed_carries_inngest_error_and_the_apps_body(c: Harness) -> None:
    event_id = await c.send("compat/boom", {"x": 1})
    run = await c.finished(event_id)
    body = run["error"]  # the app's 500 body, as sent: Python's code, message, name, stack
    assert set(body) == {"code", "message", "name", "stack"}
    assert (body["name"], body["message"]) == ("ValueError", "boom")
    assert 'raise ValueError("boom")' in body["stack"]
    failed = await lifecycle(c, "inngest/function.failed", run["id"])
    assert failed["id"] == run["id"]
    data = failed["data"]
    assert set(data) == EVENT_KEYS | {"error", "result"}
    assert data["error"] == {
        "error": "invalid status code: 500",
        "name": "ValueError",
        "message": "boom",
        "stack": body["stack"],
    }
    assert data["result"] == body
    assert data["function_id"] == "compat-boom" and data["_inngest"] == {"status": "Failed"}
    assert data["event"] == await trigger(c, event_id) and data["events"] == [data["event"]]
    finished = await lifecycle(c, "inngest/function.finished", run["id"])
    assert finished["data"] == data and finished["id"] != run["id"]


async def test_non_retriable_failure_says_so(c: Harness) -> None:
    run = await c.finished(await c.send("compat/refuses"))
    assert len(c.ledger.for_run(run["id"])) == 1
    body = run["error"]
    assert set(body) == {"code", "message", "name", "stack"}
    assert (body["code"], body["name"]) == ("non_retriable_error", "NonRetriableError")
    failed = (await lifecycle(c, "inngest/function.failed", run["id"]))["data"]
    assert failed["error"] == {
        "error": "NonRetriableError",
        "name": "NonRetriableError",
        "message": "not today",
        "stack": body["stack"],
    }
    # The SDK's on_failure handler receives exactly that event.
    for _ in range(100):
        handled = [e for e in c.ledger.entries if e["step"] == "on_failure"]
        if handled:
            break
        await asyncio.sleep(0.05)
    (handled_entry,) = handled
    assert handled_entry["event"] == failed


async def test_a_run_error_keeps_stack_null(c: Harness) -> None:
    """An invoke that timed out, not caught: the SDK's 500 body says `"stack": null`."""
    run = await c.finished(await c.send("compat/impatient"), timeout_s=20)
    assert run["error"] == {
        "code": "step_errored",
        "message": "Timed out waiting for invoked function to complete",
        "name": "InngestInvokeTimeoutError",
        "stack": None,
    }
    failed = (await lifecycle(c, "inngest/function.failed", run["id"]))["data"]
    assert failed["error"] == {
        "error": "NonRetriableError",
        "name": "InngestInvokeTimeoutError",
        "message": "Timed out waiting for invoked function to complete",
    }
    (step,) = await c.steps(run["id"])
    assert step["error"] == {
        "error": "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete",
        "name": "InngestInvokeTimeoutError",
        "message": "Timed out waiting for invoked function to complete",
    }


async def test_function_finished_of_a_completed_run(c: Harness) -> None:
    event_id = await c.send("compat/ok", {"x": 21})
    run = await c.finished(event_id)
    finished = await lifecycle(c, "inngest/function.finished", run["id"])
    assert finished["data"] == {
        "function_id": "compat-ok",
        "run_id": run["id"],
        "event": await trigger(c, event_id),
        "events": [await trigger(c, event_id)],
        "result": {"doubled": 42},
        "_inngest": {"status": "Completed"},
    }


async def test_function_cancelled_carries_neither_error_nor_result(c: Harness) -> None:
    event_id = await c.send("compat/napper")
    run_id = await c.run_of(event_id)
    for _ in range(100):  # asleep: the sleep step is recorded
        if await c.steps(run_id):
            break
        await asyncio.sleep(0.05)
    assert (await c.api.delete(f"/v1/runs/{run_id}")).status_code == 200
    cancelled = await lifecycle(c, "inngest/function.cancelled", run_id)
    assert cancelled["id"] == run_id
    assert set(cancelled["data"]) == EVENT_KEYS
    assert cancelled["data"]["_inngest"] == {"status": "Cancelled"}
    finished = await lifecycle(c, "inngest/function.finished", run_id)
    assert finished["data"] == cancelled["data"]


async def test_function_invoked_and_the_childs_result(c: Harness) -> None:
    run = await c.finished(await c.send("compat/invoker", {"target": "ok"}))
    assert run["status"] == "Completed" and run["output"] == {"doubled": 42}
    (step,) = await c.steps(run["id"])
    response = await c.api.get("/v1/events", params={"name": "inngest/function.invoked"})
    (invoked,) = [
        e
        for e in response.json()["data"]
        if e["data"]["_inngest"]["correlation_id"] == f"{run['id']}.{step['id']}"
    ]
    meta = invoked["data"]["_inngest"]
    assert invoked["data"] == {"x": 21, "_inngest": meta}
    assert set(meta) == {
        "source_app_id",
        "source_fn_id",
        "source_fn_v",
        "fn_id",
        "correlation_id",
        "expire",
        "gid",
        "name",
    }
    assert (meta["fn_id"], meta["source_fn_id"], meta["name"]) == (
        "compat-ok",
        "compat-invoker",
        "call",
    )
    assert isinstance(meta["expire"], int) and isinstance(meta["source_fn_v"], int)
    child_runs = (await c.api.get(f"/v1/events/{invoked['internal_id']}/runs")).json()["data"]
    finished = await lifecycle(c, "inngest/function.finished", child_runs[0]["run_id"])
    assert finished["data"]["correlation_id"] == meta["correlation_id"]


async def test_a_failed_child_gives_the_parent_inngests_error(c: Harness) -> None:
    run = await c.finished(await c.send("compat/invoker", {"target": "boom"}))
    assert run["output"] == {"caught": "ValueError", "message": "boom"}
    (step,) = await c.steps(run["id"])
    assert step["error"]["error"] == "invalid status code: 500"  # the memo is data.error


async def test_a_cancelled_child_gives_the_parent_its_finished_event(c: Harness) -> None:
    parent_event = await c.send("compat/invoker", {"target": "napper"})
    parent = await c.run_of(parent_event)
    for _ in range(200):
        response = await c.api.get("/v1/runs", params={"function_id": "compat-napper"})
        children = response.json()["data"]
        if children:
            break
        await asyncio.sleep(0.05)
    await c.api.delete(f"/v1/runs/{children[0]['run_id']}")
    run = await c.executor.wait_for_run(parent, timeout_s=15)
    # Inngest resumes the parent with the whole event when it has neither result nor error.
    assert run["output"]["name"] == "inngest/function.finished"
    assert run["output"]["data"]["_inngest"] == {"status": "Cancelled"}
