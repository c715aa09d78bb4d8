"""The app whose runs are in flight in `fixtures/executor-0.1.0.sql` (the upgrade test).

Kept apart from `sdk_app` so that changes there never break the fixture: the
function ids, step names and the app URL below are stored in that database.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import fastapi
import inngest
import inngest.fast_api

APP_ID = "upgradeapp"
APP_ORIGIN = "http://upgradeapp.internal"
APP_URL = f"{APP_ORIGIN}/api/inngest"


def build_upgrade_app(
    *, api_origin: str, hold_s: float = 0.0
) -> tuple[fastapi.FastAPI, list[tuple[str, str]]]:
    """The app and the list of step bodies it executed, as `(run id, step)`.

    `hold_s` keeps each `work` step busy that long (to leave one in flight).
    """
    client = inngest.Inngest(
        app_id=APP_ID, api_base_url=api_origin, event_api_base_url=api_origin, is_production=False
    )
    executed: list[tuple[str, str]] = []

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="upgrade/nap"))
    async def nap(ctx: inngest.Context) -> list[str]:
        async def before() -> str:
            executed.append((ctx.run_id, "before"))
            return "before"

        async def after() -> str:
            executed.append((ctx.run_id, "after"))
            return "after"

        first = await ctx.step.run("before", before)
        await ctx.step.sleep("nap", datetime.timedelta(seconds=5))
        return [first, await ctx.step.run("after", after)]

    @client.create_function(
        fn_id="work",
        trigger=inngest.TriggerEvent(event="upgrade/work"),
        concurrency=[inngest.Concurrency(limit=1)],
    )
    async def work(ctx: inngest.Context) -> int:
        async def body() -> int:
            executed.append((ctx.run_id, "work"))
            await asyncio.sleep(hold_s)
            return int(ctx.event.data["n"]) * 2

        return await ctx.step.run("work", body)

    functions: list[inngest.Function[Any]] = [nap, work]
    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, functions)
    return app, executed
