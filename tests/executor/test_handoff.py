"""A call that queues its run's next call makes it at once (the hand-over), but never
holds a slot against other work: with every slot taken, runs take turns through the
queue, so a new run is not starved behind a long one."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest
from sqlalchemy import Connection, select

from pagerunner.executor import jobs, outcomes, transitions
from pagerunner.executor.store import schema

from .conftest import harness
from .sdk_app import Ledger, sdk_client


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


async def test_a_sleep_waited_for_alone_ends_with_the_call_it_resumes(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polled: list[jobs.Job] = []  # each job a poll claimed
    poll = transitions.claim_due

    def claim_due(*args: Any) -> Any:
        due, next_at = poll(*args)
        polled.extend(job for job, _ in due)
        return due, next_at

    monkeypatch.setattr(transitions, "claim_due", claim_due)
    async with harness(tmp_path, "asgi", db_url=db_url) as h:
        run_id = await h.run_of(await h.send("test/sleep", {"s": 0.3}))
        run = await h.executor.wait_for_run(run_id, timeout_s=15)
        assert run["status"] == "Completed"
        assert run["output"] >= 0.3
        assert [e["step"] for e in h.ledger.for_run(run_id)] == ["before", "after"]
        steps = {s["name"]: s for s in await h.executor.db.read(_steps, run_id)}
    # The first call came through the poll, and so did the call the sleep's end resumes:
    # no wake-up job of its own (and no transaction for it); that call recorded the
    # sleep's memo, as of the sleep's end, before the step after it.
    mine = [job for job in polled if job.run_id == run_id]
    assert [job.kind for job in mine] == [jobs.CALL, jobs.CALL]
    woke = mine[1]
    nap, after = steps["nap"], steps["after"]
    assert woke.data == {outcomes.WOKE: nap["step_id"]}
    assert nap["status"] == "completed" and nap["ended_at"] == woke.available_at
    assert nap["position"] < after["position"]


def _steps(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(schema.steps).where(schema.steps.c.run_id == run_id))
    return [dict(r._mapping) for r in rows]


def _slow_and_napper(
    *, api_origin: str, signing_key: str | None = None
) -> tuple[fastapi.FastAPI, Ledger]:
    """`test/slow`: one step that holds its call 0.6 s; `test/nap`: a 0.2 s sleep, a step."""
    client = sdk_client(app_id="handoffapp", api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()

    @client.create_function(fn_id="slow", trigger=inngest.TriggerEvent(event="test/slow"))
    async def slow(ctx: inngest.Context) -> None:
        async def hold() -> None:
            await asyncio.sleep(0.6)
            ledger.record(ctx.run_id, "held", ctx.attempt)

        await ctx.step.run("hold", hold)

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="test/nap"))
    async def nap(ctx: inngest.Context) -> None:
        await ctx.step.sleep("nap", datetime.timedelta(seconds=0.2))
        await ctx.step.run("after", lambda: ledger.record(ctx.run_id, "after", ctx.attempt))

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [slow, nap])
    return app, ledger


async def test_the_call_a_sleeps_end_makes_waits_for_a_free_slot(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi", build=_slow_and_napper, max_inflight=1) as h:
        calls, most = 0, 0
        request = h.executor.transport.request

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls, most
            calls += 1
            most = max(most, calls)
            try:
                return await request(*args, **kwargs)
            finally:
                calls -= 1

        h.executor.transport.request = counted  # type: ignore[method-assign]
        napper = await h.run_of(await h.send("test/nap"))
        while not await h.steps(napper):  # asleep
            await asyncio.sleep(0.01)
        slow = await h.run_of(await h.send("test/slow"))  # holds the only slot at the wake-up
        for run_id in (napper, slow):
            assert (await h.executor.wait_for_run(run_id, timeout_s=15))["status"] == "Completed"
        (after,), (held,) = h.ledger.for_run(napper), h.ledger.for_run(slow)
    assert most == 1, "the sleep's call was made beside the call holding the only slot"
    assert after["at"] > held["at"]  # woken at 0.2 s, it waited for the slot
