"""One rate limit and one budget per credential, shared by every query on it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pagerunner.simulator import Fault, max_in_window

from .conftest import App, fast_settings, running_app

RATE = 5


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[App]:
    settings = fast_settings(str(tmp_path / "p.db"), demo_rate_per_s=RATE)
    async with running_app(settings) as value:
        value.sim.set_limits("demo-key", rate_per_s=RATE)  # the provider enforces it too
        yield value


async def test_twenty_queries_on_one_key_stay_within_its_rate(limited: App) -> None:
    app = limited
    ids = [await app.run(f"shared{i} total:40") for i in range(20)]
    done = [await app.until(i, timeout_s=60) for i in ids]
    assert [q["status"] for q in done] == ["completed"] * 20
    stats = app.sim.stats
    assert stats.rate_limited == 0  # the provider never had to refuse one
    assert stats.total_requests == 40
    assert max_in_window(stats.served_at["demo-key"], 1.0) <= RATE
    for query_id, q in zip(ids, done, strict=True):
        assert await app.record_ids(query_id) == app.expected_ids(q["params"]["q"])


async def test_a_429_backs_off_every_query_on_the_key(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"), page_delay_s=0.1)) as app:
        app.sim.add_fault(Fault(kind="rate_limit", times=1, after=3, retry_after_s=2))
        ids = [await app.run(f"pair{i} total:100") for i in range(2)]
        done = [await app.until(i, timeout_s=30) for i in ids]
        assert [q["status"] for q in done] == ["completed", "completed"]
        served = sorted(app.sim.stats.served_at["demo-key"])
        refused_at = sorted(app.sim.stats.received_at["demo-key"])[3]
        # After the 429 nobody asked again for the whole Retry-After, not even the other query.
        assert not [t for t in served if refused_at < t < refused_at + 1.9]
        usage = (await app.api.get("/api/usage")).json()["items"]
        assert usage[0]["credential"] == "env:PAGERUNNER_DEMO_API_KEY"
        # Ten pages and the refused request: every request sent is counted.
        assert usage[0]["requests_today"] == 11 == usage[0]["requests_this_month"]


async def test_a_spent_budget_stops_new_pages_before_the_request(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), demo_monthly_budget=3)
    async with running_app(settings) as app:
        query_id = await app.run("budget total:100")
        query = await app.until(query_id)
        assert query["status"] == "failed" and query["error_code"] == "quota_exceeded"
        assert "monthly budget of 3 requests" in query["error_message"]
        assert query["pages_fetched"] == 3
        assert app.sim.stats.total_requests == 3  # the 4th request was never sent
        usage = (await app.api.get("/api/usage")).json()["items"]
        assert usage[0]["requests_this_month"] == 3 and usage[0]["monthly_budget"] == 3
        await asyncio.sleep(0)


@pytest.mark.parametrize("rate", [50.0, None])
async def test_only_pages_of_a_rate_limited_source_take_slots(
    tmp_path: Path, rate: float | None
) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"), demo_rate_per_s=rate)) as app:
        query_id = await app.run("slots total:40")
        assert (await app.until(query_id))["status"] == "completed"
        (run,) = await app.runs()
        steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
        # A slot that is free (or near) is taken inside the page step: no step of its own.
        assert [s["name"] for s in steps] == ["start", "page-1", "page-2", "complete"]
    with sqlite3.connect(tmp_path / "p.db") as conn:
        (next_slot_at,) = conn.execute("SELECT next_slot_at FROM pr_credentials").fetchone()
    assert (next_slot_at > 0) is (rate is not None)  # only the paced pages reserved slots


async def test_a_slot_further_ahead_is_slept_for_durably(tmp_path: Path) -> None:
    """One request per 2 s: the second page's slot is too far to wait for in the step."""
    settings = fast_settings(str(tmp_path / "p.db"), demo_rate_per_s=0.5)
    async with running_app(settings) as app:
        query_id = await app.run("slow slots total:40")
        assert (await app.until(query_id))["status"] == "completed"
        assert await app.record_ids(query_id) == app.expected_ids("slow slots total:40")
        (run,) = await app.runs()
        steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
        names = [s["name"] for s in steps]
        assert names == ["start", "page-1", "page-2", "slot-wait-2-1", "page-2-1", "complete"]
        served = sorted(app.sim.stats.served_at["demo-key"])
        assert served[1] - served[0] >= 2.0


async def test_a_retried_page_step_takes_no_second_slot(tmp_path: Path) -> None:
    """A retry is paced by the claim's window alone, as when the slot had its own step."""
    settings = fast_settings(str(tmp_path / "p.db"), demo_rate_per_s=0.5)
    async with running_app(settings) as app:
        app.sim.add_fault(Fault(kind="server_error", times=1, after=0))
        query_id = await app.run("retry slots total:40")
        assert (await app.until(query_id))["status"] == "completed"
        assert await app.record_ids(query_id) == app.expected_ids("retry slots total:40")
        (run,) = await app.runs()
        steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
        names = [s["name"] for s in steps]
        # A second slot for the retry would be 2 s ahead: a durable wait, "slot-wait-1-1".
        assert names[:3] == ["start", "page-1", "page-2"] and "slot-wait-1-1" not in names
        assert [a["status"] for a in steps[1]["attempts"]] == ["failed", "completed"]
        served = sorted(app.sim.stats.received_at["demo-key"])
        assert len(served) == 3 and max_in_window(served, 2.0) <= 1
