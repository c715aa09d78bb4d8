"""Parallel groups resume the function as on Inngest (issue 11, item 1).

Inngest's executor (`pkg/execution/executor`: `HandleGeneratorResponse`, `SavePending`,
`shouldEnqueueDiscovery`) keeps the steps an answer of several ops planned as pending and
calls the function again when none is left, or after each result of a step that carries
`parallelMode: "race"`, or after each result when the app chose execution version 1 (the
JS SDK v3). The Python SDK answers version 2 and marks the ops of
`ctx.group.parallel(..., parallel_mode=ParallelMode.RACE)`; the real SDK runs here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pagerunner.executor.store.schema import runs, waits

from .conftest import Harness, harness
from .race_app import HOLD_S, build_app


@pytest.fixture(params=["asgi", "http"])
async def rh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, request.param, build=build_app) as value:
        yield value


def ends(h: Harness, run_id: str) -> dict[str, float]:
    return {e["step"]: e["at"] for e in h.ledger.for_run(run_id) if e.get("phase") == "end"}


def starts(h: Harness, run_id: str) -> dict[str, float]:
    return {e["step"]: e["at"] for e in h.ledger.for_run(run_id) if e.get("phase") == "start"}


def ran(h: Harness, run_id: str) -> list[str]:
    return sorted(e["step"] for e in h.ledger.for_run(run_id) if e.get("phase") == "start")


async def test_race_groups_run_each_group_on_its_own(rh: Harness) -> None:
    run = await rh.finished(await rh.send("race/groups-race"))
    assert run["status"] == "Completed", run
    assert run["output"] == [["a.1", "a.2"], ["b.1", "b.2"]]
    assert ran(rh, run["id"]) == ["a.1", "a.2", "b.1", "b.2"]  # each once
    done = ends(rh, run["id"])
    # a.2 does not wait for the slow b.1: a.1, a.2, b.1, b.2, as on Inngest.
    assert sorted(done, key=done.__getitem__) == ["a.1", "a.2", "b.1", "b.2"]
    assert done["a.2"] < done["b.1"] - HOLD_S / 3


async def test_wait_groups_resume_when_every_step_is_done(rh: Harness) -> None:
    run = await rh.finished(await rh.send("race/groups-wait"))
    assert run["status"] == "Completed", run
    assert run["output"] == [["a.1", "a.2"], ["b.1", "b.2"]]
    assert ran(rh, run["id"]) == ["a.1", "a.2", "b.1", "b.2"]
    begun, done = starts(rh, run["id"]), ends(rh, run["id"])
    # The second step of each group is planned once both first steps are done.
    assert begun["a.2"] >= done["b.1"]
    assert begun["b.2"] >= done["b.1"]


async def calls(h: Harness, run_id: str) -> list[float]:
    return [e["at"] for e in h.ledger.for_run(run_id) if e["step"] == "call"]


async def wait_rows(h: Harness, run_id: str) -> int:
    def count(conn: Any) -> int:
        query = select(waits.c.id).where(waits.c.run_id == run_id, waits.c.kind == "wait")
        return len(conn.execute(query).all())

    return await h.executor.db.read(count)


async def test_a_race_of_a_nap_and_a_long_wait_resumes_after_the_nap(rh: Harness) -> None:
    event_id = await rh.send("race/nap-or-wait-race")
    run_id = await rh.run_of(event_id)
    deadline = time.time() + 10
    while len(await calls(rh, run_id)) < 2:
        assert time.time() < deadline, "the function was not called after the nap"
        await asyncio.sleep(0.05)
    first, second = (await calls(rh, run_id))[:2]
    assert 0.9 <= second - first < 5  # after the 1 s nap, not the 20 s wait
    # The call planned the wait again: it is still the one wait.
    assert await wait_rows(rh, run_id) == 1
    await rh.send("race/never", {"won": "the wait"})
    run = dict(await rh.executor.wait_for_run(run_id, timeout_s=10))
    assert run["status"] == "Completed", run
    assert run["output"] == {"waited": {"won": "the wait"}, "after": "after"}
    assert ran(rh, run_id) == ["after"]


async def test_a_wait_group_of_a_nap_and_a_wait_resumes_when_both_are_done(rh: Harness) -> None:
    event_id = await rh.send("race/nap-or-wait-wait")
    run_id = await rh.run_of(event_id)
    await asyncio.sleep(2.5)  # the nap is over
    assert len(await calls(rh, run_id)) == 1
    await rh.send("race/never", {"won": "the wait"})
    run = dict(await rh.executor.wait_for_run(run_id, timeout_s=10))
    assert run["status"] == "Completed", run
    assert run["output"] == {"waited": {"won": "the wait"}, "after": "after"}
    assert (await calls(rh, run_id))[1] - (await calls(rh, run_id))[0] >= 2.5


async def test_the_first_call_lets_the_app_choose_the_execution_version(rh: Harness) -> None:
    run = await rh.finished(await rh.send("race/groups-wait"))
    assert run["status"] == "Completed"
    versions = [e["version"] for e in rh.ledger.entries if e["step"] == "request"]
    # -1 until the app answered ops (Python answers 2), then the app's version.
    assert versions[0] == "-1"
    assert set(versions[1:]) == {"2"}

    def stored(conn: Any) -> int:
        return int(conn.execute(select(runs.c.request_version)).scalar_one())

    assert await rh.executor.db.read(stored) == 2
