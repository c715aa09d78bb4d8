"""One long query: cost per page at pages 10, 1,000 and 2,000, and the steps per run.

Starts `pagerunner serve` as a subprocess (SQLite in a temporary directory, the
demo source unlimited, PAGERUNNER_PAGE_DELAY_S=0, PAGERUNNER_PAGES_PER_RUN left at
its default unless --pages-per-run is given) and runs one demo query of P pages
(`total:P x 20`, `max_pages` P). When it has completed:

* cost per page at page n: the gap between the `fetched_at` of pages n-1 and n in
  the page log (everything a page costs with no delay: the executor's transitions,
  the SDK's replay, the fetch, the store), median over the W pages ending at n;
  gaps that cross from one run to the next (a hand-over) are counted apart; and the
  same gaps pooled by position in the run over every run (first W pages / last W);
* the page step's own call (`page-n` in the executor's /v1/runs/{id}/steps):
  its attempt's duration, median over the same window;
* steps per run, from /v1/runs/{id}/steps for every run in the page log: the
  largest is the figure the issue bounds (no run over 500 steps).

`--repeat R` queries (default 3) run one after the other in the same `serve`: a
reading of 10 gaps of a few milliseconds swings by a third from one query to the
next on a shared machine, so the verdict is the median of the R ratios (every
ratio is shown).

    uv run python bench/long_query.py [--pages 2000] [--at 10,1000,2000] [--repeat 3] [--json PATH]

It prints the issue's targets with PASS/FAIL but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from common import load_average, machine, progress, report, verdict
from serve_process import Server, measure_serve, wait_ready

PAGE_SIZE = 20  # the demo source's default page size
TARGET_COST_RATIO = 1.2  # cost at the last page / cost at page 10
TARGET_MAX_STEPS = 500


def ts(value: str) -> float:
    return datetime.datetime.fromisoformat(value).timestamp()


async def run_query(client: httpx.AsyncClient, pages: int, timeout_s: float) -> dict[str, Any]:
    body = {
        "source": "demo",
        "params": {"q": f"long total:{pages * PAGE_SIZE}"},
        "max_pages": pages,
    }
    response = await client.post("/api/queries/run", json=body)
    response.raise_for_status()
    query_id = response.json()["id"]
    started = time.perf_counter()
    last_report = started
    while time.perf_counter() - started < timeout_s:
        q: dict[str, Any] = (await client.get(f"/api/queries/{query_id}")).json()
        if q["status"] not in ("pending", "running"):
            q["wall_s"] = time.perf_counter() - started
            return q
        if time.perf_counter() - last_report > 15:
            last_report = time.perf_counter()
            progress(f"{q['pages_fetched']} pages after {last_report - started:.0f}s")
        await asyncio.sleep(0.5)
    raise TimeoutError(f"query {query_id} did not finish within {timeout_s:.0f}s")


async def run_steps(executor: httpx.AsyncClient, run_ids: Sequence[str]) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    for run_id in run_ids:
        response = await executor.get(f"/v1/runs/{run_id}/steps")
        response.raise_for_status()
        steps[run_id] = response.json()["data"]
    return steps


def page_call_ms(steps: dict[str, Any]) -> dict[int, float]:
    """The page step's call duration per page number (`page-N`, first attempt)."""
    found: dict[int, float] = {}
    for run_steps in steps.values():
        for step in run_steps:
            name = str(step.get("name") or step.get("id") or "")
            if name.startswith("page-") and name[5:].isdigit() and step["attempts"]:
                found[int(name[5:])] = float(step["attempts"][0]["duration_ms"] or 0)
    return found


