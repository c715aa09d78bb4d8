"""Executor overhead: how much a durable step transition costs over the bare SDK.

Runs a real-SDK FastAPI app (one function, M sequential no-op `step.run` steps)
under the embedded executor in this process (ASGI transport, SQLite WAL in a
temporary directory) and measures:

* throughput: N events sent at once (N runs in flight), N x M / wall time;
* per-transition latency: the gap between step k and step k+1 of one run, taken
  from `time.perf_counter()` stamps recorded inside the step bodies (one full
  round trip: end of call k in the SDK, persistence, queue, next call, SDK replay);
  measured unloaded (one run at a time) and loaded (N in flight);
* executor-side time per transition from the executor's own `exec_attempts` rows:
  the gap between the end of one call and the start of the next call of a run;
* two floors in the same process: the step bodies called directly (N x M awaits),
  and the same function driven through the SDK handler by a minimal in-memory
  loop (same ASGI transport and request format, memos kept in a dict, nothing
  persisted).

* DBOS Transact as a contender (bench/dbos_contender.py): the same N workflows of M
  no-op steps, SQLite WAL + synchronous=NORMAL for both, rounds alternating with the
  executor's batches; the ratio printed is pagerunner's cost per step / DBOS's.

    uv run python bench/executor_overhead.py [--runs N --steps M --repeat R] [--json PATH]
    uv run --group bench python bench/executor_overhead.py ...   # with DBOS (optional group)

Without the `bench` group (CI) dbos is not importable and the DBOS contender is skipped
with a message. It reports PASS/FAIL against the targets but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import sqlalchemy as sa
from common import distribution, free_port, machine, progress, quiet_logs, report

from pagerunner.executor import Executor, ExecutorConfig, running_executor
from pagerunner.executor.calls import build_request, call_url, interpret
from pagerunner.executor.ids import new_ulid
from pagerunner.executor.store.schema import attempts, runs
from pagerunner.executor.transport import AppTransport

try:
    import dbos_contender as dbos_contender  # also for bench/scaling_curve.py
except ImportError as exc:  # the optional `bench` group is not installed
    dbos_contender = None  # type: ignore[assignment]
    DBOS_MISSING = f"DBOS contender skipped ({exc}); run with `uv run --group bench ...`"
else:
    DBOS_MISSING = ""

APP_ORIGIN = "http://bench.internal"
APP_URL = f"{APP_ORIGIN}/api/inngest"
EVENT_NAME = "bench/steps"
TARGET_P50_MS = 5.0  # per step transition, p50
TARGET_RATE = 200.0  # step transitions/s with 50 runs in flight
TARGET_VS_DBOS = {(50, 20): 1.5, (1, 200): 3.0}  # pagerunner / DBOS cost per step (issue 10)
TERMINAL = frozenset({"Completed", "Failed", "Cancelled"})
POLL_S = 0.1

StepBody = Callable[[str, int], Awaitable[int]]


# -- the app -----------------------------------------------------------------------------


class Recorder:
    """perf_counter stamps of every step body execution, per run."""

    def __init__(self) -> None:
        self.stamps: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def clear(self) -> None:
        self.stamps.clear()

    def gaps_ms(self) -> list[float]:
        """Time between consecutive step bodies of the same run (one transition each)."""
        gaps: list[float] = []
        for stamps in self.stamps.values():
            ordered = [t for _, t in sorted(stamps)]
            gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(ordered))
        return gaps


def make_step_body(recorder: Recorder) -> StepBody:
    async def noop_step(run_id: str, k: int) -> int:
        recorder.stamps[run_id].append((k, time.perf_counter()))
        return k

    return noop_step


def build_app(api_origin: str, step_body: StepBody) -> fastapi.FastAPI:
    client = inngest.Inngest(
        app_id="bench",
        is_production=False,
        api_base_url=api_origin,
        event_api_base_url=api_origin,
    )

    @client.create_function(
        fn_id="steps", trigger=inngest.TriggerEvent(event=EVENT_NAME), retries=0
    )
    async def steps_fn(ctx: inngest.Context) -> int:
        n_steps = ctx.event.data["steps"]
        assert isinstance(n_steps, int)
        total = 0
        for k in range(n_steps):
            total += await ctx.step.run(f"s{k}", step_body, ctx.run_id, k)
        return total

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [steps_fn])
    return app


def bench_app() -> tuple[fastapi.FastAPI, Recorder, StepBody, int]:
    """The app with its recorder and step body, and the port its executor will serve on."""
    recorder = Recorder()
    body = make_step_body(recorder)
    port = free_port()
    return build_app(f"http://127.0.0.1:{port}", body), recorder, body, port


@contextlib.asynccontextmanager
async def synced_executor(
    app: fastapi.FastAPI, port: int, db_url: str, max_inflight: int
) -> AsyncIterator[tuple[Executor, str]]:
    """The embedded executor in this process, calling `app` over ASGI, with the app synced;
    yields it and the one function's id."""
    config = ExecutorConfig(db_url=db_url, app_urls=(APP_URL,), max_inflight=max_inflight)
    async with running_executor(config, port=port, asgi_apps={APP_ORIGIN: app}) as executor:
        fns = [f.id for f in executor.registry.all()]
        if len(fns) != 1:
            raise RuntimeError(f"app sync failed: functions registered = {fns}")
        yield executor, fns[0]


