"""Memory of `pagerunner serve`: resident set size idle and with 1,000 queries queued.

Starts `pagerunner serve` as a subprocess (free ports, SQLite in a temporary
directory, logs at warning) and reads the process's `VmRSS` (resident memory now)
and `VmHWM` (its peak so far) from /proc/<pid>/status:

* idle: after start-up, nothing run yet;
* warm: after W queries ran their first page (code paths, caches and pools that
  the first queries bring in: paid once, not per query);
* queued: after N more queries were created with `POST /api/queries/run` (C at a
  time) and each ran its first page. Every query asks for many pages
  (`q="... total:100000"`) and `PAGERUNNER_PAGE_DELAY_S` is long (600 s), so after
  its first page each one is parked in a durable sleep of the executor: it is
  `running`, holds its checkpoint and waits for its next page. That is the state
  of a query queued behind a provider's rate limit or page delay.

RSS is also sampled every 0.25 s while the queries are created (the peak of the
creation burst is VmHWM). Per-query memory is (queued - warm) / N.

    uv run python bench/serve_memory.py [--queries N --warm W --concurrency C] [--json PATH]

It prints PASS/FAIL against the target (RSS <= 200 MB with 1,000 queries queued)
but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from common import machine, progress, report
from serve_process import Server, measure_serve, wait_ready

TARGET_MB = 200.0
RUN_PATH = "/api/queries/run"
MB = 1024 * 1024


# -- memory --------------------------------------------------------------------------------


@dataclass
class Memory:
    """One reading of /proc/<pid>/status (sizes in bytes)."""

    rss: int  # VmRSS: resident now
    hwm: int  # VmHWM: peak resident so far
    anon: int  # RssAnon: the heap and stacks (not shared libraries or files)
    threads: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, str] = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()

        def kb(name: str) -> int:
            return int(fields[name].split()[0]) * 1024

        return cls(kb("VmRSS"), kb("VmHWM"), kb("RssAnon"), int(fields["Threads"]))


async def settled(pid: int, seconds: float, samples: int = 5) -> Memory:
    """Median of `samples` readings over `seconds` (and the last peak)."""
    readings = []
    for _ in range(samples):
        await asyncio.sleep(seconds / samples)
        readings.append(Memory.of(pid))
    return Memory(
        rss=int(statistics.median(m.rss for m in readings)),
        hwm=readings[-1].hwm,
        anon=int(statistics.median(m.anon for m in readings)),
        threads=readings[-1].threads,
    )


class Sampler:
    """RSS every `interval_s` in the background: the timeline of a burst."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        started = time.perf_counter()
        while True:
            self.samples.append((time.perf_counter() - started, Memory.of(self.pid).rss))
            await asyncio.sleep(self.interval_s)

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


# -- the queries ---------------------------------------------------------------------------


async def create(client: httpx.AsyncClient, first: int, n: int, concurrency: int) -> list[str]:
    """n queries of 100,000 results each, `concurrency` requests at a time."""
    ids: list[str] = []
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        body = {"source": "demo", "params": {"q": f"mem {i} total:100000", "location": "Austin"}}
        async with limit:
            response = await client.post(RUN_PATH, json=body)
        if response.status_code != 202:
            raise RuntimeError(f"POST {RUN_PATH}: {response.status_code} {response.text}")
        ids.append(str(response.json()["id"]))

    await asyncio.gather(*(one(i) for i in range(first, first + n)))
    return ids


async def all_queries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        response = await client.get("/api/queries", params={"limit": 500, "offset": len(found)})
        response.raise_for_status()
        page = response.json()
        found += page["items"]
        if not page["items"] or len(found) >= page["total"]:
            return found


@dataclass
class Parked:
    """Where the queries stand."""

    total: int
    parked: int  # running, first page stored: waiting in a durable sleep
    statuses: dict[str, int]
    waited_s: float


async def wait_parked(client: httpx.AsyncClient, expected: int, timeout_s: float) -> Parked:
    """Wait until `expected` queries are running with their first page stored."""
    started = time.perf_counter()
    while True:
        queries = await all_queries(client)
        statuses: dict[str, int] = {}
        for q in queries:
            statuses[q["status"]] = statuses.get(q["status"], 0) + 1
        parked = sum(q["status"] == "running" and q["pages_fetched"] >= 1 for q in queries)
        waited = time.perf_counter() - started
        if parked >= expected or waited > timeout_s:
            return Parked(len(queries), parked, statuses, waited)
        await asyncio.sleep(0.5)


# -- the benchmark -------------------------------------------------------------------------


