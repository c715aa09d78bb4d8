"""Scheduled queries end to end: the API, the `run-schedules` cron function on the
embedded executor, and the simulated provider; the cron clock is a `FakeClock`."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.runtime import running_pagerunner
from tests.conftest import FakeClock

from .conftest import App, fast_settings
from .test_cli import acli

DONE = {"completed", "stopped", "skipped", "failed"}


@dataclasses.dataclass
class Scheduled:
    app: App
    clock: FakeClock

    async def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("source", "demo")
        body.setdefault("cron", "* * * * *")
        response = await self.app.api.post("/api/schedules", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def minute(self, n: int) -> None:
        """Let the cron clock reach minute `n`: `run-schedules` runs for it."""
        self.clock.now = self.clock.minute(n)
        assert self.app.runtime.executor is not None
        self.app.runtime.executor.crons.wake()

    async def tick(self, schedule_id: str, n: int, statuses: set[str] = DONE) -> dict[str, Any]:
        """The schedule's tick of minute `n` once its status is one of `statuses`."""
        stamp = iso(self.clock.minute(n))
        for _ in range(400):
            response = await self.app.api.get(f"/api/schedules/{schedule_id}/ticks")
            found = [t for t in response.json()["items"] if t["scheduled_at"] == stamp]
            if found and found[0]["status"] in statuses:
                return dict(found[0])
            await asyncio.sleep(0.05)
        raise AssertionError(f"no tick at {stamp} in {statuses}: {response.json()}")

    async def results(self, schedule_id: str, tick_id: str, **params: Any) -> httpx.Response:
        path = f"/api/schedules/{schedule_id}/ticks/{tick_id}/results"
        return await self.app.api.get(path, params={"limit": 1000, **params})


def iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


@contextlib.asynccontextmanager
async def scheduled_app(tmp_path: Path, **overrides: Any) -> AsyncIterator[Scheduled]:
    clock = FakeClock()
    settings = fast_settings(str(tmp_path / "pagerunner.db"), **overrides)
    async with (
        running_pagerunner(settings, clock=clock) as runtime,
        httpx.AsyncClient(base_url=settings.app_origin) as api,
        httpx.AsyncClient(base_url=settings.executor_origin) as executor_api,
    ):
        yield Scheduled(App(runtime=runtime, api=api, executor_api=executor_api), clock)


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[Scheduled]:
    async with scheduled_app(tmp_path) as value:
        yield value


def more_results(s: Scheduled, total: int) -> None:
    """The provider has `total` results per search now (the first ones are the same)."""
    s.app.sim.config = dataclasses.replace(s.app.sim.config, total_results=total)