# -- figures -----------------------------------------------------------------------------


@dataclass
class Batch:
    """One measured batch of runs."""

    runs: int
    steps: int
    wall_s: float
    step_gaps_ms: list[float] = field(default_factory=list)
    executor_gaps_ms: list[float] = field(default_factory=list)
    call_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.runs * self.steps / self.wall_s


# -- executor phases ---------------------------------------------------------------------


async def attempt_timings(executor: Executor, run_ids: Sequence[str]) -> tuple[list[float], ...]:
    """From exec_attempts: (executor time between calls, call durations), in ms."""
    query = (
        sa.select(attempts.c.run_id, attempts.c.started_at, attempts.c.ended_at)
        .where(attempts.c.run_id.in_(list(run_ids)))
        .order_by(attempts.c.run_id, attempts.c.id)
    )
    rows = await executor.db.read(lambda conn: conn.execute(query).all())
    between: list[float] = []
    calls: list[float] = []
    previous: Any = None
    for row in rows:
        calls.append((row.ended_at - row.started_at) * 1000)
        if previous is not None and previous.run_id == row.run_id:
            between.append((row.started_at - previous.ended_at) * 1000)
        previous = row
    return between, calls


async def wait_all(executor: Executor, run_ids: Sequence[str], timeout_s: float = 600) -> Any:
    """Poll until every run has ended; one query per poll, 5 ms after the start, then
    twice as long each time up to POLL_S.

    `Executor.wait_for_run` polls each run every 20 ms; that read load would be
    counted as executor cost here, so the benchmark polls all runs at once, less
    often (a short batch is seen to end soon after it does, so that batches
    repeated one after the other are not mostly waiting). The wall time is taken
    from the runs' `ended_at`, not from the poll.
    """
    deadline = time.monotonic() + timeout_s
    query = sa.select(runs.c.status, runs.c.ended_at).where(runs.c.id.in_(list(run_ids)))
    pause = 0.005
    while True:
        rows = await executor.db.read(lambda conn: conn.execute(query).all())
        if all(r.status in TERMINAL for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs did not finish within {timeout_s}s")
        await asyncio.sleep(pause)
        pause = min(POLL_S, pause * 2)


async def executor_batch(
    executor: Executor, recorder: Recorder, n_runs: int, n_steps: int, *, timings: bool = True
) -> Batch:
    """Send n_runs events at once, wait for every run; wall = first send to last run end.
    With `timings`, the executor's and the app's share of each call are read afterwards."""
    recorder.clear()
    events = [{"name": EVENT_NAME, "data": {"steps": n_steps, "i": i}} for i in range(n_runs)]
    t0 = time.time()
    event_ids = await executor.send_events(events)
    run_ids = [r for e in event_ids for r in await executor.runs_for_event(e)]
    if len(run_ids) != n_runs:
        raise RuntimeError(f"expected {n_runs} runs, got {len(run_ids)} (is the app synced?)")
    rows = await wait_all(executor, run_ids)
    failed = [r.status for r in rows if r.status != "Completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not complete: {failed[:3]}")
    between, calls = await attempt_timings(executor, run_ids) if timings else ([], [])
    wall = max(r.ended_at for r in rows) - t0
    return Batch(n_runs, n_steps, wall, recorder.gaps_ms(), between, calls)


async def executor_sequential(
    executor: Executor, recorder: Recorder, n_runs: int, n_steps: int
) -> Batch:
    """n_runs runs one after the other: per-transition latency with nothing else in flight."""
    total = Batch(n_runs, n_steps, 0.0)
    for _ in range(n_runs):
        one = await executor_batch(executor, recorder, 1, n_steps)
        total.wall_s += one.wall_s
        total.step_gaps_ms += one.step_gaps_ms
        total.executor_gaps_ms += one.executor_gaps_ms
        total.call_ms += one.call_ms
    return total


# -- floors ------------------------------------------------------------------------------


async def inmemory_run(transport: AppTransport, fn_id: str, n_steps: int) -> None:
    """Drive one run through the SDK handler: memos in a dict, nothing persisted."""
    run_id = new_ulid()
    event = {
        "name": EVENT_NAME,
        "data": {"steps": n_steps},
        "id": new_ulid(),
        "ts": int(time.time() * 1000),
        "user": {},
    }
    memo: dict[str, Any] = {}
    stack: list[str] = []
    url = call_url(APP_URL, fn_id, "step")
    while True:
        body, headers = build_request(
            run_id=run_id,
            events=[event],
            memo=memo,
            stack=stack,
            attempt=0,
            max_attempts=1,
            force_plan=False,
            signing_key=None,
        )
        outcome = interpret(await transport.request("POST", url, body=body, headers=headers), ())
        if outcome.kind == "completed":
            return
        if outcome.kind != "ops":
            raise RuntimeError(f"in-memory loop: call failed: {outcome.error}")
        for op in outcome.ops:
            if op.get("op") not in ("StepRun", "Step"):
                raise RuntimeError(f"in-memory loop: unexpected op {op.get('op')}")
            memo[str(op["id"])] = {"data": op.get("data")}
            stack.append(str(op["id"]))


async def inmemory_batch(
    transport: AppTransport, recorder: Recorder, fn_id: str, n_runs: int, n_steps: int
) -> Batch:
    recorder.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(inmemory_run(transport, fn_id, n_steps) for _ in range(n_runs)))
    return Batch(n_runs, n_steps, time.perf_counter() - t0, recorder.gaps_ms())


