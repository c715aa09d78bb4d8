"""A test app written with the real Inngest SDK: one function per executor behaviour.

The app keeps a ledger of every step body it executes (run id, step, attempt,
time), so tests can prove what ran, how often and when.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import fastapi
import inngest
import inngest.fast_api

APP_ID = "testapp"


@dataclass
class Ledger:
    entries: list[dict[str, Any]] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    max_active: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, run_id: str, step: str, attempt: int, **extra: Any) -> None:
        with self.lock:
            self.entries.append(
                {"run_id": run_id, "step": step, "attempt": attempt, "at": time.time(), **extra}
            )

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.entries if e["run_id"] == run_id]


def sdk_client(*, app_id: str, api_origin: str, signing_key: str | None) -> inngest.Inngest:
    """A test app's client, pointed at the executor at `api_origin` (production mode,
    signed, when a signing key is given)."""
    return inngest.Inngest(
        app_id=app_id,
        api_base_url=api_origin,
        event_api_base_url=api_origin,
        is_production=signing_key is not None,
        signing_key=signing_key,
        event_key="test-key" if signing_key else None,
    )


def build_app(
    *, api_origin: str, signing_key: str | None = None, app_id: str = APP_ID
) -> tuple[fastapi.FastAPI, Ledger]:
    """The FastAPI app serving the test functions at /api/inngest."""
    client = sdk_client(app_id=app_id, api_origin=api_origin, signing_key=signing_key)
    ledger = Ledger()
    functions = _functions(client, ledger)
    app = fastapi.FastAPI()
    app.state.client = client

    @app.get("/ledger")
    def ledger_entries() -> list[dict[str, Any]]:
        with ledger.lock:
            return list(ledger.entries)

    inngest.fast_api.serve(app, client, functions)
    return app, ledger


def _functions(client: inngest.Inngest, ledger: Ledger) -> list[inngest.Function[Any]]:  # noqa: C901
    def ev(name: str) -> inngest.TriggerEvent:
        return inngest.TriggerEvent(event=name)

    @client.create_function(fn_id="sequential", trigger=ev("test/sequential"))
    async def sequential(ctx: inngest.Context) -> dict[str, Any]:
        async def first() -> int:
            ledger.record(ctx.run_id, "first", ctx.attempt)
            return int(ctx.event.data.get("n", 1))

        async def second(value: int) -> int:
            ledger.record(ctx.run_id, "second", ctx.attempt)
            return value + 1

        a = await ctx.step.run("first", first)
        b = await ctx.step.run("second", second, a)
        return {"a": a, "b": b}

    @client.create_function(fn_id="flaky", trigger=ev("test/flaky"), retries=3)
    async def flaky(ctx: inngest.Context) -> int:
        async def body() -> int:
            ledger.record(ctx.run_id, "flaky", ctx.attempt)
            if ctx.attempt < int(ctx.event.data.get("fail_times", 2)):
                raise RuntimeError(f"transient failure on attempt {ctx.attempt}")
            return ctx.attempt

        return await ctx.step.run("flaky", body)

    @client.create_function(fn_id="non-retriable", trigger=ev("test/non-retriable"), retries=3)
    async def non_retriable(ctx: inngest.Context) -> None:
        async def body() -> None:
            ledger.record(ctx.run_id, "body", ctx.attempt)
            raise inngest.NonRetriableError("the key is invalid")

        await ctx.step.run("body", body)

    @client.create_function(fn_id="retry-after", trigger=ev("test/retry-after"), retries=2)
    async def retry_after(ctx: inngest.Context) -> int:
        async def body() -> int:
            ledger.record(ctx.run_id, "body", ctx.attempt)
            if ctx.attempt == 0:
                raise inngest.RetryAfterError("slow down", datetime.timedelta(seconds=2))
            return ctx.attempt

        return await ctx.step.run("body", body)

    @client.create_function(fn_id="catches", trigger=ev("test/catches"), retries=1)
    async def catches(ctx: inngest.Context) -> str:
        async def always_fails() -> None:
            ledger.record(ctx.run_id, "always-fails", ctx.attempt)
            raise ValueError("provider says no")

        try:
            await ctx.step.run("always-fails", always_fails)
        except inngest.StepError as err:
            return f"caught {err.name}: {err.message}"
        return "not caught"

    @client.create_function(fn_id="sleeper", trigger=ev("test/sleep"))
    async def sleeper(ctx: inngest.Context) -> float:
        async def before() -> float:
            ledger.record(ctx.run_id, "before", ctx.attempt)
            return time.time()

        async def after() -> float:
            ledger.record(ctx.run_id, "after", ctx.attempt)
            return time.time()

        start = await ctx.step.run("before", before)
        await ctx.step.sleep("nap", datetime.timedelta(seconds=float(ctx.event.data["s"])))
        end = await ctx.step.run("after", after)
        return end - start

    @client.create_function(fn_id="waiter", trigger=ev("test/wait"))
    async def waiter(ctx: inngest.Context) -> Any:
        reply = await ctx.step.wait_for_event(
            "reply",
            event="test/wait.reply",
            if_exp="async.data.id == event.data.id",
            timeout=datetime.timedelta(seconds=float(ctx.event.data.get("timeout", 5))),
        )
        return None if reply is None else reply.data

    @client.create_function(fn_id="child", trigger=ev("test/child"))
    async def child(ctx: inngest.Context) -> dict[str, Any]:
        async def body() -> int:
            ledger.record(ctx.run_id, "child", ctx.attempt)
            return int(ctx.event.data["x"]) * 2

        return {"doubled": await ctx.step.run("double", body)}

    @client.create_function(fn_id="parent", trigger=ev("test/parent"))
    async def parent(ctx: inngest.Context) -> Any:
        return await ctx.step.invoke("call-child", function=child, data={"x": 21})

    @client.create_function(fn_id="fanout", trigger=ev("test/parallel"))
    async def fanout(ctx: inngest.Context) -> list[int]:
        def branch(i: int) -> Any:
            async def body() -> int:
                ledger.record(ctx.run_id, f"p{i}", ctx.attempt)
                await asyncio.sleep(0.05)
                return i * 10

            return lambda: ctx.step.run(f"p{i}", body)

        results = await ctx.group.parallel(tuple(branch(i) for i in range(3)))
        total = await ctx.step.run("sum", lambda: sum(results))
        return [*results, total]

    async def on_failure(ctx: inngest.Context) -> None:
        ledger.record(
            ctx.run_id,
            "on_failure",
            ctx.attempt,
            failed_run=ctx.event.data["run_id"],
            message=ctx.event.data["error"]["message"],
        )

    @client.create_function(
        fn_id="doomed", trigger=ev("test/doomed"), retries=0, on_failure=on_failure
    )
    async def doomed(ctx: inngest.Context) -> None:
        raise RuntimeError("doomed to fail")

    @client.create_function(
        fn_id="cancellable",
        trigger=ev("test/cancellable"),
        cancel=[
            inngest.Cancel(event="test/cancellable.stop", if_exp="async.data.id == event.data.id")
        ],
    )
    async def cancellable(ctx: inngest.Context) -> str:
        await ctx.step.sleep("long", datetime.timedelta(seconds=30))
        return "not cancelled"

    @client.create_function(
        fn_id="serial",
        trigger=ev("test/serial"),
        concurrency=[inngest.Concurrency(limit=1, key="event.data.key")],
    )
    async def serial(ctx: inngest.Context) -> str:
        key = str(ctx.event.data["key"])

        async def body() -> str:
            with ledger.lock:
                ledger.active[key] = ledger.active.get(key, 0) + 1
                ledger.max_active[key] = max(ledger.max_active.get(key, 0), ledger.active[key])
            await asyncio.sleep(0.1)
            with ledger.lock:
                ledger.active[key] -= 1
            ledger.record(ctx.run_id, "serial", ctx.attempt, key=key)
            return key

        return await ctx.step.run("work", body)

    @client.create_function(fn_id="once", trigger=ev("test/once"), idempotency="event.data.uid")
    async def once(ctx: inngest.Context) -> str:
        return str(ctx.event.data["uid"])

    @client.create_function(fn_id="sync-fn", trigger=ev("test/sync"))
    def sync_fn(ctx: inngest.ContextSync) -> int:
        def body() -> int:
            ledger.record(ctx.run_id, "sync-step", ctx.attempt)
            return 40

        return ctx.step.run("sync-step", body) + 2

    @client.create_function(fn_id="chain", trigger=ev("test/chain"))
    async def chain(ctx: inngest.Context) -> int:
        """Several steps with a small sleep between: the crash test's workload."""
        total = 0
        for i in range(int(ctx.event.data.get("steps", 5))):

            async def body(i: int = i) -> int:
                ledger.record(ctx.run_id, f"s{i}", ctx.attempt)
                await asyncio.sleep(0.02)
                return i

            total += await ctx.step.run(f"s{i}", body)
        return total

    return [
        sequential,
        flaky,
        non_retriable,
        retry_after,
        catches,
        sleeper,
        waiter,
        child,
        parent,
        fanout,
        doomed,
        cancellable,
        serial,
        once,
        sync_fn,
        chain,
    ]