def cost_at(
    pages: list[dict[str, Any]], calls: dict[int, float], n: int, window: int
) -> dict[str, Any]:
    """Median gap between consecutive pages over the `window` pages ending at n (within a
    run), and the page step's call over the same pages."""
    by_number = {p["page_number"]: p for p in pages}
    gaps: list[float] = []
    handovers: list[float] = []
    for k in range(max(2, n - window + 1), n + 1):
        a, b = by_number.get(k - 1), by_number.get(k)
        if a is None or b is None:
            continue
        gap = (ts(b["fetched_at"]) - ts(a["fetched_at"])) * 1000
        (gaps if a["run_id"] == b["run_id"] else handovers).append(gap)
    own = [calls[k] for k in range(max(1, n - window + 1), n + 1) if k in calls]
    return {
        "page": n,
        "gap_ms_median": statistics.median(gaps) if gaps else float("nan"),
        "gaps": len(gaps),
        "handover_gaps_ms": handovers,
        "page_call_ms_median": statistics.median(own) if own else float("nan"),
        "fetch_ms_median": statistics.median(
            by_number[k]["duration_ms"] for k in range(max(1, n - window + 1), n + 1)
        ),
    }


def cost_by_position(pages: list[dict[str, Any]], window: int) -> dict[str, float]:
    """Median page gap over every run's first and last `window` pages (its 2nd page on, and
    up to its last): the growth within a run, pooled over all runs, less noisy than one
    10-page reading."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for p in pages:
        by_run.setdefault(str(p["run_id"]), []).append(p)
    early, late = [], []
    for run_pages in by_run.values():
        gaps = [
            (ts(b["fetched_at"]) - ts(a["fetched_at"])) * 1000
            for a, b in itertools.pairwise(run_pages)
        ]
        early += gaps[:window]
        late += gaps[-window:]
    return {
        "early_ms_median": statistics.median(early) if early else float("nan"),
        "late_ms_median": statistics.median(late) if late else float("nan"),
        "gaps_each": len(early),
    }


async def measure(args: argparse.Namespace, server: Server) -> list[dict[str, Any]]:
    results = []
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=120) as client,
        httpx.AsyncClient(base_url=server.executor_url, timeout=120) as ex,
    ):
        await wait_ready(server, client)
        for i in range(args.repeat):
            progress(
                f"query {i + 1}/{args.repeat} of {args.pages} pages (serve pid {server.proc.pid})"
            )
            query = await run_query(client, args.pages, args.timeout)
            pages = (await client.get(f"/api/queries/{query['id']}/pages")).json()["items"]
            run_ids = list(dict.fromkeys(p["run_id"] for p in pages if p["run_id"]))
            steps = await run_steps(ex, run_ids)
            results.append({"query": query, "pages": pages, "steps": steps})
    return results


def summarize_query(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    """One query's readings: the cost at each page of `--at`, pooled by position, steps."""
    query, pages, steps = res["query"], res["pages"], res["steps"]
    calls = page_call_ms(steps)
    costs = [cost_at(pages, calls, n, args.window) for n in args.at if n <= len(pages)]
    steps_per_run = sorted(len(s) for s in steps.values())
    handovers = [
        (ts(b["fetched_at"]) - ts(a["fetched_at"])) * 1000
        for a, b in itertools.pairwise(pages)
        if a["run_id"] != b["run_id"]
    ]
    pooled = cost_by_position(pages, args.window)
    return {
        "query": {k: query[k] for k in ("id", "status", "pages_fetched", "runs", "wall_s")},
        "completed": query["status"] == "completed" and len(pages) == args.pages,
        "pages_per_s": len(pages) / query["wall_s"],
        "cost_at": costs,
        "cost_ratio_last_vs_first": costs[-1]["gap_ms_median"] / costs[0]["gap_ms_median"],
        "cost_by_position_in_run": pooled,
        "pooled_ratio": pooled["late_ms_median"] / pooled["early_ms_median"],
        "handover_gap_ms_median": statistics.median(handovers) if handovers else None,
        "runs": len(steps_per_run),
        "steps_per_run_max": max(steps_per_run, default=0),
        "steps_per_run_min": min(steps_per_run, default=0),
    }