async def test_each_tick_makes_its_queries_and_counts_only_what_is_new(s: Scheduled) -> None:
    places = ["Austin, TX", "Dallas, TX"]
    schedule = await s.create(params={"q": "coffee", "location": places}, name="coffee")
    assert schedule["next_at"] == iso(s.clock.minute(1))
    assert schedule["status"] == "active" and schedule["timezone"] is None

    await s.minute(1)
    first = await s.tick(schedule["id"], 1)
    assert first["outcome"] == "started" and first["status"] == "completed"
    assert first["queries"] == 2 and first["records_fetched"] == first["records_inserted"] == 190

    more_results(s, 120)  # 25 more per place, after the 95 already stored
    await s.minute(2)
    second = await s.tick(schedule["id"], 2)
    assert second["status"] == "completed" and second["queries"] == 2
    assert second["records_fetched"] == 240 and second["records_inserted"] == 50

    new = (await s.results(schedule["id"], second["id"])).json()
    expected = {r["id"] for p in places for r in s.app.sim.expected_records("coffee", p)[95:]}
    assert new["total"] == 50 and {i["data"]["id"] for i in new["items"]} == expected
    everything = (await s.results(schedule["id"], second["id"], new_only="false")).json()
    assert everything["total"] == 240
    exported = await s.results(schedule["id"], second["id"], format="csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["id"] for r in rows} == expected
    assert (await s.results(schedule["id"], first["id"])).json()["total"] == 190

    # The ticks' queries are ordinary queries and combos.
    combo = (await s.app.api.get(f"/api/combos/{second['combo_id']}")).json()
    assert combo["records_inserted"] == 50 and combo["status"] == "completed"
    detail = (await s.app.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert [t["id"] for t in detail["ticks"]] == [second["id"], first["id"]]
    assert detail["next_at"] == iso(s.clock.minute(3)) and detail["tick_count"] == 2


async def test_a_tick_never_overlaps_the_one_before(s: Scheduled) -> None:
    s.app.sim.config = dataclasses.replace(s.app.sim.config, latency_s=0.4)
    skipping = await s.create(params={"q": "skip total:200"})  # 10 pages: 4 s or more
    waiting = await s.create(params={"q": "wait total:200"}, overlap="wait")
    await s.minute(1)
    for schedule in (skipping, waiting):
        assert (await s.tick(schedule["id"], 1, {"running"}))["outcome"] == "started"
    await s.minute(2)
    skipped = await s.tick(skipping["id"], 2)
    assert skipped["outcome"] == "skipped" and skipped["combo_id"] is None
    assert skipped["reason"] == f"the tick of {iso(s.clock.minute(1))} is still running"
    assert (await s.tick(waiting["id"], 2, {"waiting"}))["combo_id"] is None
    await s.minute(3)  # one tick waits at most: the next is skipped
    again = await s.tick(waiting["id"], 3)
    assert again["reason"] == f"the tick of {iso(s.clock.minute(2))} is waiting already"

    s.app.sim.config = dataclasses.replace(s.app.sim.config, latency_s=0.0)
    for schedule in (skipping, waiting):
        await s.tick(schedule["id"], 1)  # finished
    await s.minute(4)
    assert (await s.tick(skipping["id"], 4))["status"] == "completed"
    late = await s.tick(waiting["id"], 2)  # its turn came: it ran, then minute 4 waited
    assert late["outcome"] == "started" and late["records_fetched"] == 200
    assert (await s.tick(waiting["id"], 4, {"waiting", "started"}))["outcome"] == "waiting"
    ticks = (await s.app.api.get(f"/api/schedules/{skipping['id']}/ticks")).json()["items"]
    assert [t["outcome"] for t in ticks] == ["started", "skipped", "skipped", "started"]


async def test_pause_resume_and_delete(s: Scheduled) -> None:
    schedule = await s.create(params={"q": "tea total:10"})
    base = schedule["id"]
    paused = (await s.app.api.post(f"/api/schedules/{base}/pause")).json()
    assert paused["status"] == "paused" and paused["next_at"] is None
    await s.minute(2)
    await asyncio.sleep(1.0)
    assert (await s.app.api.get(f"/api/schedules/{base}/ticks")).json()["total"] == 0
    s.clock.now = s.clock.minute(3) + 10
    resumed = (await s.app.api.post(f"/api/schedules/{base}/resume")).json()
    assert resumed["status"] == "active" and resumed["next_at"] == iso(s.clock.minute(4))
    await s.minute(4)
    assert (await s.tick(base, 4))["records_inserted"] == 10
    listed = (await s.app.api.get("/api/schedules")).json()
    assert [i["id"] for i in listed["items"]] == [base] and listed["total"] == 1
    deleted = await s.app.api.delete(f"/api/schedules/{base}")
    assert deleted.status_code == 200 and deleted.json() == {"id": base, "deleted": True}
    for path in (f"/api/schedules/{base}", f"/api/schedules/{base}/ticks"):
        missing = await s.app.api.get(path)
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"cron": "@daily"}, "cron", "Inngest does not accept descriptors"),
        ({"cron": "0 9 * * * *"}, "cron", "expected exactly 5 fields"),
        ({"cron": "61 * * * *"}, "cron", "minute: 61 is out of range (0-59)"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"cron": "TZ=Europe/Paris 0 9 * * *", "timezone": "UTC"}, "cron", "time zone was given"),
        ({"source": "nope"}, "source", "unknown source 'nope'"),
        ({"params": {"q": ""}}, "params.q", ""),
        ({"overlap": "queue"}, "overlap", ""),
        ({"params": {"q": ["a", "b", "c"]}, "max_queries": 2}, "params", "exceed the cap of 2"),
    ],
)
async def test_a_bad_schedule_is_a_422_naming_the_field(
    s: Scheduled, body: dict[str, Any], field: str, message: str
) -> None:
    full = {"source": "demo", "params": {"q": "x"}, "cron": "0 9 * * *", **body}
    response = await s.app.api.post("/api/schedules", json=full)
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["detail"] if e["loc"][1:] == field.split(".")]
    assert message in error["msg"]
    assert (await s.app.api.get("/api/schedules")).json()["total"] == 0


async def test_a_schedule_in_a_time_zone(s: Scheduled) -> None:
    schedule = await s.create(params={"q": "x"}, cron="0 9 * * *", timezone="America/New_York")
    prefixed = await s.create(params={"q": "x"}, cron="TZ=America/New_York 0 9 * * *")
    assert schedule["next_at"] == prefixed["next_at"]
    assert schedule["next_at"].endswith(("13:00:00+00:00", "14:00:00+00:00"))  # EDT, EST


async def test_schedules_from_the_command_line(s: Scheduled) -> None:
    api = ["--api-url", str(s.app.api.base_url).rstrip("/")]
    params = ["-p", "q=cli total:20", "-p", "location=A", "-p", "location=B"]
    made = await acli("schedules", "create", "demo", "--cron", "* * * * *", *params, *api)
    assert made.returncode == 0, made.stderr
    schedule_id = made.stdout.split()[1].rstrip(":")
    assert made.stdout.strip().endswith(f"next tick {iso(s.clock.minute(1))}")
    stored = (await s.app.api.get(f"/api/schedules/{schedule_id}")).json()
    assert stored["params"] == {"q": "cli total:20", "location": ["A", "B"]}
    listed = await acli("schedules", "list", "--as-json", *api)
    assert [i["id"] for i in json.loads(listed.stdout)] == [schedule_id]
    await s.minute(1)
    tick = await s.tick(schedule_id, 1)
    shown = json.loads((await acli("schedules", "show", schedule_id, "--as-json", *api)).stdout)
    assert shown["ticks"][0]["id"] == tick["id"] and shown["ticks"][0]["records_inserted"] == 40
    paused = await acli("schedules", "pause", schedule_id, *api)
    assert paused.stdout.strip() == f"{schedule_id}: paused"
    resumed = await acli("schedules", "resume", schedule_id, *api)
    assert resumed.stdout.startswith(f"{schedule_id}: active, next tick ")
    bad = await acli("schedules", "create", "demo", "--cron", "@daily", "-p", "q=x", *api)
    assert bad.returncode == 1 and "does not accept descriptors" in " ".join(bad.stderr.split())
    deleted = await acli("schedules", "delete", schedule_id, *api)
    assert deleted.stdout.strip() == f"{schedule_id}: deleted"
    gone = await acli("schedules", "show", schedule_id, *api)
    assert gone.returncode == 1 and "not found" in gone.stderr
