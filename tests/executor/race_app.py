"""A real-SDK test app for parallel groups in both modes (`inngest.ParallelMode`).

Every step body records its start and end in the `Ledger`, every call of a function
records itself ("call"), and the app keeps the `x-inngest-req-version` header of each
request the executor makes, so tests can prove when the executor resumed a function.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from .sdk_app import Ledger, sdk_client

APP_ID = "raceapp"
HOLD_S = 1.5  # how long b.1 takes
NAP = datetime.timedelta(seconds=1)
LONG_WAIT = datetime.timedelta(seconds=20)


def build_app(
    *, api_origin: str, signing_key: str | None = None, app_id: str = APP_ID
) -> tuple[fastapi.FastAPI, Ledger]:
    """The FastAPI app serving the parallel-group functions at /api/inngest."""
    client = sdk_client(app_id=app_id, api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()
    app = fastapi.FastAPI()

    @app.middleware("http")
    async def request_versions(request: fastapi.Request, call_next: Any) -> Any:
        if request.method == "POST":
            version = request.headers.get("x-inngest-req-version")
            ledger.record("-", "request", 0, version=version, query=str(request.url.query))
        return await call_next(request)

    inngest.fast_api.serve(app, client, _functions(client, ledger))
    return app, ledger


def _functions(client: inngest.Inngest, ledger: Ledger) -> list[inngest.Function[Any]]:
    def step(ctx: inngest.Context, name: str, hold_s: float = 0.0) -> Awaitable[str]:
        async def body() -> str:
            ledger.record(ctx.run_id, name, ctx.attempt, phase="start")
            await asyncio.sleep(hold_s)  # the call stays in flight meanwhile
            ledger.record(ctx.run_id, name, ctx.attempt, phase="end")
            return name

        return ctx.step.run(name, body)

    def two_groups(mode: inngest.ParallelMode) -> Callable[[inngest.Context], Awaitable[Any]]:
        async def fn(ctx: inngest.Context) -> Any:
            async def group_a() -> list[str]:
                return [await step(ctx, "a.1"), await step(ctx, "a.2")]

            async def group_b() -> list[str]:
                return [await step(ctx, "b.1", HOLD_S), await step(ctx, "b.2")]

            return await ctx.group.parallel((group_a, group_b), parallel_mode=mode)

        return fn

    def nap_or_wait(mode: inngest.ParallelMode) -> Callable[[inngest.Context], Awaitable[Any]]:
        async def fn(ctx: inngest.Context) -> Any:
            ledger.record(ctx.run_id, "call", ctx.attempt)
            _, event = await ctx.group.parallel(
                (
                    lambda: ctx.step.sleep("short-nap", NAP),
                    lambda: ctx.step.wait_for_event(
                        "long-wait", event="race/never", timeout=LONG_WAIT
                    ),
                ),
                parallel_mode=mode,
            )
            after = await step(ctx, "after")
            return {"waited": event.data if event else None, "after": after}

        return fn

    functions = []
    for mode in (inngest.ParallelMode.RACE, inngest.ParallelMode.WAIT):
        suffix = mode.value
        functions.append(
            client.create_function(
                fn_id=f"groups-{suffix}",
                trigger=inngest.TriggerEvent(event=f"race/groups-{suffix}"),
            )(two_groups(mode))
        )
        functions.append(
            client.create_function(
                fn_id=f"nap-or-wait-{suffix}",
                trigger=inngest.TriggerEvent(event=f"race/nap-or-wait-{suffix}"),
            )(nap_or_wait(mode))
        )
    return functions
