"""Queries end to end over real HTTP: the API, execute-query, the executor, the simulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from pathlib import Path

from pagerunner.simulator import Fault

from .conftest import App, fast_settings, running_app


async def test_happy_path_fetches_every_page_exactly(app: App) -> None:
    query_id = await app.run("coffee total:95", "Austin, TX")
    query = await app.until(query_id)
    assert query["status"] == "completed"
    assert query["pages_fetched"] == 5
    assert query["records_fetched"] == query["records_inserted"] == 95
    assert await app.record_ids(query_id) == app.expected_ids("coffee total:95", "Austin, TX")
    pages = (await app.api.get(f"/api/queries/{query_id}/pages")).json()["items"]
    assert [p["page_number"] for p in pages] == [1, 2, 3, 4, 5]
    assert [p["records"] for p in pages] == [20, 20, 20, 20, 15]


async def test_transient_faults_are_retried_and_nothing_is_lost(app: App) -> None:
    app.sim.add_fault(Fault(kind="server_error", times=2, after=1))
    app.sim.add_fault(Fault(kind="drop", times=1, after=3))
    app.sim.add_fault(Fault(kind="malformed", times=1, after=5))
    query_id = await app.run("tea total:200")
    query = await app.until(query_id)
    assert query["status"] == "completed"
    assert query["retries"] == 4 and "malformed" in query["last_error"]
    assert await app.record_ids(query_id) == app.expected_ids("tea total:200")
    assert app.sim.describe_faults() == []  # every fault fired its `times` and retired
    (run,) = await app.runs()
    steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
    failed = [a for s in steps for a in s["attempts"] if a["status"] == "failed"]
    assert len(failed) == 4  # every fault cost one attempt, and was retried
    errors = json.dumps([a["error"] for a in failed])
    assert "503" in errors and "RemoteProtocolError" in errors and "malformed" in errors


async def test_long_rate_limit_pauses_and_resume_completes_exactly(app: App) -> None:
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=2, retry_after_s=600))
    query_id = await app.run("bagels total:90")
    paused = await app.until(query_id)
    assert paused["status"] == "paused"
    assert "rate limited" in paused["pause_reason"]
    assert paused["resume_hint"].startswith("automatically at ")
    assert paused["pages_fetched"] == 2
    resumed = await app.api.post(f"/api/queries/{query_id}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] == "pending"
    done = await app.until(query_id, {"completed", "failed"})
    assert done["status"] == "completed" and done["runs"] == 2
    assert await app.record_ids(query_id) == app.expected_ids("bagels total:90")
    # The first run, asleep until the limit's reset to resume the query by itself, was
    # cancelled by the user's resume (or the second run would have queued behind it).
    assert sorted(r["status"] for r in await app.runs()) == ["Cancelled", "Completed"]


async def test_a_rate_limit_with_a_known_reset_resumes_the_query_by_itself(
    tmp_path: Path,
) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), max_rate_limit_wait_s=0.5)
    async with running_app(settings) as app:
        app.sim.add_fault(Fault(kind="rate_limit", times=1, after=2, retry_after_s=2))
        query_id = await app.run("bagels total:90")
        paused = await app.until(query_id)
        assert paused["status"] == "paused" and paused["pages_fetched"] == 2
        assert re.fullmatch(
            r"automatically at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, or now",
            paused["resume_hint"],
        )
        paused_at = time.monotonic()
        done = await app.until(query_id, {"completed", "failed"}, timeout_s=30)
        assert time.monotonic() - paused_at > 1.0  # it waited for the reset
        assert done["status"] == "completed" and done["runs"] == 2
        assert await app.record_ids(query_id) == app.expected_ids("bagels total:90")
        first = min(await app.runs(), key=lambda r: r["run_started_at"])
        steps = (await app.executor_api.get(f"/v1/runs/{first['run_id']}/steps")).json()
        names = [s["name"] for s in steps["data"]]
        assert names[-3:] == ["auto-resume-wait", "auto-resume", "auto-resume-send"]


async def test_without_auto_resume_a_rate_limited_query_stays_paused(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), max_rate_limit_wait_s=0.5, auto_resume=False)
    async with running_app(settings) as app:
        app.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=1))
        query_id = await app.run("bagels total:90")
        paused = await app.until(query_id)
        assert paused["status"] == "paused" and paused["resume_hint"] == "retry after 1 s"
        await asyncio.sleep(2.0)
        assert (await app.query(query_id))["status"] == "paused"
        assert len(await app.runs()) == 1


async def test_short_rate_limit_is_waited_out_durably(app: App) -> None:
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=1))
    query_id = await app.run("donuts total:60")
    done = await app.until(query_id)
    assert done["status"] == "completed" and done["runs"] == 1
    assert await app.record_ids(query_id) == app.expected_ids("donuts total:60")
    (run,) = await app.runs()
    steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
    assert any(s["op"] == "Sleep" and s["name"].startswith("rate-limit-wait") for s in steps)


async def test_invalid_key_fails_at_once_with_the_provider_message(app: App) -> None:
    app.sim.add_fault(Fault(kind="invalid_key"))
    query_id = await app.run("pizza")
    query = await app.until(query_id)
    assert query["status"] == "failed"
    assert query["error_code"] == "invalid_credentials"
    assert "Invalid API key" in query["error_message"]
    assert app.sim.stats.total_requests == 1  # no useless retries


async def test_quota_exhausted_fails(app: App) -> None:
    app.sim.set_limits("demo-key", quota=2)
    query_id = await app.run("sushi total:100")
    query = await app.until(query_id)
    assert query["status"] == "failed"
    assert query["error_code"] == "quota_exhausted"
    assert "quota" in query["error_message"].lower()
    assert query["pages_fetched"] == 2


async def test_pause_stops_after_the_page_in_flight_and_resume_finishes(app: App) -> None:
    app.sim.add_fault(Fault(kind="slow", delay_s=0.3))
    query_id = await app.run("ramen total:200")
    await app.until(query_id, {"running"})
    response = await app.api.post(f"/api/queries/{query_id}/pause")
    assert response.status_code == 202 and response.json()["pause_requested"] is True
    paused = await app.until(query_id)
    assert paused["status"] == "paused" and 0 < paused["pages_fetched"] < 10
    app.sim.clear_faults()
    await app.api.post(f"/api/queries/{query_id}/resume")
    done = await app.until(query_id, {"completed", "failed"})
    assert done["status"] == "completed"
    assert await app.record_ids(query_id) == app.expected_ids("ramen total:200")


async def test_cancel_stops_the_query_and_its_run(app: App) -> None:
    app.sim.add_fault(Fault(kind="slow", delay_s=0.2))
    query_id = await app.run("tacos total:400")
    await app.until(query_id, {"running"})
    response = await app.api.post(f"/api/queries/{query_id}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    for _ in range(100):  # the query's run (a query-cancelled run starts beside it)
        runs = [r for r in await app.runs() if r["function_id"].endswith("execute-query")]
        if runs and runs[0]["status"] == "Cancelled":
            break
        await asyncio.sleep(0.05)
    assert runs[0]["status"] == "Cancelled"
    stopped_at = (await app.query(query_id))["pages_fetched"]
    await asyncio.sleep(0.5)
    assert (await app.query(query_id))["pages_fetched"] == stopped_at
    again = await app.api.post(f"/api/queries/{query_id}/cancel")
    assert again.status_code == 409


async def test_two_concurrent_resumes_start_one_run(app: App) -> None:
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=600))
    query_id = await app.run("waffles total:60")
    await app.until(query_id)
    answers = await asyncio.gather(
        *(app.api.post(f"/api/queries/{query_id}/resume") for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [202, 409]
    done = await app.until(query_id, {"completed", "failed"})
    assert done["status"] == "completed" and done["runs"] == 2
    assert len(await app.runs()) == 2  # the first run and exactly one resume
    assert await app.record_ids(query_id) == app.expected_ids("waffles total:60")


async def test_max_pages_caps_the_query(app: App) -> None:
    query_id = await app.run("burgers total:200", max_pages=3)
    query = await app.until(query_id)
    assert query["status"] == "completed" and query["pages_fetched"] == 3
    assert await app.record_ids(query_id) == app.expected_ids("burgers total:200")[:60]


async def test_records_are_stored_once_across_queries(app: App) -> None:
    first = await app.run("coffee total:40", "Dallas")
    await app.until(first)
    second = await app.run("coffee total:40", "Dallas")
    query = await app.until(second)
    assert query["records_fetched"] == 40 and query["records_inserted"] == 0
    assert await app.record_ids(second) == await app.record_ids(first)


async def test_exports_stream_every_record(app: App) -> None:
    query_id = await app.run("books total:45")
    await app.until(query_id)
    expected = app.sim.expected_records("books total:45")
    ndjson = await app.api.get(f"/api/queries/{query_id}/results", params={"format": "ndjson"})
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [line["data"] for line in lines] == expected
    exported = await app.api.get(f"/api/queries/{query_id}/results", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    assert rows[0]["name"] == expected[0]["name"] and rows[-1]["page"] == "3"
