"""What a call into the Inngest Python SDK costs as its run's memos grow: the replay.

Every call of a run re-sends the memos of the steps before it and the SDK replays
them (looks each one up, rebuilds its output) before it reaches the step to run.
This times that cost alone, in this process, with no executor, database or network:

* an SDK function shaped like `execute-query` when paced: a loop of a page step
  (`step.run`, returning the dict a page step returns) and its delay
  (`step.sleep_until`), served by `inngest.fast_api.serve` on a FastAPI app;
* for P = 0, 5, 10, 25, 50 pages done, the request the executor would send after
  them (2 P memos, built by `pagerunner.executor.calls.build_request`), posted to
  the app as ASGI (`pagerunner.executor.transport`'s in-process call) N times;
* CPU per call (`time.process_time`), the median of `--repeat` rounds, the sizes
  alternating; the baseline is the call with no memo (P = 0) in the same run:
  each size's ratio to it, and the cost per memo (the slope against P = 0).

    uv run python bench/sdk_replay.py [--pages 0,5,10,25,50] [--calls 300] [--repeat 3]

`PAGERUNNER_PAGES_PER_RUN` bounds the memos of a run (docs/queries.md); this is the
cost it bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import fastapi
import inngest
import inngest.fast_api
from common import machine, progress, report
from inngest._internal.transforms import hash_step_id

from pagerunner.executor.calls import RawJSON, build_request
from pagerunner.executor.transport import AppTransport

APP_ORIGIN = "http://sdk-replay.local"
URL = f"{APP_ORIGIN}/api/inngest?fnId=sdk-replay-paced&stepId=step"
PAGE_MEMO = (
    '{"data":{"answered_at":1796594862.7984471,"inserted":20,"next":"continue",'
    '"sent_at":1796594862.7954514}}'
)
EVENT = {"name": "bench/replay", "data": {"queryId": "q"}, "id": "e", "ts": 1, "user": {}}


def paced_app() -> fastapi.FastAPI:
    """A FastAPI app serving one SDK function: page steps and delays, forever."""
    client = inngest.Inngest(
        app_id="sdk-replay", is_production=False, logger=logging.getLogger("sdk-replay")
    )

    async def page() -> dict[str, Any]:
        return {"answered_at": 1.0, "inserted": 20, "next": "continue", "sent_at": 1.0}

    @client.create_function(fn_id="paced", trigger=inngest.TriggerEvent(event="bench/replay"))
    async def paced(ctx: inngest.Context) -> None:
        for n in range(1, 100_000):
            await ctx.step.run(f"page-{n}", page)
            until = datetime.datetime.fromtimestamp(1_800_000_000 + n, datetime.UTC)
            await ctx.step.sleep_until(f"delay-{n + 1}", until)

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [paced])
    return app


def request_after(pages: int) -> tuple[bytes, dict[str, str]]:
    """The call after `pages` page steps and their delays: 2 x pages memos."""
    memo: dict[str, Any] = {}
    stack: list[str] = []
    for n in range(1, pages + 1):
        for step_id, value in ((f"page-{n}", PAGE_MEMO), (f"delay-{n + 1}", "null")):
            hashed = hash_step_id(step_id)
            memo[hashed] = RawJSON(value)
            stack.append(hashed)
    return build_request(
        run_id="run",
        events=[EVENT],
        memo=memo,
        stack=stack,
        attempt=0,
        max_attempts=4,
        force_plan=False,
        signing_key=None,
        request_version=1,
    )


async def cpu_ms_per_call(
    transport: AppTransport, request: tuple[bytes, dict[str, str]], calls: int
) -> float:
    body, headers = request
    started = time.process_time()
    for _ in range(calls):
        answer = await transport.request("POST", URL, body=body, headers=headers)
        if answer.status != 206:  # the next step's result, as the SDK answers it
            raise RuntimeError(f"the SDK answered {answer.status}: {answer.body[:200]!r}")
    return (time.process_time() - started) / calls * 1000


async def measure(args: argparse.Namespace) -> dict[int, list[float]]:
    transport = AppTransport(asgi_apps={APP_ORIGIN: paced_app()})
    requests = {p: request_after(p) for p in args.pages}
    for request in requests.values():  # warm up: imports, caches
        await cpu_ms_per_call(transport, request, 20)
    rounds: dict[int, list[float]] = {p: [] for p in args.pages}
    for r in range(args.repeat):
        progress(f"round {r + 1}/{args.repeat}")
        for p in args.pages:
            rounds[p].append(await cpu_ms_per_call(transport, requests[p], args.calls))
    await transport.aclose()
    return rounds


def summarize(args: argparse.Namespace, rounds: dict[int, list[float]]) -> dict[str, Any]:
    median = {p: statistics.median(ms) for p, ms in rounds.items()}
    base = median[min(median)]
    sizes = [
        {
            "pages": p,
            "memos": 2 * p,
            "cpu_ms_per_call": median[p],
            "rounds": rounds[p],
            "vs_no_memo": median[p] / base,
            "us_per_memo": (median[p] - base) / (2 * p) * 1000 if p else None,
        }
        for p in sorted(median)
    ]
    return {
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine(sdk=version("inngest")),
        "sizes": sizes,
    }


def render(s: dict[str, Any]) -> str:
    m = s["machine"]
    lines = [
        "",
        "Inngest SDK replay: CPU per call of a paced page loop, by the memos it replays",
        f"machine: {m['cpus']} cpus, Python {m['python']}, inngest {m['sdk']}",
        "",
        f"  {'pages':>5} {'memos':>5} {'CPU ms/call':>11} {'vs 0 memos':>10} "
        f"{'µs/memo':>8}  rounds",
    ]
    for z in s["sizes"]:
        per_memo = "-" if z["us_per_memo"] is None else f"{z['us_per_memo']:.1f}"
        rounds = ", ".join(f"{ms:.3f}" for ms in z["rounds"])
        lines.append(
            f"  {z['pages']:>5} {z['memos']:>5} {z['cpu_ms_per_call']:>11.3f} "
            f"{z['vs_no_memo']:>9.2f}x {per_memo:>8}  {rounds}"
        )
    return "\n".join([*lines, ""])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--pages",
        type=lambda v: sorted({int(x) for x in v.split(",")}),
        default=[0, 5, 10, 25, 50],
        help="pages done before the call (comma-separated; the smallest is the baseline)",
    )
    parser.add_argument("--calls", type=int, default=300, help="calls per size and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, the sizes alternating")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.pages) < 0 or args.calls < 1 or args.repeat < 1:
        parser.error("--pages must be >= 0, --calls and --repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    summary = summarize(args, asyncio.run(measure(args)))
    report(render(summary), summary, args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
