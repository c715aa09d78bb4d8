"""`batchEvents` as Inngest runs it, with the real SDK's `inngest.Batch`: one run gets the
batch as `ctx.events`; a batch starts when full or when its timeout (from its first event)
passes; each `key` has its own batch; events failing `if` run alone at once; the batch
and its timeout survive a restart; flow control applies to a batch's run."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pagerunner.executor.config import Limits
from pagerunner.executor.errors import RegistrationError
from pagerunner.executor.functions import FunctionDef
from tests.postgres import fresh_database

from . import batch_app
from .conftest import Harness, harness

FN = f"{batch_app.APP_ID}-"


@pytest.fixture
async def bh(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, "asgi", build=batch_app.build_app) as value:
        yield value


async def send(h: Harness, name: str, data: dict[str, Any], seed: str | None = None) -> str:
    headers = {"x-inngest-event-id-seed": seed} if seed else {}
    response = await h.api.post("/e/test-key", json=[{"name": name, "data": data}], headers=headers)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["ids"]
    return ids[0]


async def runs_of(h: Harness, fn: str) -> list[dict[str, Any]]:
    """The function's runs, oldest first."""
    response = await h.api.get("/v1/runs", params={"function_id": FN + fn, "limit": 100})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def finished_runs(h: Harness, fn: str, count: int, timeout_s: float = 15.0) -> list[Any]:
    """Wait for the function to have `count` runs and for them to end; oldest first."""
    deadline = time.monotonic() + timeout_s
    while len(found := await runs_of(h, fn)) < count:
        assert time.monotonic() < deadline, f"{len(found)} runs of {fn}, expected {count}"
        await asyncio.sleep(0.05)
    assert len(found) == count, found
    return [dict(await h.executor.wait_for_run(r["run_id"], timeout_s=timeout_s)) for r in found]


def started_at(h: Harness, run_id: str) -> float:
    (entry,) = [e for e in h.ledger.for_run(run_id) if e["step"] == "start"]
    return float(entry["at"])


async def skipped(h: Harness, name: str) -> dict[str, Mapping[str, str]]:
    """The runs not started, by event id, of the events named `name`."""
    response = await h.api.get("/v1/events", params={"name": name})
    assert response.status_code == 200, response.text
    return {e["internal_id"]: e["skipped"] for e in response.json()["data"]}


async def test_a_full_batch_starts_at_once_with_its_events_in_order(bh: Harness) -> None:
    ids = [await send(bh, "batch/item", {"k": "a", "i": i}) for i in range(3)]
    last_sent = time.time()

    (run,) = await finished_runs(bh, "batched", 1)
    assert run["status"] == "Completed"
    assert run["output"] == {"items": [0, 1, 2], "first": 0, "ids": ids}  # ctx.events, ctx.event
    assert started_at(bh, run["id"]) - last_sent < 1.0  # the timeout is 2 s: it did not wait
    assert run["event_id"] == ids[0]

    detail = (await bh.api.get(f"/v1/runs/{run['id']}")).json()["data"]
    reason = {FN + "batched": f"batched ({detail['batch_id']})"}
    assert await skipped(bh, "batch/item") == dict.fromkeys(ids, reason)


async def test_a_partial_batch_starts_when_its_timeout_passes(bh: Harness) -> None:
    first_sent = time.time()
    await send(bh, "batch/item", {"k": "b", "i": 0})
    await asyncio.sleep(0.5)
    await send(bh, "batch/item", {"k": "b", "i": 1})

    (run,) = await finished_runs(bh, "batched", 1)
    assert run["output"]["items"] == [0, 1]
    waited = started_at(bh, run["id"]) - first_sent
    assert 1.9 <= waited < 3.0, waited  # 2 s from the first event, not from the last


async def test_a_batch_starts_when_its_events_reach_max_batch_bytes(tmp_path: Path) -> None:
    """Inngest's 10 MiB per batch, here 2,000 bytes: two events of ~1,100 start the batch
    (maxSize is 3, the timeout 2 s)."""
    limits = Limits(max_batch_bytes=2000)
    async with harness(tmp_path, "asgi", build=batch_app.build_app, limits=limits) as h:
        ids = [await send(h, "batch/item", {"k": "m", "i": i, "pad": "x" * 1000}) for i in range(2)]
        sent = time.time()
        (run,) = await finished_runs(h, "batched", 1)
        assert run["output"]["ids"] == ids
        assert started_at(h, run["id"]) - sent < 1.0