async def inmemory_sequential(
    transport: AppTransport, recorder: Recorder, fn_id: str, n_runs: int, n_steps: int
) -> Batch:
    total = Batch(n_runs, n_steps, 0.0)
    for _ in range(n_runs):
        one = await inmemory_batch(transport, recorder, fn_id, 1, n_steps)
        total.wall_s += one.wall_s
        total.step_gaps_ms += one.step_gaps_ms
    return total


async def direct_floor(body: StepBody, recorder: Recorder, n_runs: int, n_steps: int) -> Batch:
    """The step bodies awaited directly in a loop: N x M calls, no SDK, no executor."""
    recorder.clear()
    t0 = time.perf_counter()
    for i in range(n_runs):
        run_id = f"direct-{i}"
        for k in range(n_steps):
            await body(run_id, k)
    wall = time.perf_counter() - t0
    recorder.clear()
    return Batch(n_runs, n_steps, wall)


# -- the benchmark -----------------------------------------------------------------------


@dataclass
class Contenders:
    """The executor's measured batches and DBOS's, round by round."""

    executor: list[Batch] = field(default_factory=list)
    dbos: list[Batch] = field(default_factory=list)
    dbos_settings: dict[str, Any] = field(default_factory=dict)


async def dbos_recorded_batch(recorder: Recorder, n_runs: int, n_steps: int) -> Batch:
    recorder.clear()
    one = await dbos_contender.dbos_batch(recorder, n_runs, n_steps)
    return Batch(n_runs, n_steps, one.wall_s, recorder.gaps_ms())


