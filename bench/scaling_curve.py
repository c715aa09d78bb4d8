"""Scaling curve: steps/s and RSS with 1 / 10 / 100 / 1,000 runs in flight (issue 10, part 3).

The shape of bench/executor_overhead.py (a real-SDK app of no-op `step.run` steps under
the embedded executor in the same process, SQLite WAL + synchronous=NORMAL in a
temporary directory) at several levels of runs in flight, 5 steps per run, against DBOS
(bench/dbos_contender.py, same shape, same SQLite settings) when the `bench` group is
installed:

* steps/s per level and contender: runs x steps / wall time of a batch started at once;
  at the small levels the batch is repeated until it makes as many steps as the largest
  level's batch (`--min-steps`; never more runs in flight than the level), so that every
  level does the same work on a database that grows as much; the median of R rounds,
  contenders alternating;
* the ratio of each level to the best level of the same contender;
* RSS growth: the process's resident memory sampled every 50 ms in a background thread,
  peak during the level minus the reading right before it (after a warm-up batch).

Every measurement (contender, level, round) runs in a fresh subprocess of this script,
so one contender's memory (DBOS's imports, the executor's caches, the allocator keeping
what an earlier, larger level freed) is never counted in the other's or in a later
level's growth, and every level starts from an empty database.

    uv run --group bench python bench/scaling_curve.py [--levels 1,10,100,1000] [--steps 5]
        [--repeat 3] [--min-steps N] [--json PATH]

Without the `bench` group it measures pagerunner alone. It prints PASS/FAIL against the
issue's targets but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from common import (
    MB,
    RssSampler,
    load_average,
    machine,
    progress,
    quiet_logs,
    report,
    rss_bytes,
    verdict,
)
from executor_overhead import (
    DBOS_MISSING,
    Batch,
    Recorder,
    bench_app,
    dbos_contender,
    dbos_recorded_batch,
    executor_batch,
    synced_executor,
)

from pagerunner.executor import ExecutorConfig

TARGET_VS_BEST = 0.8  # steps/s at the largest level / the best level (pagerunner)
TARGET_RSS_GROWTH_MB = 50.0  # RSS growth at the largest level (pagerunner)
WARM_RUNS = 5
SAMPLE_S = 0.05
CHILD_TIMEOUT_S = 900.0
CONTENDERS = ("pagerunner", "dbos")

BatchMaker = Callable[[int], Awaitable[Batch]]


# -- one measurement, in a child process -------------------------------------------------


async def measure_level(
    make_batch: BatchMaker, level: int, steps: int, min_steps: int
) -> dict[str, Any]:
    """Batches of `level` runs until `min_steps` steps; RSS sampled throughout."""
    await make_batch(min(level, WARM_RUNS))
    batches = max(1, math.ceil(min_steps / (level * steps)))
    gc.collect()
    before = rss_bytes()
    with RssSampler(interval_s=SAMPLE_S) as sampler:
        wall = 0.0
        for _ in range(batches):
            wall += (await make_batch(level)).wall_s
    return {
        "runs": level,
        "steps": steps,
        "batches": batches,
        "wall_s": wall,
        "per_s": batches * level * steps / wall,
        "rss_before_mb": before / MB,
        "rss_peak_mb": sampler.peak / MB,
        "rss_growth_mb": (sampler.peak - before) / MB,
    }


async def pagerunner_child(
    level: int, steps: int, min_steps: int, max_inflight: int
) -> dict[str, Any]:
    app, recorder, _body, port = bench_app()
    with tempfile.TemporaryDirectory(prefix="pagerunner-curve-") as tmp:
        db_url = str(Path(tmp) / "bench.db")
        async with synced_executor(app, port, db_url, max_inflight) as (executor, _fn):

            def batch(n: int) -> Awaitable[Batch]:
                return executor_batch(executor, recorder, n, steps, timings=False)

            return await measure_level(batch, level, steps, min_steps)


async def dbos_child(level: int, steps: int, min_steps: int) -> dict[str, Any]:
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="pagerunner-curve-") as tmp:
        url = dbos_contender.sqlite_url(Path(tmp) / "dbos.db")
        with dbos_contender.running_dbos(url) as settings:

            def batch(n: int) -> Awaitable[Batch]:
                return dbos_recorded_batch(recorder, n, steps)

            return {**await measure_level(batch, level, steps, min_steps), "settings": settings}


def child_main(args: argparse.Namespace) -> int:
    quiet_logs()
    who, level = args.child[0], int(args.child[1])
    if who == "dbos":
        found = asyncio.run(dbos_child(level, args.steps, args.min_steps))
    else:
        found = asyncio.run(pagerunner_child(level, args.steps, args.min_steps, args.max_inflight))
    args.child_out.write_text(json.dumps(found))
    return 0


# -- the rounds, from the parent ---------------------------------------------------------


def run_child(who: str, level: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        who,
        str(level),
        "--child-out",
        str(out),
        "--steps",
        str(args.steps),
        "--min-steps",
        str(args.min_steps),
        "--max-inflight",
        str(args.max_inflight),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{who} at {level} runs in flight: the child exited {done.returncode}")
    return {**json.loads(out.read_text()), "child_s": time.perf_counter() - started}


def rounds(args: argparse.Namespace) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """R rounds over every level; who goes first flips from one measurement pair to the next,
    and levels interleave, so drift in the machine's load spreads over all of them."""
    found: dict[str, dict[int, list[dict[str, Any]]]] = {
        who: {level: [] for level in args.levels} for who in args.contenders
    }
    with tempfile.TemporaryDirectory(prefix="pagerunner-curve-") as tmp:
        out = Path(tmp) / "child.json"
        for r in range(args.repeat):
            for i, level in enumerate(args.levels):
                order = args.contenders if (r + i) % 2 == 0 else args.contenders[::-1]
                for who in order:
                    progress(
                        f"{who}: {level} runs in flight x {args.steps} steps "
                        f"({r + 1}/{args.repeat})"
                    )
                    one = run_child(who, level, args, out)
                    found[who][level].append(one)
                    progress(
                        f"  {one['per_s']:.1f} steps/s, RSS +{one['rss_growth_mb']:.1f} MB "
                        f"({one['child_s']:.1f}s with start-up)"
                    )
    return found


