"""Each SDK behaviour, end to end, over the in-process and the HTTP transport."""

from __future__ import annotations

import asyncio

from .conftest import Harness


async def test_sequential_steps_complete_with_output(h: Harness) -> None:
    event_id = await h.send("test/sequential", {"n": 41})
    run = await h.finished(event_id)
    assert run["status"] == "Completed"
    assert run["output"] == {"a": 41, "b": 42}
    steps = [e["step"] for e in h.ledger.for_run(run["id"])]
    assert steps == ["first", "second"]  # each step body ran exactly once


async def test_step_retried_until_success_sees_attempt_numbers(h: Harness) -> None:
    run = await h.finished(await h.send("test/flaky", {"fail_times": 2}))
    assert run["status"] == "Completed"
    assert run["output"] == 2
    assert [e["attempt"] for e in h.ledger.for_run(run["id"])] == [0, 1, 2]
    (step,) = await h.steps(run["id"])
    assert step["name"] == "flaky" and step["status"] == "completed" and step["output"] == 2
    assert [a["status"] for a in step["attempts"]] == ["failed", "failed", "completed"]
    assert "transient failure on attempt 0" in step["attempts"][0]["error"]["message"]


async def test_retries_exhausted_fail_the_run_with_the_last_error(h: Harness) -> None:
    run = await h.finished(await h.send("test/flaky", {"fail_times": 10}))
    assert run["status"] == "Failed"
    assert len(h.ledger.for_run(run["id"])) == 4  # retries=3 -> 4 attempts
    assert "transient failure on attempt 3" in run["error"]["message"]


async def test_non_retriable_error_fails_at_once(h: Harness) -> None:
    run = await h.finished(await h.send("test/non-retriable"))
    assert run["status"] == "Failed"
    assert len(h.ledger.for_run(run["id"])) == 1
    assert "the key is invalid" in run["error"]["message"]


async def test_retry_after_is_honoured(h: Harness) -> None:
    run = await h.finished(await h.send("test/retry-after"))
    assert run["status"] == "Completed"
    first, second = h.ledger.for_run(run["id"])
    assert second["at"] - first["at"] >= 1.5  # the app asked for 2 s; backoff alone is 0.05 s


async def test_function_catches_a_step_that_exhausted_its_retries(h: Harness) -> None:
    run = await h.finished(await h.send("test/catches"))
    assert run["status"] == "Completed"
    assert run["output"] == "caught ValueError: provider says no"
    assert len(h.ledger.for_run(run["id"])) == 2  # retries=1 -> 2 attempts, then StepFailed
    (step,) = await h.steps(run["id"])
    assert step["status"] == "failed" and step["error"]["message"] == "provider says no"


async def test_sleep_is_durable_and_waits(h: Harness) -> None:
    run = await h.finished(await h.send("test/sleep", {"s": 1}))
    assert run["status"] == "Completed"
    assert run["output"] >= 0.95
    ops = [s["op"] for s in await h.steps(run["id"])]
    assert ops == ["StepRun", "Sleep", "StepRun"]


async def test_wait_for_event_matches_only_the_right_reply(h: Harness) -> None:
    event_id = await h.send("test/wait", {"id": "A", "timeout": 10})
    run_id = await h.run_of(event_id)
    for _ in range(100):  # until the wait is registered
        if any(s["op"] == "WaitForEvent" for s in await h.steps(run_id)):
            break
    await h.send("test/wait.reply", {"id": "B", "answer": "wrong"})
    await h.send("test/wait.reply", {"id": "A", "answer": 42})
    run = await h.finished(event_id)
    assert run["status"] == "Completed"
    assert run["output"] == {"id": "A", "answer": 42}


async def test_wait_for_event_times_out_with_null(h: Harness) -> None:
    run = await h.finished(await h.send("test/wait", {"id": "Z", "timeout": 1}))
    assert run["status"] == "Completed"
    assert run["output"] is None


async def test_invoke_returns_the_child_result(h: Harness) -> None:
    run = await h.finished(await h.send("test/parent"))
    assert run["status"] == "Completed"
    assert run["output"] == {"doubled": 42}
    children = [e for e in h.ledger.entries if e["step"] == "child"]
    assert len(children) == 1 and children[0]["run_id"] != run["id"]


async def test_parallel_group_runs_each_branch_once(h: Harness) -> None:
    run = await h.finished(await h.send("test/parallel"))
    assert run["status"] == "Completed"
    assert run["output"] == [0, 10, 20, 30]
    assert sorted(e["step"] for e in h.ledger.for_run(run["id"])) == ["p0", "p1", "p2"]
    steps = await h.steps(run["id"])
    assert {s["name"] for s in steps} == {"p0", "p1", "p2", "sum"}


async def test_on_failure_handler_runs_with_the_error(h: Harness) -> None:
    run = await h.finished(await h.send("test/doomed"))
    assert run["status"] == "Failed"
    for _ in range(200):
        handled = [e for e in h.ledger.entries if e["step"] == "on_failure"]
        if handled:
            break
        await asyncio.sleep(0.02)
    assert handled and handled[0]["failed_run"] == run["id"]
    assert "doomed to fail" in handled[0]["message"]


async def test_cancel_event_cancels_only_the_matching_run(h: Harness) -> None:
    keep = await h.send("test/cancellable", {"id": 1})
    stop = await h.send("test/cancellable", {"id": 2})
    await h.run_of(keep)
    await h.run_of(stop)
    await h.send("test/cancellable.stop", {"id": 2})
    cancelled = await h.finished(stop)
    assert cancelled["status"] == "Cancelled"
    status = (await h.api.get(f"/v1/runs/{await h.run_of(keep)}")).json()["data"]["status"]
    assert status == "Running"


async def test_concurrency_key_limit_one_never_overlaps(h: Harness) -> None:
    ids = [await h.send("test/serial", {"key": k}) for k in ["a", "a", "a", "b", "b"]]
    runs = [await h.finished(i) for i in ids]
    assert all(r["status"] == "Completed" for r in runs)
    assert h.ledger.max_active == {"a": 1, "b": 1}


async def test_idempotency_key_starts_one_run(h: Harness) -> None:
    first = await h.send("test/once", {"uid": "u-1"})
    second = await h.send("test/once", {"uid": "u-1"})
    other = await h.send("test/once", {"uid": "u-2"})
    assert (await h.finished(first))["output"] == "u-1"
    assert (await h.finished(other))["output"] == "u-2"
    assert await h.executor.runs_for_event(second) == []


async def test_sync_function_with_context_sync(h: Harness) -> None:
    run = await h.finished(await h.send("test/sync"))
    assert run["status"] == "Completed" and run["output"] == 42