async def alternating_rounds(
    args: argparse.Namespace, executor: Executor, recorder: Recorder, tmp: Path
) -> Contenders:
    """R rounds of the executor's batch and, when DBOS runs, DBOS's; who goes first
    alternates from round to round so both see the same drift in the machine's load.

    DBOS makes its own thread pool the loop's default executor at every step (and shuts
    it down when destroyed); pagerunner's batches run with asyncio's usual default pool,
    set back before each of them, as they would without DBOS in the process."""
    out = Contenders()
    loop = asyncio.get_running_loop()
    own_pool = ThreadPoolExecutor(thread_name_prefix="asyncio")  # asyncio's default
    loop.set_default_executor(own_pool)
    with contextlib.ExitStack() as stack:
        stack.callback(loop.set_default_executor, own_pool)
        if args.dbos:
            url = args.dbos_url or dbos_contender.sqlite_url(tmp / "dbos.db")
            out.dbos_settings = stack.enter_context(dbos_contender.running_dbos(url))
            progress(f"DBOS: warm-up ({out.dbos_settings})")
            await dbos_recorded_batch(recorder, min(args.runs, 5), args.steps)
        for r in range(args.repeat):
            order = ["executor", "dbos"] if r % 2 == 0 else ["dbos", "executor"]
            for who in order:
                if who == "dbos" and not args.dbos:
                    continue
                progress(f"{who}: {args.runs} runs in flight ({r + 1}/{args.repeat})")
                if who == "dbos":
                    out.dbos.append(await dbos_recorded_batch(recorder, args.runs, args.steps))
                else:
                    loop.set_default_executor(own_pool)
                    out.executor.append(
                        await executor_batch(executor, recorder, args.runs, args.steps)
                    )
    return out


@dataclass
class Results:
    args: dict[str, Any]
    executor_loaded: list[Batch]
    executor_unloaded: Batch
    inmemory_loaded: list[Batch]
    inmemory_unloaded: Batch
    direct: list[Batch]
    dbos: list[Batch] = field(default_factory=list)
    dbos_settings: dict[str, Any] = field(default_factory=dict)


async def run_executor_phases(
    args: argparse.Namespace, app: fastapi.FastAPI, recorder: Recorder, port: int
) -> tuple[str, Batch, Contenders]:
    with tempfile.TemporaryDirectory(prefix="pagerunner-bench-") as tmp:
        db_url = args.db_url or str(Path(tmp) / "bench.db")
        async with synced_executor(app, port, db_url, args.max_inflight) as (executor, fn_id):
            progress("executor: warm-up")
            await executor_batch(executor, recorder, min(args.runs, 5), args.steps)
            progress(f"executor: {args.latency_runs} runs one at a time")
            unloaded = await executor_sequential(executor, recorder, args.latency_runs, args.steps)
            loaded = await alternating_rounds(args, executor, recorder, Path(tmp))
    return fn_id, unloaded, loaded


async def run_floor_phases(
    args: argparse.Namespace,
    app: fastapi.FastAPI,
    recorder: Recorder,
    body: StepBody,
    fn_id: str,
) -> tuple[Batch, list[Batch], list[Batch]]:
    transport = AppTransport(asgi_apps={APP_ORIGIN: app})
    try:
        progress("in-memory SDK loop: warm-up")
        await inmemory_batch(transport, recorder, fn_id, min(args.runs, 5), args.steps)
        unloaded = await inmemory_sequential(
            transport, recorder, fn_id, args.latency_runs, args.steps
        )
        loaded = []
        for r in range(args.repeat):
            progress(f"in-memory SDK loop: {args.runs} runs in flight ({r + 1}/{args.repeat})")
            loaded.append(await inmemory_batch(transport, recorder, fn_id, args.runs, args.steps))
    finally:
        await transport.aclose()
    direct = [await direct_floor(body, recorder, args.runs, args.steps) for _ in range(args.repeat)]
    return unloaded, loaded, direct


async def bench(args: argparse.Namespace) -> Results:
    app, recorder, body, port = bench_app()
    fn_id, ex_unloaded, ex_loaded = await run_executor_phases(args, app, recorder, port)
    mem_unloaded, mem_loaded, direct = await run_floor_phases(args, app, recorder, body, fn_id)
    return Results(
        vars(args),
        ex_loaded.executor,
        ex_unloaded,
        mem_loaded,
        mem_unloaded,
        direct,
        ex_loaded.dbos,
        ex_loaded.dbos_settings,
    )


# -- report ------------------------------------------------------------------------------


def dist_ms(values_ms: Sequence[float]) -> dict[str, float]:
    """The distribution of step-transition times (already in ms): n, p50, p95, max, mean."""
    return distribution(values_ms, (50, 95))


def median_batch_rate(batches: Sequence[Batch]) -> float:
    return statistics.median(b.rate for b in batches)


def pooled(batches: Sequence[Batch], attr: str) -> list[float]:
    return [v for b in batches for v in getattr(b, attr)]