async def test_each_key_has_its_own_batch(bh: Harness) -> None:
    sent = time.time()
    for k, i in [("a", 0), ("b", 10), ("a", 1), ("c", 20), ("a", 2), ("b", 11)]:
        await send(bh, "batch/item", {"k": k, "i": i})

    runs = await finished_runs(bh, "batched", 3)
    assert [r["output"]["items"] for r in runs] == [[0, 1, 2], [10, 11], [20]]
    assert started_at(bh, runs[0]["id"]) - sent < 1.0  # key a: full
    assert started_at(bh, runs[1]["id"]) - sent >= 1.9  # keys b and c: at their timeout


async def test_events_not_matching_if_run_alone_at_once(bh: Harness) -> None:
    sent = time.time()
    flags: list[Any] = [True, False, True, None, True]
    for i, flag in enumerate(flags):
        await send(bh, "batch/maybe", {"i": i} if flag is None else {"i": i, "batch": flag})

    runs = await finished_runs(bh, "conditional", 3)
    assert sorted(r["output"]["items"] for r in runs) == [[0, 2, 4], [1], [3]]
    for run in runs:  # the unbatched ones did not wait; the batch of 3 was full
        assert started_at(bh, run["id"]) - sent < 1.5


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_events_sent_at_once_fill_each_batch_once(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    """Concurrent sends (concurrent transactions on PostgreSQL) open one batch per key and
    put each event in exactly one batch."""
    url = str(tmp_path / "executor.db")
    if db == "postgres":
        url = fresh_database(request.getfixturevalue("postgres_server_url"))
    async with harness(tmp_path, "asgi", build=batch_app.build_app, db_url=url) as h:
        sends = (send(h, "batch/item", {"k": "p", "i": i}) for i in range(6))
        ids = await asyncio.gather(*sends)
        runs = await finished_runs(h, "batched", 2)
        assert [len(r["output"]["ids"]) for r in runs] == [3, 3]
        assert sorted(i for r in runs for i in r["output"]["ids"]) == sorted(ids)


async def test_the_functions_page_shows_batches_waiting(bh: Harness) -> None:
    for k in ("w", "w", "v"):
        await send(bh, "batch/item", {"k": k})
    page = (await bh.api.get("/functions")).text
    setting = "up to 3 events, or 2s after the first per event.data.k"
    assert f"{setting} · waiting: 3 events in 2 batches" in page
    assert "up to 3 events, or 5s after the first, if event.data.batch == true</dd>" in page


async def test_flow_control_applies_to_a_batch_run(bh: Harness) -> None:
    """Concurrency 1: the second batch's run waits for the first one's call to end."""
    for i in range(4):
        await send(bh, "batch/serial", {"i": i, "hold": 0.6})

    first, second = await finished_runs(bh, "serial", 2)
    assert [first["output"]["items"], second["output"]["items"]] == [[0, 1], [2, 3]]
    ends = [e["at"] for e in bh.ledger.for_run(first["id"]) if e["step"] == "end"]
    assert started_at(bh, second["id"]) >= min(ends)


async def test_function_finished_reports_the_whole_batch(bh: Harness) -> None:
    ids = [await send(bh, "batch/item", {"k": "f", "i": i}) for i in range(3)]
    (run,) = await finished_runs(bh, "batched", 1)

    async def reports() -> list[dict[str, Any]]:
        response = await bh.api.get("/v1/events", params={"name": "inngest/function.finished"})
        data = [e["data"] for e in response.json()["data"]]
        return [d for d in data if d["function_id"] == FN + "batched"]

    deadline = time.monotonic() + 5
    while not (found := await reports()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    (finished,) = found  # one, for the first event: no other event has a correlation id
    assert finished["run_id"] == run["id"]
    assert finished["event"]["id"] == ids[0]
    assert [e["id"] for e in finished["events"]] == ids
    assert finished["result"] == run["output"]


async def test_a_restart_loses_no_batched_event_and_doubles_none(tmp_path: Path) -> None:
    db = tmp_path / "executor.db"
    async with harness(tmp_path, "asgi", build=batch_app.build_app) as before:
        r0 = await send(before, "batch/durable", {"k": "r", "i": 0})
        r1 = await send(
            before, "batch/durable", {"k": "r", "i": 1}, seed="1700000000000,AAAAAAAAAAAAAA=="
        )
        t0 = await send(before, "batch/durable", {"k": "t", "i": 10})
        # The SDK sends again after a lost answer: same seed, same id, not batched twice.
        again = await send(
            before, "batch/durable", {"k": "r", "i": 1}, seed="1700000000000,AAAAAAAAAAAAAA=="
        )
        assert again == r1
        assert await runs_of(before, "durable") == []
    stopped_at = time.time()
    assert _open_batches(db) == {"r": 2, "t": 1}

    async with harness(tmp_path, "asgi", build=batch_app.build_app) as after:
        r2 = await send(after, "batch/durable", {"k": "r", "i": 2})
        runs = await finished_runs(after, "durable", 2)
        by_key = {r["output"]["items"][0]: r for r in runs}
        assert by_key[0]["output"]["ids"] == [r0, r1, r2]  # full: the two from before, one after
        assert by_key[10]["output"]["ids"] == [t0]  # its timeout, kept across the restart
        assert started_at(after, by_key[10]["id"]) > stopped_at
        await asyncio.sleep(0.5)
        assert len(await runs_of(after, "durable")) == 2
    assert _open_batches(db) == {}


def _open_batches(db: Path) -> dict[str, int]:
    """Events waiting per key (the key's value, read back from the first event)."""
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.payload FROM exec_batch_events b JOIN exec_events e"
                    " ON e.id = b.event_id ORDER BY b.batch_id, b.position"
                )
            ).scalars()
            return dict(Counter(json.loads(payload)["data"]["k"] for payload in rows))
    finally:
        engine.dispose()