# -- report ------------------------------------------------------------------------------


def summarize_contender(per_level: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    levels: dict[str, Any] = {}
    for level, measured in per_level.items():
        rates = [m["per_s"] for m in measured]
        growth = [m["rss_growth_mb"] for m in measured]
        levels[str(level)] = {
            "per_s": statistics.median(rates),
            "per_s_each_round": rates,
            "rss_growth_mb": statistics.median(growth),
            "rss_growth_mb_each_round": growth,
            "rss_before_mb": statistics.median(m["rss_before_mb"] for m in measured),
            "rss_peak_mb": statistics.median(m["rss_peak_mb"] for m in measured),
            "batches": measured[0]["batches"],
        }
    best = max(v["per_s"] for v in levels.values())
    for v in levels.values():
        v["vs_best"] = v["per_s"] / best
    settings: dict[str, Any] = next(
        (m["settings"] for ms in per_level.values() for m in ms if "settings" in m), {}
    )
    return {"levels": levels, "best_per_s": best, "settings": settings}


def summarize(args: argparse.Namespace, found: dict[str, Any], load: list[float]) -> dict[str, Any]:
    contenders = {who: summarize_contender(found[who]) for who in args.contenders}
    largest = str(args.levels[-1])
    ours = contenders["pagerunner"]["levels"][largest]
    ratios: dict[str, Any] = {}
    if "dbos" in found:
        for level in args.levels:
            per_round = [
                d["per_s"] / p["per_s"]
                for p, d in zip(found["pagerunner"][level], found["dbos"][level], strict=True)
            ]
            ratios[str(level)] = {
                "median": statistics.median(per_round),
                "min": min(per_round),
                "max": max(per_round),
            }
    return {
        "config": {k: v for k, v in vars(args).items() if k not in ("json", "child", "child_out")},
        "machine": machine(
            store="SQLite (WAL, synchronous=NORMAL), temp dir",
            load_before=load,
            load_after=load_average(),
        ),
        "contenders": contenders,
        "dbos_skipped": "" if "dbos" in found else (DBOS_MISSING or "--no-dbos"),
        "pagerunner_vs_dbos_per_step": ratios,
        "targets": {
            "level": args.levels[-1],
            "vs_best": ours["vs_best"],
            "vs_best_pass": ours["vs_best"] >= TARGET_VS_BEST,
            "rss_growth_mb": ours["rss_growth_mb"],
            "rss_pass": ours["rss_growth_mb"] <= TARGET_RSS_GROWTH_MB,
        },
    }


def render(s: dict[str, Any]) -> str:
    c, m, t = s["config"], s["machine"], s["targets"]
    who_all = list(s["contenders"])
    head = f"  {'runs':>6}"
    for who in who_all:
        head += f"  {who + ' steps/s (rounds)':<34} {'vs best':>7} {'RSS +MB':>8}"
    if s["pagerunner_vs_dbos_per_step"]:
        head += "  pagerunner/DBOS per step"
    lines = [
        "",
        f"Scaling curve: {', '.join(map(str, c['levels']))} runs in flight x {c['steps']} steps, "
        f"{c['repeat']} rounds, each in a fresh process, max_inflight {c['max_inflight']}, "
        f"at least {c['min_steps']} steps per level",
        f"machine: {m['cpus']} cpus, Python {m['python']}, {m['store']}, "
        f"load before {m['load_before']}, after {m['load_after']}",
    ]
    if s["dbos_skipped"]:
        lines.append(f"  DBOS contender skipped: {s['dbos_skipped']}")
    else:
        lines.append(f"  DBOS: {s['contenders']['dbos']['settings']}")
    lines += ["", head]
    for level in c["levels"]:
        row = f"  {level:>6}"
        for who in who_all:
            v = s["contenders"][who]["levels"][str(level)]
            each = ", ".join(f"{r:.0f}" for r in v["per_s_each_round"])
            row += f"  {v['per_s']:.1f} ({each})".ljust(36)
            row += f" {v['vs_best']:>6.2f}x {v['rss_growth_mb']:>8.1f}"
        ratio = s["pagerunner_vs_dbos_per_step"].get(str(level))
        if ratio:
            row += f"  {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})"
        lines.append(row)
    lines += [
        "",
        "  vs best: the level's median steps/s / the best level's, same contender",
        "  RSS +MB: the peak during the level minus the reading before it (median of the rounds)",
        "",
        f"targets (issue 10, pagerunner at {t['level']} runs in flight):",
        f"  steps/s >= {TARGET_VS_BEST}x the best level: {t['vs_best']:.2f}x  "
        f"{verdict(t['vs_best_pass'])}",
        f"  RSS growth <= {TARGET_RSS_GROWTH_MB:.0f} MB: {t['rss_growth_mb']:.1f} MB  "
        f"{verdict(t['rss_pass'])}",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--levels",
        type=lambda v: sorted({int(x) for x in v.split(",")}),
        default=[1, 10, 100, 1000],
        help="runs in flight, comma-separated (the targets apply to the largest)",
    )
    parser.add_argument("--steps", type=int, default=5, help="sequential steps per run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per level and contender")
    parser.add_argument(
        "--min-steps",
        type=int,
        default=None,
        help="a level's batch is repeated until it makes this many steps "
        "(default: as many as the largest level makes)",
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=ExecutorConfig.max_inflight,
        help="ExecutorConfig.max_inflight (default: the executor's default)",
    )
    parser.add_argument(
        "--no-dbos", dest="dbos", action="store_false", help="measure pagerunner alone"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.steps, args.repeat, *args.levels) < 1:
        parser.error("--levels, --steps and --repeat must be >= 1")
    if args.min_steps is None:
        args.min_steps = args.levels[-1] * args.steps
    if args.dbos and dbos_contender is None:
        print(DBOS_MISSING, file=sys.stderr)
        args.dbos = False
    args.contenders = list(CONTENDERS if args.dbos else CONTENDERS[:1])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    load = load_average()
    summary = summarize(args, rounds(args), load)
    report(render(summary), summary, args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