def summarize_dbos(res: Results) -> dict[str, Any]:
    """DBOS's rate per round and pagerunner / DBOS cost per step, round by round."""
    if not res.dbos:
        return {"skipped": DBOS_MISSING or "DBOS contender not requested (--no-dbos)"}
    ratios = [d.rate / e.rate for e, d in zip(res.executor_loaded, res.dbos, strict=True)]
    return {
        "settings": res.dbos_settings,
        "store": res.args.get("dbos_url") or "SQLite (WAL, synchronous=NORMAL), temp dir",
        "per_s": median_batch_rate(res.dbos),
        "per_s_each_round": [d.rate for d in res.dbos],
        "step_gap": dist_ms(pooled(res.dbos, "step_gaps_ms")),
        "ratio_each_round": ratios,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "target": TARGET_VS_DBOS.get((res.args["runs"], res.args["steps"])),
    }


def render_dbos(s: dict[str, Any]) -> list[str]:
    d, ex = s["dbos"], s["throughput"]
    if "skipped" in d:
        return [f"  {d['skipped']}", ""]
    target = d["target"]
    verdict = ""
    if target is not None:
        ok = d["ratio_median"] <= target
        verdict = f"  target <= {target}x: {'PASS' if ok else 'FAIL'}"
    return [
        f"DBOS {d['settings'].get('dbos')} ({d['store']}; read back: {d['settings']})",
        "  rate per round, pagerunner: "
        + ", ".join(f"{r:.1f}" for r in ex["executor_per_s_each_repeat"])
        + "; DBOS: "
        + ", ".join(f"{r:.1f}" for r in d["per_s_each_round"]),
        f"  DBOS median {d['per_s']:.1f} steps/s ({1000 / d['per_s']:.3f} ms/step), "
        f"step gap p50 {d['step_gap']['p50']:.2f} ms, p95 {d['step_gap']['p95']:.2f} ms",
        f"  pagerunner / DBOS cost per step: median {d['ratio_median']:.2f}x "
        f"(range {d['ratio_min']:.2f}-{d['ratio_max']:.2f}x){verdict}",
        "",
    ]


def summarize(res: Results) -> dict[str, Any]:
    ex_rate = median_batch_rate(res.executor_loaded)
    mem_rate = median_batch_rate(res.inmemory_loaded)
    direct_rate = median_batch_rate(res.direct)
    unloaded = dist_ms(res.executor_unloaded.step_gaps_ms)
    return {
        "config": {k: v for k, v in res.args.items() if k != "json"},
        "machine": machine(
            store=res.args.get("db_url") or "SQLite (WAL, synchronous=NORMAL), temp dir"
        ),
        "throughput": {
            "executor_per_s": ex_rate,
            "executor_per_s_each_repeat": [b.rate for b in res.executor_loaded],
            "executor_wall_s_each_repeat": [b.wall_s for b in res.executor_loaded],
            "inmemory_sdk_per_s": mem_rate,
            "direct_per_s": direct_rate,
        },
        "per_step_ms": {
            "executor": 1000 / ex_rate,
            "inmemory_sdk": 1000 / mem_rate,
            "direct": 1000 / direct_rate,
        },
        "ratio": {
            "executor_vs_inmemory_sdk": mem_rate / ex_rate,
            "executor_vs_direct": direct_rate / ex_rate,
        },
        "transition_unloaded": {
            "executor_step_gap": unloaded,
            "executor_between_calls": dist_ms(res.executor_unloaded.executor_gaps_ms),
            "executor_call": dist_ms(res.executor_unloaded.call_ms),
            "inmemory_sdk_step_gap": dist_ms(res.inmemory_unloaded.step_gaps_ms),
        },
        "transition_loaded": {
            "executor_step_gap": dist_ms(pooled(res.executor_loaded, "step_gaps_ms")),
            "executor_between_calls": dist_ms(pooled(res.executor_loaded, "executor_gaps_ms")),
            "executor_call": dist_ms(pooled(res.executor_loaded, "call_ms")),
            "inmemory_sdk_step_gap": dist_ms(pooled(res.inmemory_loaded, "step_gaps_ms")),
        },
        "targets": {
            "p50_transition_ms": TARGET_P50_MS,
            "p50_pass": unloaded["p50"] <= TARGET_P50_MS,
            "transitions_per_s": TARGET_RATE,
            "rate_pass": ex_rate >= TARGET_RATE,
            "rate_runs_in_flight": res.args["runs"],
        },
        "dbos": summarize_dbos(res),
    }


