"""The executor's limit of calls in flight follows its event loop's lag and the writer's queue;
a call into an app in its process that waits in place does not count."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import fastapi
import inngest
import inngest.fast_api
import pytest

from pagerunner.executor.inflight import InflightLimit
from pagerunner.inplace import lending, waiting_in_place

from .conftest import harness
from .sdk_app import Ledger, sdk_client


def test_the_limit_shrinks_to_its_floor_while_overloaded_and_grows_back_by_one() -> None:
    limit = InflightLimit(32, floor=8, target_lag_s=0.025, max_writes_waiting=4)
    assert limit.value == 32
    limit.observe(0.1)  # the loop runs 100 ms late: CPU-bound
    assert limit.value == 24
    for _ in range(10):
        limit.observe(0.0, writes_waiting=10)  # the writer is 10 transactions behind
    assert limit.value == 8  # never below the floor
    limit.observe(0.01, writes_waiting=4)  # both at or under their targets
    assert limit.value == 9
    for _ in range(100):
        limit.observe(0.0)
    assert limit.value == 32  # never above the ceiling


def test_a_floor_above_the_ceiling_is_the_ceiling() -> None:
    limit = InflightLimit(2, floor=8)
    limit.observe(1.0)
    assert limit.value == 2


async def test_following_a_blocked_loop_lowers_the_limit() -> None:
    limit = InflightLimit(32, floor=4)
    follower = asyncio.create_task(limit.follow(lambda: 0))
    try:
        await asyncio.sleep(0.12)
        assert limit.value == 32  # an idle loop is on time
        for _ in range(3):
            time.sleep(0.1)  # the loop is held: its timers fire late
            await asyncio.sleep(0.06)
        assert limit.value < 32
    finally:
        follower.cancel()


def _waiting_app(
    gate: asyncio.Event, *, api_origin: str, signing_key: str | None = None
) -> tuple[fastapi.FastAPI, Ledger]:
    """An app whose one step waits in place for `gate` (`waiting_in_place`)."""
    client = sdk_client(app_id="waiters", api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()

    async def wait_at_the_gate(run_id: str) -> str:
        ledger.record(run_id, "waiting", 0)
        async with waiting_in_place():
            await gate.wait()
        ledger.active["after"] = ledger.active.get("after", 0) + 1  # counted again
        ledger.max_active["after"] = max(ledger.max_active.get("after", 0), ledger.active["after"])
        await asyncio.sleep(0.05)
        ledger.active["after"] -= 1
        return "through"

    @client.create_function(fn_id="waiter", trigger=inngest.TriggerEvent(event="test/gate"))
    async def waiter(ctx: inngest.Context) -> str:
        return await ctx.step.run("gate", wait_at_the_gate, ctx.run_id)

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [waiter])
    return app, ledger


@pytest.mark.parametrize("transport", ["asgi", "http"])
async def test_a_call_waiting_in_place_lends_its_place_to_the_next_only_in_process(
    tmp_path: Path, transport: str
) -> None:
    """Five runs, two places: in process every run reaches its wait, and when the waits
    end the calls go on two at a time; over HTTP the executor cannot see the app wait,
    and two calls hold both places."""
    gate = asyncio.Event()
    build = functools.partial(_waiting_app, gate)
    async with harness(tmp_path, transport, build=build, max_inflight=2) as h:
        run_ids = [await h.run_of(await h.send("test/gate")) for _ in range(5)]
        expected = 5 if transport == "asgi" else 2
        for _ in range(300):
            if len(h.ledger.entries) >= expected:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # time for a third call, were the limit not kept
        assert len(h.ledger.entries) == expected
        assert h.executor.inflight.lent == (5 if transport == "asgi" else 0)
        gate.set()
        for run_id in run_ids:
            run = await h.executor.wait_for_run(run_id, timeout_s=15)
            assert run["status"] == "Completed" and run["output"] == "through"
        assert h.executor.inflight.lent == 0
    # The waits ended together; the calls took their places back in turn, two at a time.
    assert h.ledger.max_active["after"] == 2


async def test_a_wait_in_place_that_is_cancelled_ends_without_queueing_for_a_place() -> None:
    # The only place is taken: a call whose wait ended would queue for it.
    limit = InflightLimit(1, floor=1, counted=lambda: 1)

    async def wait_forever() -> None:
        async with waiting_in_place():
            await asyncio.Event().wait()

    with lending(limit):  # the task copies the context: its call lends to this limit
        task = asyncio.create_task(wait_forever())
    await asyncio.sleep(0.01)
    assert limit.lent == 1
    task.cancel()
    await asyncio.sleep(0.01)
    assert task.done() and task.cancelled()  # it did not wait for a place to end
    assert limit.lent == 0
    limit.place_freed()  # nobody waits for a place
    assert limit.lent == 0
