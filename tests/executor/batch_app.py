"""A real-SDK test app whose functions batch their events (`batch_events=inngest.Batch(...)`).

Each run records in the `Ledger` when it started and ended and which events it got
(`ctx.events`), and returns them, so tests can prove what each batch held and when it ran.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from .sdk_app import Ledger, sdk_client

APP_ID = "batchapp"
SECOND = datetime.timedelta(seconds=1)


def build_app(
    *, api_origin: str, signing_key: str | None = None, app_id: str = APP_ID
) -> tuple[fastapi.FastAPI, Ledger]:
    """The FastAPI app serving the batching functions at /api/inngest."""
    client = sdk_client(app_id=app_id, api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()
    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, _functions(client, ledger))
    return app, ledger


def _functions(client: inngest.Inngest, ledger: Ledger) -> list[inngest.Function[Any]]:
    async def take_batch(ctx: inngest.Context) -> Any:
        """One step: record the batch (holding the call `event.data.hold` s), return it."""

        async def body() -> dict[str, Any]:
            items = [e.data.get("i") for e in ctx.events]
            ledger.record(ctx.run_id, "start", ctx.attempt, items=items)
            await asyncio.sleep(float(ctx.event.data.get("hold") or 0))
            ledger.record(ctx.run_id, "end", ctx.attempt)
            return {
                "items": items,
                "first": ctx.event.data.get("i"),
                "ids": [e.id for e in ctx.events],
            }

        return await ctx.step.run("start", body)

    def batching(fn_id: str, event: str, batch: inngest.Batch, **options: Any) -> Any:
        return client.create_function(
            fn_id=fn_id, trigger=inngest.TriggerEvent(event=event), batch_events=batch, **options
        )(take_batch)

    return [
        batching(
            "batched",
            "batch/item",
            inngest.Batch(max_size=3, timeout=2 * SECOND, key="event.data.k"),
        ),
        batching(
            "conditional",
            "batch/maybe",
            inngest.Batch(max_size=3, timeout=5 * SECOND, if_exp="event.data.batch == true"),
        ),
        batching(
            "durable",
            "batch/durable",
            inngest.Batch(max_size=3, timeout=4 * SECOND, key="event.data.k"),
        ),
        batching(
            "serial",
            "batch/serial",
            inngest.Batch(max_size=2, timeout=5 * SECOND),
            concurrency=[inngest.Concurrency(limit=1)],
        ),
    ]
