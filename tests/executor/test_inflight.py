"""The executor's limit of calls in flight follows its event loop's lag and the writer's queue."""

from __future__ import annotations

import asyncio
import time

from pagerunner.executor.inflight import InflightLimit


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