def summarize(
    args: argparse.Namespace, results: list[dict[str, Any]], load: list[float]
) -> dict[str, Any]:
    queries = [summarize_query(args, res) for res in results]
    ratios = [q["cost_ratio_last_vs_first"] for q in queries]
    ratio = statistics.median(ratios)
    max_steps = max(q["steps_per_run_max"] for q in queries)
    return {
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine(store="SQLite (WAL), temp dir", load_before=load),
        "queries": queries,
        "targets": {
            "completed": all(q["completed"] for q in queries),
            "cost_ratio_last_vs_first": ratio,
            "cost_ratios": ratios,
            "pooled_ratio": statistics.median(q["pooled_ratio"] for q in queries),
            "cost_pass": ratio <= TARGET_COST_RATIO,
            "steps_per_run_max": max_steps,
            "max_steps_pass": max_steps <= TARGET_MAX_STEPS,
        },
    }


def render(s: dict[str, Any]) -> str:
    t, m, cfg = s["targets"], s["machine"], s["config"]
    at = [c["page"] for c in s["queries"][0]["cost_at"]]
    cols = " ".join(f"{f'page {n}':>15}" for n in at)
    lines = [
        "",
        f"Long query: {cfg['repeat']} x {cfg['pages']} pages, demo source unlimited, page delay 0",
        f"machine: {m['cpus']} cpus, Python {m['python']}, {m['store']}, load {m['load_before']}",
        "a page's cost: the page gap / the page step's call, ms (p50 of the "
        f"{cfg['window']} pages ending there)",
        "",
        f"  {'query':>5} {'status':>9} {'pages/s':>8} {'runs':>5} {cols} {'last/first':>10}"
        f" {'pooled':>7} {'hand-over':>9} {'steps/run':>9}",
    ]
    for i, q in enumerate(s["queries"], 1):
        cells = " ".join(
            f"{c['gap_ms_median']:.1f} / {c['page_call_ms_median']:.1f}".rjust(15)
            for c in q["cost_at"]
        )
        handover = q["handover_gap_ms_median"]
        lines.append(
            f"  {i:>5} {q['query']['status']:>9} {q['pages_per_s']:>8.1f} {q['runs']:>5} {cells}"
            f" {q['cost_ratio_last_vs_first']:>9.2f}x {q['pooled_ratio']:>6.2f}x"
            f" {'-' if handover is None else f'{handover:.0f} ms':>9}"
            f" {q['steps_per_run_min']}-{q['steps_per_run_max']}"
        )
    ratios = ", ".join(f"{r:.2f}x" for r in t["cost_ratios"])
    lines += [
        "",
        "  last/first: the gap at the last page / at the first of --at; pooled: every run's "
        f"last {cfg['window']} page gaps / its first (p50 over all runs)",
        "",
        "targets (issue 10):",
        f"  completes: {verdict(t['completed'])}",
        f"  cost per page at the last page <= {TARGET_COST_RATIO}x page {at[0]}: "
        f"{t['cost_ratio_last_vs_first']:.2f}x  {verdict(t['cost_pass'])} "
        f"(the median of {len(t['cost_ratios'])}: {ratios}; pooled {t['pooled_ratio']:.2f}x)",
        f"  no run over {TARGET_MAX_STEPS} steps: {t['steps_per_run_max']}  "
        f"{verdict(t['max_steps_pass'])}",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=2000, help="pages of the query")
    parser.add_argument(
        "--at",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[10, 1000, 2000],
        help="pages where the cost is read (comma-separated)",
    )
    parser.add_argument("--window", type=int, default=10, help="pages per cost reading")
    parser.add_argument("--repeat", type=int, default=3, help="queries, one after the other")
    parser.add_argument("--pages-per-run", type=int, default=None, help="PAGERUNNER_PAGES_PER_RUN")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the query")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.pages, args.repeat, args.window, *args.at) < 1:
        parser.error("--pages, --repeat, --window and --at must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = load_average()
    res = measure_serve(lambda server: measure(args, server), 0, pages_per_run=args.pages_per_run)
    if res:
        summary = summarize(args, res, load)
        report(render(summary), summary, args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
