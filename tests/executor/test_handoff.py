"""A call that queues its run's next call makes it at once (the hand-over), but never
holds a slot against other work: with every slot taken, runs take turns through the
queue, so a new run is not starved behind a long one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pagerunner.executor import jobs, transitions

from .conftest import harness


async def test_a_new_run_is_not_starved_by_a_long_run_holding_the_only_slot(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, "asgi", max_inflight=1) as h:
        long_run = await h.run_of(await h.send("test/chain", {"steps": 40}))
        while not h.ledger.for_run(long_run):
            await asyncio.sleep(0.01)
        short = await h.finished(await h.send("test/sequential", {"n": 1}))
        assert short["status"] == "Completed"
        status = (await h.api.get(f"/v1/runs/{long_run}")).json()["data"]["status"]
        assert status == "Running", "the short run had to wait for the long one"
        done = await h.executor.wait_for_run(long_run, timeout_s=30)
        assert done["status"] == "Completed"


async def test_consecutive_calls_of_a_run_record_every_step_once(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi") as h:
        run_id = await h.run_of(await h.send("test/chain", {"steps": 12}))
        run = await h.executor.wait_for_run(run_id, timeout_s=15)
        assert run["status"] == "Completed"
        assert run["output"] == sum(range(12))
        assert [e["step"] for e in h.ledger.for_run(run_id)] == [f"s{i}" for i in range(12)]


async def test_a_sleeps_wake_up_makes_the_next_call_without_the_queue_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polled: list[tuple[str, str | None]] = []  # (kind, run) of each job a poll claimed
    poll = transitions.claim_due

    def claim_due(*args: Any) -> Any:
        due, next_at = poll(*args)
        polled.extend((job.kind, job.run_id) for job, _ in due)
        return due, next_at

    monkeypatch.setattr(transitions, "claim_due", claim_due)
    async with harness(tmp_path, "asgi") as h:
        run_id = await h.run_of(await h.send("test/sleep", {"s": 0.3}))
        run = await h.executor.wait_for_run(run_id, timeout_s=15)
        assert run["status"] == "Completed"
        assert run["output"] >= 0.3
        assert [e["step"] for e in h.ledger.for_run(run_id)] == ["before", "after"]
    # The first call came through the poll, and the wake-up; the call after the wake-up
    # (the step `after`) was handed on by the wake-up's transaction.
    assert [kind for kind, run in polled if run == run_id] == [jobs.CALL, jobs.RESUME]
