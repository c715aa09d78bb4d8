"""A real-SDK app for what Inngest's server does at the edges: errors and their payloads,
invoke results, and Inngest's limits (issue 11). Served like `sdk_app` (same `Ledger`)."""

from __future__ import annotations

import datetime
from typing import Any

import fastapi
import inngest
import inngest.fast_api

from .sdk_app import Ledger, sdk_client

APP_ID = "compat"


def build_compat_app(
    *, api_origin: str, signing_key: str | None = None, app_id: str = APP_ID
) -> tuple[fastapi.FastAPI, Ledger]:
    client = sdk_client(app_id=app_id, api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()
    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, _functions(client, ledger))
    return app, ledger


def _functions(client: inngest.Inngest, ledger: Ledger) -> list[inngest.Function[Any]]:  # noqa: C901
    def ev(name: str) -> inngest.TriggerEvent:
        return inngest.TriggerEvent(event=name)

    @client.create_function(fn_id="nested", trigger=ev("compat/nested"), retries=3)
    async def nested(ctx: inngest.Context) -> str:
        async def outer() -> str:
            ledger.record(ctx.run_id, "outer", ctx.attempt)
            return await ctx.step.run("inner", lambda: "never")  # the SDK refuses this

        return await ctx.step.run("outer", outer)

    @client.create_function(fn_id="boom", trigger=ev("compat/boom"), retries=0)
    async def boom(ctx: inngest.Context) -> None:
        raise ValueError("boom")

    async def record_failure(ctx: inngest.Context) -> None:
        ledger.record(ctx.run_id, "on_failure", ctx.attempt, event=ctx.event.data)

    @client.create_function(
        fn_id="refuses", trigger=ev("compat/refuses"), retries=3, on_failure=record_failure
    )
    async def refuses(ctx: inngest.Context) -> None:
        ledger.record(ctx.run_id, "refuses", ctx.attempt)
        raise inngest.NonRetriableError("not today")

    @client.create_function(fn_id="ok", trigger=ev("compat/ok"))
    async def ok(ctx: inngest.Context) -> dict[str, Any]:
        return {"doubled": int(ctx.event.data["x"]) * 2}

    @client.create_function(fn_id="napper", trigger=ev("compat/napper"))
    async def napper(ctx: inngest.Context) -> str:
        await ctx.step.sleep("nap", datetime.timedelta(seconds=60))
        return "woke up"

    @client.create_function(fn_id="invoker", trigger=ev("compat/invoker"))
    async def invoker(ctx: inngest.Context) -> Any:
        target = {"ok": ok, "boom": boom, "napper": napper}[ctx.event.data["target"]]
        try:
            return await ctx.step.invoke("call", function=target, data={"x": 21})
        except inngest.StepError as exc:
            return {"caught": exc.name, "message": exc.message}

    @client.create_function(fn_id="impatient", trigger=ev("compat/impatient"))
    async def impatient(ctx: inngest.Context) -> Any:
        # The timeout's error has no stack: the run fails with the SDK's `"stack": null`.
        timeout = datetime.timedelta(seconds=1)
        return await ctx.step.invoke("call", function=napper, data={}, timeout=timeout)

    @client.create_function(fn_id="steps", trigger=ev("compat/steps"), retries=0)
    async def steps(ctx: inngest.Context) -> int:
        for i in range(int(ctx.event.data["n"])):
            await ctx.step.run(f"s{i}", lambda i=i: i)
        return int(ctx.event.data["n"])

    @client.create_function(fn_id="wide", trigger=ev("compat/wide"), retries=0)
    async def wide(ctx: inngest.Context) -> list[int]:
        def branch(i: int) -> Any:
            return lambda: ctx.step.run(f"w{i}", lambda: i)

        n = int(ctx.event.data["n"])
        return list(await ctx.group.parallel(tuple(branch(i) for i in range(n))))

    @client.create_function(fn_id="big-output", trigger=ev("compat/big-output"), retries=1)
    async def big_output(ctx: inngest.Context) -> int:
        def body() -> str:
            ledger.record(ctx.run_id, "big", ctx.attempt)
            return "x" * int(ctx.event.data["size"])

        return len(await ctx.step.run("big", body))

    @client.create_function(fn_id="hoarder", trigger=ev("compat/hoarder"), retries=0)
    async def hoarder(ctx: inngest.Context) -> int:
        for i in range(int(ctx.event.data["n"])):
            await ctx.step.run(f"h{i}", lambda: "y" * int(ctx.event.data["size"]))
        return 0

    return [nested, boom, refuses, ok, napper, invoker, impatient, steps, wide, big_output, hoarder]
