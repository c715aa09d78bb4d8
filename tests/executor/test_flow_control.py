"""Flow control enforced by the executor, driven by the real SDK over the in-process transport.

Protocol reference §4: throttle, rateLimit, debounce, singleton, timeouts, event-id
dedupe and trigger matching (wildcards and `expression`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from . import flow_app
from .conftest import Harness, harness

FN = f"{flow_app.APP_ID}-"  # the SDK's fully qualified function id prefix


@pytest.fixture
async def fh(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, "asgi", build=flow_app.build_app) as value:
        yield value


async def send_batch(h: Harness, events: list[dict[str, Any]]) -> list[str]:
    """Send several events in one request (they arrive at the same instant)."""
    response = await h.api.post("/e/test-key", json=events)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["ids"]
    assert len(ids) == len(events)
    return ids


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def events_by_id(h: Harness, name: str) -> dict[str, dict[str, Any]]:
    response = await h.api.get("/v1/events", params={"name": name})
    assert response.status_code == 200, response.text
    return {e["internal_id"]: e for e in response.json()["data"]}


def starts(h: Harness, run_id: str, step: str = "start") -> list[float]:
    return [e["at"] for e in h.ledger.for_run(run_id) if e["step"] == step]


# -- throttle -------------------------------------------------------------------------------


async def test_throttle_queues_run_starts_per_key_and_drops_none(fh: Harness) -> None:
    limit, burst, period = 2, 1, 1.0
    sent_at = time.time()
    ids = await send_batch(
        fh,
        [{"name": "flow/throttle", "data": {"k": "a", "i": i}} for i in range(6)]
        + [{"name": "flow/throttle", "data": {"k": "b", "i": 99}}],
    )
    runs = [await fh.finished(i) for i in ids]
    assert [r["status"] for r in runs] == ["Completed"] * 7  # queued, never dropped
    assert sorted(r["output"]["i"] for r in runs[:6]) == list(range(6))

    a_starts = sorted(t for r in runs[:6] for t in starts(fh, r["id"]))
    assert len(a_starts) == 6  # every run started exactly once
    window = period * 0.9  # any window shorter than the period (margin for loop jitter)
    for i, first in enumerate(a_starts):
        in_window = [t for t in a_starts[i:] if t - first < window]
        assert len(in_window) <= limit + burst, (i, [round(t - sent_at, 2) for t in a_starts])
    # 6 starts at 2/s after a burst of 3 need about 1.5 s: the starts were really spread.
    assert a_starts[-1] - a_starts[0] >= 1.3
    # Key "b" has its own bucket: it starts at once, not behind key "a"'s queue.
    (b_start,) = starts(fh, runs[6]["id"])
    assert b_start - sent_at < 0.5
    assert b_start < a_starts[limit + burst]


# -- rateLimit ------------------------------------------------------------------------------


async def test_rate_limit_skips_excess_events_and_reports_why(fh: Harness) -> None:
    ids = await send_batch(
        fh,
        [{"name": "flow/rate", "data": {"k": "a", "i": i}} for i in range(5)]
        + [{"name": "flow/rate", "data": {"k": "b", "i": 99}}],
    )
    with_runs = [i for i in ids if await fh.executor.runs_for_event(i)]
    assert with_runs == [ids[0], ids[1], ids[5]]  # first two of key "a", and key "b"
    for event_id in with_runs:
        assert (await fh.finished(event_id))["status"] == "Completed"
    for event_id in ids[2:5]:
        assert await fh.executor.runs_for_event(event_id) == []

    listed = await events_by_id(fh, "flow/rate")
    for event_id in ids[2:5]:
        assert listed[event_id]["run_count"] == 0
        assert listed[event_id]["skipped"] == {f"{FN}rate-limited": "rate limited"}
    for event_id in with_runs:
        assert listed[event_id]["run_count"] == 1
        assert not listed[event_id]["skipped"]
    assert len(fh.ledger.entries) == 3  # the skipped events never reached the app


async def test_rate_limit_state_survives_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi", build=flow_app.build_app) as h:
        first = await send_batch(h, [{"name": "flow/rate", "data": {"k": "r"}}] * 2)
        for event_id in first:
            assert (await h.finished(event_id))["status"] == "Completed"
    async with harness(tmp_path, "asgi", build=flow_app.build_app) as h:
        (third,) = await send_batch(h, [{"name": "flow/rate", "data": {"k": "r"}}])
        assert await h.executor.runs_for_event(third) == []
        assert (await events_by_id(h, "flow/rate"))[third]["skipped"]


# -- debounce -------------------------------------------------------------------------------


async def test_debounce_runs_once_with_the_last_event(fh: Harness) -> None:
    ids = []
    for seq in range(3):
        if seq:
            await asyncio.sleep(0.3)  # events spaced inside the 1 s debounce period
        ids.append(await fh.send("flow/debounce", {"k": "x", "seq": seq}))
        last_sent = time.time()
    other = await fh.send("flow/debounce", {"k": "y", "seq": 7})

    run = await fh.finished(ids[-1])
    assert run["status"] == "Completed"
    assert run["output"] == {"data": {"k": "x", "seq": 2}, "events": 1}
    (started,) = starts(fh, run["id"])
    assert started - last_sent >= 0.9  # waited a full quiet period after the last event
    assert (await fh.finished(other))["output"]["data"] == {"k": "y", "seq": 7}

    for event_id in ids[:2]:
        assert await fh.executor.runs_for_event(event_id) == []
    runs = {e["run_id"] for e in fh.ledger.entries}
    assert len(runs) == 2  # one for key "x", one for key "y"


# -- singleton ------------------------------------------------------------------------------


async def test_singleton_skip_starts_no_second_run_while_one_is_active(fh: Harness) -> None:
    name = "flow/singleton.skip"
    first = await fh.send(name, {"k": "a", "s": 2})
    first_run = await fh.run_of(first)
    await until(lambda: bool(starts(fh, first_run, "before")))

    second = await fh.send(name, {"k": "a", "s": 1})
    other_key = await fh.send(name, {"k": "b", "s": 1})
    assert await fh.executor.runs_for_event(second) == []
    assert (await events_by_id(fh, name))[second]["skipped"] == {
        f"{FN}singleton-skip": "singleton: a run is already active"
    }
    assert (await fh.finished(other_key))["status"] == "Completed"

    assert (await fh.finished(first))["status"] == "Completed"
    after = await fh.send(name, {"k": "a", "s": 1})  # the key is free again
    assert (await fh.finished(after))["status"] == "Completed"
    assert await fh.executor.runs_for_event(second) == []


@pytest.mark.parametrize("hold", [0, 0.5], ids=["sleeping", "call-in-flight"])
async def test_singleton_cancel_replaces_the_active_run(fh: Harness, hold: float) -> None:
    name = "flow/singleton.cancel"
    # hold > 0: the first run is cancelled while its first call is still in flight.
    first = await fh.send(name, {"k": "a", "s": 30, "hold": hold})
    first_run = await fh.run_of(first)
    await until(lambda: bool(starts(fh, first_run, "before")))

    second = await fh.send(name, {"k": "a", "s": 1})
    cancelled = await fh.finished(first, timeout_s=5)
    assert cancelled["status"] == "Cancelled"
    assert "singleton" in cancelled["error"]["message"]
    replacement = await fh.finished(second)
    assert replacement["status"] == "Completed"
    assert replacement["output"] == {"k": "a", "s": 1}
    assert not starts(fh, first_run, "after")


# -- timeouts -------------------------------------------------------------------------------


async def test_finish_timeout_cancels_a_run_that_runs_too_long(fh: Harness) -> None:
    event_id = await fh.send("flow/finish-timeout", {"s": 5})
    run = await fh.finished(event_id, timeout_s=5)
    assert run["status"] == "Cancelled"
    assert "finish timeout" in run["error"]["message"]
    assert 0.9 <= run["ended_at"] - run["started_at"] < 3.0
    assert [e["step"] for e in fh.ledger.for_run(run["id"])] == ["before"]  # never woke up


async def test_start_timeout_spares_a_started_run_and_cancels_a_blocked_one(
    fh: Harness,
) -> None:
    # The first run's first call holds the function's only concurrency slot for 2 s:
    # it started in time, so it must complete even though it outlasts the start timeout.
    busy = await fh.send("flow/start-timeout", {"work": 2})
    busy_run = await fh.run_of(busy)
    await until(lambda: bool(starts(fh, busy_run, "work")))
    # The second run cannot start until the slot frees up, after its 1 s start timeout.
    blocked = await fh.send("flow/start-timeout", {"work": 0})

    blocked_run = await fh.finished(blocked, timeout_s=5)
    assert blocked_run["status"] == "Cancelled"
    assert "start timeout" in blocked_run["error"]["message"]
    assert not fh.ledger.for_run(blocked_run["id"])  # its first call never happened
    finished = await fh.finished(busy, timeout_s=5)
    assert finished["status"] == "Completed", finished["error"]
    assert finished["output"] == 2


# -- event id dedupe ------------------------------------------------------------------------


async def test_user_event_id_dedupes_runs(fh: Harness) -> None:
    first = await send_batch(fh, [{"name": "flow/dedupe", "data": {"n": 1}, "id": "dup-1"}])
    again = await send_batch(fh, [{"name": "flow/dedupe", "data": {"n": 2}, "id": "dup-1"}])
    other = await send_batch(fh, [{"name": "flow/dedupe", "data": {"n": 3}, "id": "dup-2"}])
    assert first != again  # the event is stored twice, with its own internal id
    assert (await fh.finished(first[0]))["output"] == {"n": 1}
    assert (await fh.finished(other[0]))["output"] == {"n": 3}
    assert await fh.executor.runs_for_event(again[0]) == []
    skipped = (await events_by_id(fh, "flow/dedupe"))[again[0]]["skipped"]
    assert "duplicate event id 'dup-1'" in skipped[f"{FN}deduped"]
    assert len(fh.ledger.entries) == 2


# -- trigger matching -----------------------------------------------------------------------


async def test_wildcard_trigger_matches_the_prefix_only(fh: Harness) -> None:
    one, two, other, lookalike = await send_batch(
        fh,
        [
            {"name": "flow/wild.one"},
            {"name": "flow/wild.two.deep"},
            {"name": "flow/other"},
            {"name": "flow/wildcard"},
        ],
    )
    assert (await fh.finished(one))["output"] == "flow/wild.one"
    assert (await fh.finished(two))["output"] == "flow/wild.two.deep"
    assert await fh.executor.runs_for_event(other) == []
    assert await fh.executor.runs_for_event(lookalike) == []


async def test_trigger_expression_filters_events(fh: Harness) -> None:
    low, high, missing = await send_batch(
        fh,
        [
            {"name": "flow/filter", "data": {"n": 1}},
            {"name": "flow/filter", "data": {"n": 2}},
            {"name": "flow/filter", "data": {}},
        ],
    )
    assert (await fh.finished(high))["output"] == {"n": 2}
    assert await fh.executor.runs_for_event(low) == []
    assert await fh.executor.runs_for_event(missing) == []
    assert len(fh.ledger.entries) == 1


# -- priority -------------------------------------------------------------------------------


async def test_priority_runs_a_higher_factor_first_behind_a_concurrency_limit(
    fh: Harness,
) -> None:
    def send(n: str, **data: Any) -> dict[str, Any]:
        return {"name": "flow/priority", "data": {"n": n, "s": 0.01, **data}}

    busy = await fh.run_of((await send_batch(fh, [send("busy", hold=1.0)]))[0])
    await until(lambda: bool(starts(fh, busy, "before")))
    # Queued behind the only slot: three runs without a factor, then one with 120 s.
    queued = await send_batch(fh, [send(n) for n in "abc"])
    urgent = (await send_batch(fh, [send("urgent", p=120)]))[0]
    for event_id in [*queued, urgent]:
        assert (await fh.finished(event_id))["status"] == "Completed"
    order = [e["data"]["n"] for e in fh.ledger.entries if e["step"] == "before"]
    assert order[:2] == ["busy", "urgent"]
    assert sorted(order[2:]) == ["a", "b", "c"]


async def test_negative_priority_delays_the_start_by_its_factor(fh: Harness) -> None:
    sent = time.time()
    event_id = await fh.send("flow/priority", {"n": "later", "s": 0.01, "p": -1})
    run = await fh.finished(event_id)
    assert run["status"] == "Completed"
    assert 1.0 <= starts(fh, run["id"], "before")[0] - sent < 3.0