# -- registration ----------------------------------------------------------------------------


def _config(batch: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "id": "app-fn",
        "triggers": [{"event": "x/y"}],
        "steps": {"step": {"runtime": {"url": "http://app/api/inngest"}}},
        **extra,
    }
    if batch is not None:
        config["batchEvents"] = batch
    return config


def test_registration_reads_batch_events() -> None:
    batch = {"maxSize": 10, "timeout": "5s", "key": "event.data.k", "if": "event.data.n > 1"}
    fn = FunctionDef.from_config("app", _config(batch))
    assert fn.batch is not None
    assert (fn.batch.max_size, fn.batch.timeout_s) == (10, 5.0)
    assert fn.batch.key is not None and fn.batch.key.source == "event.data.k"
    assert fn.batch.condition is not None and fn.batch.condition.source == "event.data.n > 1"


@pytest.mark.parametrize(
    ("batch", "extra", "message"),
    [
        ({"maxSize": 1, "timeout": "5s"}, {}, "batch size cannot be smaller than 2: 1"),
        ({"maxSize": 5}, {}, "invalid timeout string: "),
        ({"maxSize": 5, "timeout": "soon"}, {}, "invalid timeout string: soon"),
        ({"maxSize": 5, "timeout": "500ms"}, {}, "batch timeout should be more than 1s"),
        (
            {"maxSize": 5, "timeout": "5s"},
            {"cancel": [{"event": "x/cancel"}]},
            "Batching and cancellation are mutually exclusive",
        ),
        (
            {"maxSize": 5, "timeout": "5s"},
            {"debounce": {"period": "5s"}},
            "Batching and debouncing are mutually exclusive",
        ),
        (
            {"maxSize": 5, "timeout": "5s"},
            {"singleton": {"mode": "skip"}},
            "Batching and singletons are mutually exclusive",
        ),
        (
            {"maxSize": 5, "timeout": "5s"},
            {"priority": {"run": "event.data.p"}},
            "A function cannot specify Priority.Run and Batch together",
        ),
    ],
)
def test_registration_refuses_what_inngest_refuses(
    batch: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistrationError) as caught:
        FunctionDef.from_config("app", _config(batch, **extra))
    assert str(caught.value) == f"function 'app-fn': {message}"