def db_bytes(tmp: Path) -> int:
    return sum(p.stat().st_size for p in tmp.glob("pagerunner.db*"))


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    pid = server.proc.pid
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:
        ready_s = await wait_ready(server, client)
        progress(f"serve ready after {ready_s:.1f}s; idle for {args.settle:.0f}s")
        idle = await settled(pid, args.settle)
        progress(f"warm-up: {args.warm} queries")
        await create(client, 0, args.warm, args.concurrency)
        warm_parked = await wait_parked(client, args.warm, timeout_s=60)
        warm = await settled(pid, args.settle)
        progress(f"creating {args.queries} queries, {args.concurrency} at a time")
        with Sampler(pid) as sampler:
            started = time.perf_counter()
            await create(client, args.warm, args.queries, args.concurrency)
            created_s = time.perf_counter() - started
            progress(f"created in {created_s:.1f}s; waiting for every first page")
            parked = await wait_parked(client, args.warm + args.queries, timeout_s=args.timeout)
        progress(f"{parked.parked} parked; settling {args.settle:.0f}s")
        queued = await settled(pid, args.settle)
    return {
        "idle": idle,
        "warm": warm,
        "queued": queued,
        "warm_parked": warm_parked,
        "parked": parked,
        "created_s": created_s,
        "creation_peak_rss": sampler.peak,
        "timeline": sampler.samples,
        "db_bytes": db_bytes(server.tmp),
        "ready_s": ready_s,
    }


def summarize(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    idle, warm, queued = res["idle"], res["warm"], res["queued"]
    parked: Parked = res["parked"]
    per_query_kb = (queued.rss - warm.rss) / args.queries / 1024
    return {
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine(store="SQLite (WAL), temp dir"),
        "memory": {name: asdict(res[name]) for name in ("idle", "warm", "queued")},
        "creation_peak_rss": res["creation_peak_rss"],
        "per_query_kb": {
            "rss_vs_warm": per_query_kb,
            "rss_vs_idle": (queued.rss - idle.rss) / (args.queries + args.warm) / 1024,
            "anon_vs_warm": (queued.anon - warm.anon) / args.queries / 1024,
        },
        "queries": {
            "parked": parked.parked,
            "expected": args.queries + args.warm,
            "statuses": parked.statuses,
            "created_s": res["created_s"],
            "all_first_pages_s": parked.waited_s,
        },
        "db_mb": res["db_bytes"] / MB,
        "ready_s": res["ready_s"],
        "timeline_mb": [(round(t, 2), round(rss / MB, 1)) for t, rss in res["timeline"]],
        "target": {
            "rss_mb": TARGET_MB,
            "pass": queued.rss <= TARGET_MB * MB and parked.parked >= args.queries + args.warm,
        },
    }


def render(s: dict[str, Any]) -> str:
    c, m, mem, q, pq = s["config"], s["machine"], s["memory"], s["queries"], s["per_query_kb"]

    def row(label: str, r: dict[str, int]) -> str:
        return (
            f"  {label:<34}{r['rss'] / MB:>9.1f}{r['hwm'] / MB:>9.1f}{r['anon'] / MB:>10.1f}"
            f"{r['threads']:>9}"
        )

    lines = [
        "",
        f"Memory of pagerunner serve: {c['queries']} queries queued (+{c['warm']} warm-up), "
        f"created {c['concurrency']} at a time; {c['page_delay']} s between pages",
        f"machine: {m['cpus']} cpus, Python {m['python']}, {m['store']}",
        "",
        f"  {'state':<34}{'VmRSS':>9}{'VmHWM':>9}{'RssAnon':>10}{'threads':>9}   (MB)",
        row("idle after start", mem["idle"]),
        row(f"warm ({c['warm']} queries parked)", mem["warm"]),
        row(f"queued ({q['parked']} queries parked)", mem["queued"]),
        f"  {'peak RSS while creating (sampled)':<34}{s['creation_peak_rss'] / MB:>9.1f}",
        "",
        f"  per queued query: {pq['rss_vs_warm']:.1f} KB RSS over warm "
        f"({pq['anon_vs_warm']:.1f} KB anonymous); {pq['rss_vs_idle']:.1f} KB over idle",
        f"  queued - idle: {(mem['queued']['rss'] - mem['idle']['rss']) / MB:.1f} MB;  "
        f"queued - warm: {(mem['queued']['rss'] - mem['warm']['rss']) / MB:.1f} MB",
        f"  queries: {q['statuses']}; {q['expected']} created in {q['created_s']:.1f}s, "
        f"every first page stored after {q['all_first_pages_s']:.1f}s more; "
        f"database {s['db_mb']:.1f} MB on disk",
        "",
        f"target: RSS <= {s['target']['rss_mb']:.0f} MB with {c['queries']} queries queued: "
        f"{mem['queued']['rss'] / MB:.1f} MB (peak {mem['queued']['hwm'] / MB:.1f} MB)  "
        f"{'PASS' if s['target']['pass'] else 'FAIL'}",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--queries", type=int, default=1000, help="queries to queue (1000)")
    parser.add_argument("--warm", type=int, default=10, help="warm-up queries first (10)")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="POSTs in flight while creating (10)"
    )
    parser.add_argument(
        "--page-delay",
        type=float,
        default=600.0,
        help="PAGERUNNER_PAGE_DELAY_S: how long each query sleeps after its first page (600)",
    )
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds of sampling per reading (3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="longest wait for the first pages (120 s)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.queries, args.warm, args.concurrency) < 1:
        parser.error("--queries, --warm and --concurrency must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    res = measure_serve(lambda server: measure(server, args), args.page_delay)
    if res is not None:
        summary = summarize(args, res)
        report(render(summary), summary, args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
