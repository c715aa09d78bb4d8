"""A second real-SDK test app: one function per flow-control option the executor enforces.

Every step body records itself in the `Ledger` (run id, step, attempt, time and
the event data it saw), so tests can prove when runs started and with which event.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from .sdk_app import Ledger

APP_ID = "flowapp"
SECOND = datetime.timedelta(seconds=1)


def build_app(
    *, api_origin: str, signing_key: str | None = None, app_id: str = APP_ID
) -> tuple[fastapi.FastAPI, Ledger]:
    """The FastAPI app serving the flow-control functions at /api/inngest."""
    client = inngest.Inngest(
        app_id=app_id,
        api_base_url=api_origin,
        event_api_base_url=api_origin,
        is_production=signing_key is not None,
        signing_key=signing_key,
        event_key="test-key" if signing_key else None,
    )
    ledger = Ledger()
    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, _functions(client, ledger))
    return app, ledger


def _functions(client: inngest.Inngest, ledger: Ledger) -> list[inngest.Function[Any]]:
    def record_step(ctx: inngest.Context, step: str, hold_s: float = 0.0) -> Any:
        """A step body that records the run's event data, waits `hold_s`, and returns it."""

        async def body() -> dict[str, Any]:
            ledger.record(ctx.run_id, step, ctx.attempt, data=dict(ctx.event.data))
            await asyncio.sleep(hold_s)  # the call stays in flight meanwhile
            return dict(ctx.event.data)

        return ctx.step.run(step, body)

    @client.create_function(
        fn_id="throttled",
        trigger=inngest.TriggerEvent(event="flow/throttle"),
        throttle=inngest.Throttle(limit=2, period=SECOND, burst=1, key="event.data.k"),
    )
    async def throttled(ctx: inngest.Context) -> Any:
        return await record_step(ctx, "start")

    @client.create_function(
        fn_id="rate-limited",
        trigger=inngest.TriggerEvent(event="flow/rate"),
        rate_limit=inngest.RateLimit(limit=2, period=5 * SECOND, key="event.data.k"),
    )
    async def rate_limited(ctx: inngest.Context) -> Any:
        return await record_step(ctx, "start")

    @client.create_function(
        fn_id="debounced",
        trigger=inngest.TriggerEvent(event="flow/debounce"),
        debounce=inngest.Debounce(period=SECOND, key="event.data.k"),
    )
    async def debounced(ctx: inngest.Context) -> Any:
        await record_step(ctx, "start")
        return {"data": dict(ctx.event.data), "events": len(ctx.events)}

    async def sleepy(ctx: inngest.Context) -> Any:
        """Record a start (its call held `event.data.hold` s), sleep `event.data.s` s, record."""
        await record_step(ctx, "before", float(ctx.event.data.get("hold", 0)))
        await ctx.step.sleep("nap", datetime.timedelta(seconds=float(ctx.event.data.get("s", 1))))
        return await record_step(ctx, "after")

    singleton_skip = client.create_function(
        fn_id="singleton-skip",
        trigger=inngest.TriggerEvent(event="flow/singleton.skip"),
        singleton=inngest.Singleton(key="event.data.k", mode="skip"),
    )(sleepy)
    singleton_cancel = client.create_function(
        fn_id="singleton-cancel",
        trigger=inngest.TriggerEvent(event="flow/singleton.cancel"),
        singleton=inngest.Singleton(key="event.data.k", mode="cancel"),
    )(sleepy)
    prioritized = client.create_function(
        fn_id="prioritized",
        trigger=inngest.TriggerEvent(event="flow/priority"),
        concurrency=[inngest.Concurrency(limit=1)],
        priority=inngest.Priority(run="event.data.p"),
    )(sleepy)
    finish_timeout = client.create_function(
        fn_id="finish-timeout",
        trigger=inngest.TriggerEvent(event="flow/finish-timeout"),
        timeouts=inngest.Timeouts(finish=SECOND),
    )(sleepy)

    @client.create_function(
        fn_id="start-timeout",
        trigger=inngest.TriggerEvent(event="flow/start-timeout"),
        timeouts=inngest.Timeouts(start=SECOND),
        concurrency=[inngest.Concurrency(limit=1)],
    )
    async def start_timeout(ctx: inngest.Context) -> Any:
        async def work() -> float:
            ledger.record(ctx.run_id, "work", ctx.attempt, data=dict(ctx.event.data))
            seconds = float(ctx.event.data.get("work", 0))
            await asyncio.sleep(seconds)  # holds the concurrency slot meanwhile
            return seconds

        return await ctx.step.run("work", work)

    @client.create_function(
        fn_id="deduped", trigger=inngest.TriggerEvent(event="flow/dedupe"), retries=0
    )
    async def deduped(ctx: inngest.Context) -> Any:
        return await record_step(ctx, "start")

    @client.create_function(fn_id="wild", trigger=inngest.TriggerEvent(event="flow/wild.*"))
    async def wild(ctx: inngest.Context) -> str:
        await record_step(ctx, "start")
        return ctx.event.name

    @client.create_function(
        fn_id="filtered",
        trigger=inngest.TriggerEvent(event="flow/filter", expression="event.data.n > 1"),
    )
    async def filtered(ctx: inngest.Context) -> Any:
        return await record_step(ctx, "start")

    return [
        throttled,
        rate_limited,
        debounced,
        singleton_skip,
        singleton_cancel,
        finish_timeout,
        start_timeout,
        prioritized,
        deduped,
        wild,
        filtered,
    ]