def render(s: dict[str, Any]) -> str:
    c, t, p, u, ld, tg = (
        s["config"],
        s["throughput"],
        s["per_step_ms"],
        s["transition_unloaded"],
        s["transition_loaded"],
        s["targets"],
    )
    m = s["machine"]

    def row(label: str, d: dict[str, Any]) -> str:
        figures = f"{d['p50']:>9.2f} {d['p95']:>9.2f} {d['mean']:>9.2f} {d['n']:>7}"
        return f"  {label:<48} {figures}"

    lines = [
        "",
        f"Executor overhead: {c['runs']} runs x {c['steps']} steps, repeat {c['repeat']}, "
        f"max_inflight {c['max_inflight']}",
        f"machine: {m['cpus']} cpus, Python {m['python']}, {m['store']}",
        "",
        f"  {'throughput (step transitions = runs x steps)':<48} {'per s':>9} {'ms/step':>9}",
        f"  {'executor, ' + str(c['runs']) + ' runs in flight':<48} "
        f"{t['executor_per_s']:>9.1f} {p['executor']:>9.3f}",
        f"  {'in-memory SDK loop (no persistence)':<48} "
        f"{t['inmemory_sdk_per_s']:>9.1f} {p['inmemory_sdk']:>9.3f}",
        f"  {'direct step-body calls':<48} {t['direct_per_s']:>9.0f} {p['direct']:>9.5f}",
        f"  ratio executor / in-memory SDK loop: {s['ratio']['executor_vs_inmemory_sdk']:.1f}x;"
        f"  executor / direct calls: {s['ratio']['executor_vs_direct']:.0f}x",
        "  executor rate per repeat: "
        + ", ".join(f"{r:.1f}" for r in t["executor_per_s_each_repeat"]),
        "",
        f"  {'per step transition (ms)':<48} {'p50':>9} {'p95':>9} {'mean':>9} {'n':>7}",
        row("1 run in flight: step k -> k+1, executor", u["executor_step_gap"]),
        row("  of which executor between calls (attempts)", u["executor_between_calls"]),
        row("  call into the app (attempts)", u["executor_call"]),
        row("1 run in flight: step k -> k+1, in-memory SDK", u["inmemory_sdk_step_gap"]),
        row(f"{c['runs']} in flight: step k -> k+1, executor", ld["executor_step_gap"]),
        row("  of which executor between calls (attempts)", ld["executor_between_calls"]),
        row("  call into the app (attempts)", ld["executor_call"]),
        row(f"{c['runs']} in flight: step k -> k+1, in-memory SDK", ld["inmemory_sdk_step_gap"]),
        "",
        *render_dbos(s),
        "targets:",
        f"  p50 step transition <= {tg['p50_transition_ms']:.0f} ms (1 run in flight): "
        f"{u['executor_step_gap']['p50']:.2f} ms  {'PASS' if tg['p50_pass'] else 'FAIL'}",
        f"  >= {tg['transitions_per_s']:.0f} step transitions/s with {tg['rate_runs_in_flight']} "
        f"runs in flight: {t['executor_per_s']:.1f}/s  {'PASS' if tg['rate_pass'] else 'FAIL'}",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50, help="runs in flight (events sent at once)")
    parser.add_argument("--steps", type=int, default=20, help="sequential steps per run")
    parser.add_argument("--repeat", type=int, default=3, help="measured batches of --runs runs")
    parser.add_argument(
        "--latency-runs", type=int, default=10, help="runs executed one at a time (unloaded)"
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=ExecutorConfig.max_inflight,
        help="ExecutorConfig.max_inflight (default: the executor's default)",
    )
    parser.add_argument(
        "--no-dbos",
        dest="dbos",
        action="store_false",
        help="skip the DBOS contender (skipped anyway when dbos is not installed)",
    )
    parser.add_argument(
        "--db-url",
        default=None,
        help="the executor's database URL (default: SQLite in the temp dir; postgresql://...)",
    )
    parser.add_argument(
        "--dbos-url",
        default=None,
        help="DBOS system database URL (default: SQLite in the temp dir; postgresql://...)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.runs, args.steps, args.repeat, args.latency_runs) < 1:
        parser.error("--runs, --steps, --repeat and --latency-runs must be >= 1")
    if args.dbos and dbos_contender is None:
        print(DBOS_MISSING, file=sys.stderr)
        args.dbos = False
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    summary = summarize(asyncio.run(bench(args)))
    report(render(summary), summary, args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
