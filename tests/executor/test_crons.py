"""Cron triggers: real SDK functions fire on their ticks, once each, across restarts.

Cron ticks are whole minutes, so the executor's cron clock (`ExecutorConfig.clock`)
is a `FakeClock` (tests/conftest.py) that tests move by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fastapi
import httpx
import inngest
import inngest.fast_api
import pytest

from pagerunner.cron import CronSchedule, rfc3339
from pagerunner.executor import Executor, ExecutorConfig, running_executor
from pagerunner.executor.crons import CRON_EVENT, fire_due
from tests.conftest import FakeClock, free_port

from .conftest import FAST_BACKOFF
from .sdk_app import Ledger

APP_ORIGIN = "http://cronapp.internal"


def build_cron_app(*, api_origin: str) -> tuple[fastapi.FastAPI, Ledger]:
    client = inngest.Inngest(
        app_id="cronapp",
        api_base_url=api_origin,
        event_api_base_url=api_origin,
        is_production=False,
    )
    ledger = Ledger()

    @client.create_function(fn_id="every-minute", trigger=inngest.TriggerCron(cron="* * * * *"))
    async def every_minute(ctx: inngest.Context) -> str:
        async def tick() -> str:
            ledger.record(ctx.run_id, "tick", ctx.attempt, event=ctx.event.name, id=ctx.event.id)
            return str(ctx.event.data["scheduledAt"])

        return await ctx.step.run("tick", tick)

    @client.create_function(
        fn_id="two-crons",
        trigger=[
            inngest.TriggerCron(cron="3-59/10 * * * *"),
            inngest.TriggerCron(cron="TZ=Europe/Paris 0 9 * * *", jitter="30s"),
            inngest.TriggerEvent(event="cron/test"),
        ],
    )
    async def two_crons(ctx: inngest.Context) -> dict[str, Any]:
        ledger.record(ctx.run_id, "two", ctx.attempt, data=dict(ctx.event.data))
        return dict(ctx.event.data)

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [every_minute, two_crons])
    return app, ledger


@contextlib.asynccontextmanager
async def cron_executor(
    db: Path, clock: FakeClock, app: fastapi.FastAPI, port: int
) -> AsyncIterator[tuple[Executor, httpx.AsyncClient]]:
    """An executor on `port` (where `app` syncs) driving `app`, with the cron clock `clock`."""
    config = ExecutorConfig(
        db_url=str(db),
        app_urls=(f"{APP_ORIGIN}/api/inngest",),
        backoff=FAST_BACKOFF,
        poll_interval_s=0.1,
        clock=clock,
    )
    async with (
        running_executor(config, port=port, asgi_apps={APP_ORIGIN: app}) as executor,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api,
    ):
        for _ in range(100):  # the lease is taken in the background
            if executor.is_leader:
                break
            await asyncio.sleep(0.05)
        yield executor, api


async def runs_of(api: httpx.AsyncClient, fn_id: str) -> list[dict[str, Any]]:
    response = await api.get("/v1/runs", params={"function_id": fn_id, "limit": 500})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


async def move(executor: Executor, clock: FakeClock, to: float) -> None:
    clock.now = to
    executor.crons.wake()
    await asyncio.sleep(0.3)  # the loop fires what is due


async def until_runs(api: httpx.AsyncClient, fn_id: str, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        found = await runs_of(api, fn_id)
        if len(found) >= count and all(r["status"] == "Completed" for r in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{fn_id}: {await runs_of(api, fn_id)}")


async def events_of(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/v1/events", params={"name": CRON_EVENT, "limit": 500})
    return list(response.json()["data"])


async def crons_of(api: httpx.AsyncClient, fn_id: str) -> dict[str, str | None]:
    functions = (await api.get("/v1/functions")).json()["data"]
    return dict(next(f for f in functions if f["id"] == fn_id)["crons"])


async def test_each_tick_fires_once_with_inngests_event(tmp_path: Path) -> None:
    clock, port = FakeClock(), free_port()
    app, ledger = build_cron_app(api_origin=f"http://127.0.0.1:{port}")
    async with cron_executor(tmp_path / "x.db", clock, app, port) as (executor, api):
        assert await crons_of(api, "cronapp-every-minute") == {"* * * * *": iso(clock.minute(1))}
        await move(executor, clock, clock.minute(1) - 1)
        assert await runs_of(api, "cronapp-every-minute") == []  # not due yet
        await move(executor, clock, clock.minute(1) + 0.5)
        [first] = await until_runs(api, "cronapp-every-minute", 1)
        await move(executor, clock, clock.minute(1) + 20)  # the same minute: nothing new
        await move(executor, clock, clock.minute(2))
        runs = await until_runs(api, "cronapp-every-minute", 2)
        await asyncio.sleep(0.3)
        assert len(await runs_of(api, "cronapp-every-minute")) == 2
        event = next(e for e in await events_of(api) if e["internal_id"] == first["event_id"])
    stamps = [rfc3339(clock.minute(1)), rfc3339(clock.minute(2))]
    assert [r["output"] for r in runs] == stamps
    assert event["name"] == CRON_EVENT == "inngest/scheduled.timer"
    assert event["id"] == stamps[0]
    assert event["data"] == {"cron": "* * * * *", "scheduledAt": stamps[0], "fireAt": stamps[0]}
    assert event["ts"] == int(clock.minute(1) * 1000)
    seen = [(e["event"], e["id"]) for e in ledger.entries if e["step"] == "tick"]
    assert seen == [(CRON_EVENT, stamps[0]), (CRON_EVENT, stamps[1])]


async def test_a_restart_neither_loses_nor_doubles_a_tick_and_missed_ticks_fire_once(
    tmp_path: Path,
) -> None:
    clock, port = FakeClock(), free_port()
    app, _ = build_cron_app(api_origin=f"http://127.0.0.1:{port}")
    db, fn = tmp_path / "x.db", "cronapp-every-minute"
    async with cron_executor(db, clock, app, port) as (executor, api):
        await move(executor, clock, clock.minute(1) + 0.5)
        await until_runs(api, fn, 1)
    async with cron_executor(db, clock, app, port) as (executor, api):  # the same minute
        await move(executor, clock, clock.minute(1) + 30)
        assert len(await runs_of(api, fn)) == 1
        assert await crons_of(api, fn) == {"* * * * *": iso(clock.minute(2))}
    clock.now = clock.minute(5) + 10  # the ticks of minutes 2 to 5 pass with no executor
    async with cron_executor(db, clock, app, port) as (executor, api):
        runs = await until_runs(api, fn, 2)
        await move(executor, clock, clock.minute(5) + 40)
        assert len(await runs_of(api, fn)) == 2
        assert await crons_of(api, fn) == {"* * * * *": iso(clock.minute(6))}
        await move(executor, clock, clock.minute(6))
        runs = await until_runs(api, fn, 3)
    assert [r["output"] for r in runs] == [rfc3339(clock.minute(n)) for n in (1, 5, 6)]


async def test_several_cron_triggers_a_time_zone_and_jitter(tmp_path: Path) -> None:
    paris = CronSchedule.parse("TZ=Europe/Paris 0 9 * * *")
    nine = paris.latest_until(time.time() - 60)  # 09:00 in Paris, the last one a minute ago
    assert nine is not None
    assert datetime.fromtimestamp(nine, ZoneInfo("Europe/Paris")).strftime("%H:%M") == "09:00"
    clock, port = FakeClock(start=nine - 630), free_port()  # 08:49:30 in Paris
    app, ledger = build_cron_app(api_origin=f"http://127.0.0.1:{port}")
    fn = "cronapp-two-crons"
    async with cron_executor(tmp_path / "x.db", clock, app, port) as (executor, api):
        assert await crons_of(api, fn) == {
            "3-59/10 * * * *": iso(nine - 420),  # 08:53 in Paris
            "TZ=Europe/Paris 0 9 * * *": iso(nine),
        }
        page = (await api.get("/functions")).text
        assert f"cron TZ=Europe/Paris 0 9 * * *, jitter 30s · next {when(nine)}" in page
        await move(executor, clock, nine - 420)  # 08:53: the first trigger fires
        await until_runs(api, fn, 1)
        await move(executor, clock, nine + 0.5)
        runs = await until_runs(api, fn, 2)
        events = await events_of(api)
    early, at_nine = (r["output"] for r in runs)
    assert early["cron"] == "3-59/10 * * * *" and early["fireAt"] == early["scheduledAt"]
    assert at_nine["cron"] == "TZ=Europe/Paris 0 9 * * *"
    assert at_nine["scheduledAt"] == rfc3339(nine)
    jitter = _epoch(at_nine["fireAt"]) - nine
    assert 1 <= jitter < 30  # a share of the trigger's jitter, at least 1 s, as on Inngest
    [event] = [e for e in events if e["data"]["cron"].startswith("TZ=")]
    # `ts` is the fire time in milliseconds; `fireAt` is RFC 3339, whole seconds (Go's).
    assert event["ts"] // 1000 == int(_epoch(at_nine["fireAt"]))
    assert len([e for e in ledger.entries if e["step"] == "two"]) == 2


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def iso(ts: float) -> str:
    return rfc3339(ts).replace("Z", ".000Z")


def when(ts: float) -> str:
    return rfc3339(ts).replace("T", " ").replace("Z", " UTC")


def registration(*crons: str, fn: str = "hourly") -> dict[str, Any]:
    """A sync payload of app `reg` whose one function has these cron triggers."""
    url = "http://127.0.0.1:9/api/inngest"
    functions = [
        {
            "id": f"reg-{fn}",
            "name": fn,
            "triggers": [{"cron": c} for c in crons],
            "steps": {"step": {"id": "step", "name": "step", "runtime": {"url": url}}},
        }
    ]
    return {"appname": "reg", "url": url, "functions": functions if crons else []}


@contextlib.asynccontextmanager
async def bare_executor(
    db: Path, clock: FakeClock
) -> AsyncIterator[tuple[Executor, httpx.AsyncClient]]:
    """An executor with no app of its own: tests sync payloads to it."""
    port = free_port()
    config = ExecutorConfig(db_url=str(db), backoff=FAST_BACKOFF, poll_interval_s=0.1, clock=clock)
    async with (
        running_executor(config, port=port) as executor,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api,
    ):
        for _ in range(100):
            if executor.is_leader:
                break
            await asyncio.sleep(0.05)
        yield executor, api


async def test_a_resync_reschedules_a_changed_cron_and_a_removed_function_stops(
    tmp_path: Path,
) -> None:
    clock = FakeClock(minutes_ago=180)
    start_hour = (int(clock.now) // 3600 + 1) * 3600.0  # the next whole hour
    async with bare_executor(tmp_path / "x.db", clock) as (executor, api):
        assert (await api.post("/fn/register", json=registration("0 * * * *"))).status_code == 200
        assert await crons_of(api, "reg-hourly") == {"0 * * * *": iso(start_hour)}
        clock.now = start_hour - 900  # :45
        await api.post("/fn/register", json=registration("0 * * * *"))  # unchanged: kept
        assert await crons_of(api, "reg-hourly") == {"0 * * * *": iso(start_hour)}
        await api.post("/fn/register", json=registration("50 * * * *"))  # changed: from now
        assert await crons_of(api, "reg-hourly") == {"50 * * * *": iso(start_hour - 600)}
        await api.post("/fn/register", json=registration())  # the function is gone
        assert all(f["id"] != "reg-hourly" for f in (await api.get("/v1/functions")).json()["data"])
        await move(executor, clock, start_hour + 1)
        assert await runs_of(api, "reg-hourly") == [] and await events_of(api) == []
        # Two triggers due at the same minute: one run, as Inngest's idempotency key (the
        # scheduled time) allows; the other tick's event says why it started none.
        await api.post("/fn/register", json=registration("0 * * * *", "*/30 * * * *"))
        await move(executor, clock, start_hour + 3600)
        assert len(await runs_of(api, "reg-hourly")) == 1
        events = await events_of(api)
    assert sorted(e["data"]["cron"] for e in events) == ["*/30 * * * *", "0 * * * *"]
    assert {e["id"] for e in events} == {rfc3339(start_hour + 3600)}
    assert [e["skipped"] for e in events if e["skipped"]] == [
        {"reg-hourly": f"duplicate event id '{rfc3339(start_hour + 3600)}' within 24h"}
    ]


@pytest.mark.parametrize(
    ("triggers", "message"),
    [
        ([{"cron": "@daily"}], "'@daily' isn't a valid cron schedule: Inngest does not accept"),
        ([{"cron": "0 0 * * * *"}], "expected exactly 5 fields"),
        ([{"cron": "0 0 * * 7"}], "day of week: 7 is out of range (0-6)"),
        ([{"cron": "0 0 L * *"}], "day of month: 'L' is not a number"),
        ([{"cron": "TZ=Mars/Olympus 0 9 * * *"}], "unknown time zone 'Mars/Olympus'"),
        ([{"cron": "0 9 * * *"}, {"cron": "0 9 * * *"}], "duplicate cron expression: 0 9 * * *"),
        ([{"cron": "0 9 * * *", "jitter": "500ms"}], "cron jitter must be at least 1s"),
        ([{"cron": "0 9 * * *", "jitter": "6m"}], "less than or equal to 5m0s"),
        ([{"cron": "0 " * 130 + "*"}], "cron is too long. maximum length is 255 characters"),
    ],
)
async def test_a_cron_trigger_inngest_refuses_fails_the_sync(
    tmp_path: Path, triggers: list[dict[str, str]], message: str
) -> None:
    payload = registration("0 9 * * *")
    payload["functions"][0]["triggers"] = triggers
    async with bare_executor(tmp_path / "x.db", FakeClock()) as (_, api):
        response = await api.post("/fn/register", json=payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert "function 'reg-hourly'" in response.json()["error"]


async def test_a_tick_is_fired_by_one_of_two_executors_on_one_database(tmp_path: Path) -> None:
    clock, port = FakeClock(), free_port()
    app, _ = build_cron_app(api_origin=f"http://127.0.0.1:{port}")
    db, fn = tmp_path / "x.db", "cronapp-every-minute"
    async with cron_executor(db, clock, app, port) as (first, api):
        config = ExecutorConfig(db_url=str(db), clock=clock, backoff=FAST_BACKOFF)
        second = Executor(config, asgi_apps={APP_ORIGIN: app})
        await second.start()
        try:
            await asyncio.sleep(0.3)
            assert first.is_leader and not second.is_leader  # the standby never fires
            clock.now = clock.minute(1) + 0.5
            # Both fire what is due at once (as two leaders would, for a moment):
            # the tick is claimed by one transaction only.
            fired = await asyncio.gather(
                first.db.write(fire_due, first.machine, clock.now),
                second.db.write(fire_due, second.machine, clock.now),
            )
            first.crons.wake()
            await until_runs(api, fn, 1)
            await asyncio.sleep(0.3)
        finally:
            await second.stop()
        assert len(await runs_of(api, fn)) == 1
    # One transaction claimed what was due (the every-minute tick, and two-crons' tick when
    # the minute ends in 3): the other found nothing. The leader's own loop may have fired
    # them first: then neither call did.
    assert min(fired) == 0
