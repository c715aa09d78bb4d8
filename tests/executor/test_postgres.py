"""The executor on PostgreSQL: the same behaviours as on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.postgres import fresh_database

from .conftest import Harness, harness

pytestmark = pytest.mark.postgres


@pytest.fixture
async def h(tmp_path: Path, postgres_server_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, "asgi", db_url=fresh_database(postgres_server_url)) as value:
        yield value


async def test_steps_retries_and_parallel_on_postgres(h: Harness) -> None:
    seq = await h.finished(await h.send("test/sequential", {"n": 3}))
    flaky = await h.finished(await h.send("test/flaky", {"fail_times": 2}))
    fan = await h.finished(await h.send("test/parallel"))
    assert seq["output"] == {"a": 3, "b": 4}
    assert flaky["output"] == 2
    assert fan["output"] == [0, 10, 20, 30]


async def test_many_concurrent_runs_on_postgres(h: Harness) -> None:
    ids = [await h.send("test/chain", {"steps": 5}) for _ in range(20)]
    runs = [await h.finished(i, timeout_s=60) for i in ids]
    assert [r["output"] for r in runs] == [10] * 20
    per_step: dict[tuple[str, str], int] = {}
    for e in h.ledger.entries:
        per_step[(e["run_id"], e["step"])] = per_step.get((e["run_id"], e["step"]), 0) + 1
    assert len(per_step) == 100 and set(per_step.values()) == {1}


async def test_wait_for_event_and_invoke_on_postgres(h: Harness) -> None:
    parent = await h.finished(await h.send("test/parent"))
    timed_out = await h.finished(await h.send("test/wait", {"id": "q", "timeout": 1}))
    assert parent["output"] == {"doubled": 42}
    assert timed_out["status"] == "Completed" and timed_out["output"] is None
