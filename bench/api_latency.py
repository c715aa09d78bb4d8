"""API latency under load: `POST /api/queries/run` while 100 queries run, over real HTTP.

Starts `pagerunner serve` as a subprocess (free ports, SQLite in a temporary
directory, logs at warning, a delay between pages so queries keep running) and
drives it from this process. Two kinds of load:

* closed loop: C clients, each sending K requests back to back (C x K requests);
* paced (open loop): P POSTs at R per second, evenly spaced whatever the answers
  do, latency counted from each request's scheduled time. This shows what the
  running queries do to a POST without the POST load saturating the server.

Phases, in this order, on the same server:

* idle, `GET /healthz` (closed loop): the floor of the HTTP stack;
* idle, `POST /api/queries/run`, paced, then closed loop: no query running
  beforehand. Every POST starts a query, so the posted queries ask for no results
  (`q="... total:0"`: one empty page, then done); they are left to finish;
* B background queries are started (`q="... total:N"`, N/20 pages each, with
  `PAGERUNNER_PAGE_DELAY_S` between pages) and the benchmark waits until all B
  are `running` (`GET /api/queries?status=running`);
* loaded: the same POSTs paced, `GET /healthz`, the same POSTs closed loop. The
  B queries' status and page progress are read before, between and after.

The clients are a minimal HTTP/1.1 client (one keep-alive connection each): httpx
costs the client a core at this load, and the latency measured is then mostly
the client's own (`--client httpx` shows it). Latency runs from sending a request
to reading its whole response.

    uv run python bench/api_latency.py [--clients C --requests-per-client K]
        [--paced-rate R --paced-requests P] [--background B --background-total N]
        [--page-delay S] [--client raw|httpx] [--json PATH]

It prints PASS/FAIL against the target (p99 of the closed-loop POST with B queries
running <= 250 ms; the paced p99 against the same threshold too) but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from common import machine, pct, progress, report
from serve_process import Server, measure_serve, wait_ready

TARGET_P99_MS = 250.0
RUN_PATH = "/api/queries/run"


# -- load ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int
    errors: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    server_cpu_s: float  # user + system CPU of the serve process during the phase
    client_cpu_s: float  # CPU of this process during the phase

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawClient:
    """A minimal HTTP/1.1 client: one keep-alive connection, one request at a time.

    httpx spends about 1.5 ms of CPU per request; 50 clients in one process then
    saturate a core and the latency measured is mostly the client's own queueing.
    This one costs about 0.1 ms, so the figures are the server's.
    """

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> int:
        if self._reader is not None and self._reader.at_eof():
            await self.aclose()  # the server closed it (uvicorn's keep-alive timeout is 5 s)
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self._writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
        try:
            return await self._response(self._reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.aclose()  # a fresh connection for the next request
            raise

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> int:
        status_line = (await reader.readline()).split()
        if len(status_line) < 2:
            raise ConnectionResetError("connection closed before the status line")
        status = int(status_line[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            chunked |= name == "transfer-encoding" and "chunked" in value
            close |= name == "connection" and value == "close"
        if chunked:
            while size := int((await reader.readline()).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readline()
        else:
            await reader.readexactly(length)
        if close:
            raise ValueError("server closed the connection")
        return status

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


class HttpxClient:
    """The same interface over one shared `httpx.AsyncClient` (for comparison)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(self, method: str, path: str, body: Any = None) -> int:
        response = await self._client.request(method, path, json=body)
        return response.status_code

    async def aclose(self) -> None:
        pass


Client = RawClient | HttpxClient
RequestFn = Callable[[Client, int], Awaitable[int]]


def healthz_request(client: Client, n: int) -> Awaitable[int]:
    return client.request("GET", "/healthz")


def post_request(tag: str) -> RequestFn:
    def send(client: Client, n: int) -> Awaitable[int]:
        body = {"source": "demo", "params": {"q": f"bench {tag} {n} total:0", "location": "X"}}
        return client.request("POST", RUN_PATH, body)

    return send


class Meter:
    """Latencies and errors of one phase, and the CPU both processes used meanwhile."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.latencies: list[float] = []
        self.errors = 0
        self._server_cpu = process_cpu_s(pid)
        self._client_cpu = time.process_time()
        self._started = time.perf_counter()

    async def timed(self, send: RequestFn, client: Client, n: int, since: float) -> None:
        """One request; its latency counts from `since` (a perf_counter time)."""
        try:
            ok = await send(client, n) in (200, 202)
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        self.latencies.append((time.perf_counter() - since) * 1000)
        self.errors += not ok

    def phase(self, name: str) -> Phase:
        wall = time.perf_counter() - self._started
        lat = self.latencies
        return Phase(
            name=name,
            requests=len(lat),
            errors=self.errors,
            wall_s=wall,
            p50_ms=pct(lat, 50),
            p95_ms=pct(lat, 95),
            p99_ms=pct(lat, 99),
            max_ms=max(lat),
            mean_ms=statistics.fmean(lat),
            server_cpu_s=process_cpu_s(self.pid) - self._server_cpu,
            client_cpu_s=time.process_time() - self._client_cpu,
        )


async def warm_up(clients: Sequence[Client], send: RequestFn) -> None:
    """One request per client, unmeasured: connections open, code paths warm."""
    await asyncio.gather(*(send(client, -1 - i) for i, client in enumerate(clients)))


async def run_load(
    pid: int, clients: Sequence[Client], name: str, send: RequestFn, per_client: int
) -> Phase:
    """Closed loop: one task per client, each sending `per_client` requests back to back."""
    await warm_up(clients, send)
    meter = Meter(pid)

    async def worker(i: int, client: Client) -> None:
        for k in range(per_client):
            await meter.timed(send, client, i * per_client + k, time.perf_counter())

    await asyncio.gather(*(worker(i, client) for i, client in enumerate(clients)))
    return meter.phase(name)


async def run_paced(
    pid: int, clients: Sequence[Client], name: str, send: RequestFn, rate: float, n: int
) -> Phase:
    """Open loop: `n` requests at `rate` per second, evenly spaced, whatever the answers do.

    Each latency counts from the request's scheduled time, so a request that had
    to wait for a free connection (all of them busy) is charged for the wait.
    """
    idle: asyncio.Queue[Client] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)
    await warm_up(clients, healthz_request)  # connections open (cheaply)
    meter = Meter(pid)
    start = time.perf_counter()

    async def one(j: int) -> None:
        due = start + j / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        client = await idle.get()
        try:
            await meter.timed(send, client, 100_000 + j, due)
        finally:
            idle.put_nowait(client)

    await asyncio.gather(*(one(j) for j in range(n)))
    return meter.phase(name)


# -- the queries ---------------------------------------------------------------------------


async def count(client: httpx.AsyncClient, status: str) -> int:
    response = await client.get("/api/queries", params={"status": status, "limit": 1})
    response.raise_for_status()
    return int(response.json()["total"])


async def listed(client: httpx.AsyncClient, status: str | None) -> dict[str, dict[str, Any]]:
    """Every query with `status` (None: every query), by id."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        params: dict[str, Any] = {"limit": 500, "offset": offset}
        if status is not None:
            params["status"] = status
        response = await client.get("/api/queries", params=params)
        response.raise_for_status()
        page = response.json()
        found.update((q["id"], q) for q in page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return found


async def drain(client: httpx.AsyncClient, timeout_s: float) -> float:
    """Wait until no query is pending or running; returns the seconds waited."""
    started = time.perf_counter()
    while await count(client, "pending") + await count(client, "running") > 0:
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"queries still running after {timeout_s:.0f}s")
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def start_background(client: httpx.AsyncClient, n: int, total: int) -> list[str]:
    async def one(i: int) -> str:
        body = {"source": "demo", "params": {"q": f"load {i} total:{total}", "location": "Austin"}}
        response = await client.post(RUN_PATH, json=body)
        if response.status_code != 202:
            raise RuntimeError(f"POST {RUN_PATH}: {response.status_code} {response.text}")
        return str(response.json()["id"])

    ids: list[str] = []
    for batch in range(0, n, 20):  # 20 at a time: this is set-up, not measurement
        ids += await asyncio.gather(*(one(i) for i in range(batch, min(n, batch + 20))))
    return ids


async def wait_running(client: httpx.AsyncClient, ids: Sequence[str], timeout_s: float) -> float:
    """Wait until every one of `ids` is running; returns the seconds waited."""
    started = time.perf_counter()
    while True:
        running = await listed(client, "running")
        missing = [i for i in ids if i not in running]
        if not missing:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"{len(missing)} background queries not running after {timeout_s}s")
        await asyncio.sleep(0.25)


@dataclass
class Snapshot:
    """The background queries at one moment."""

    label: str
    at_s: float  # perf_counter
    running: int  # of the background queries
    all_running: int  # every running query (the posted ones too)
    pages: int  # pages fetched so far by the background queries
    statuses: dict[str, int]  # of the background queries
    errors: dict[str, int]  # error_code / pause_reason of those not running, by count


async def snapshot(client: httpx.AsyncClient, ids: Sequence[str], label: str) -> Snapshot:
    everything = await listed(client, None)
    mine = [everything[i] for i in ids if i in everything]
    statuses = collections.Counter(str(q["status"]) for q in mine)
    errors = collections.Counter(
        f"{q['status']}: {q.get('error_code') or q.get('pause_reason') or '-'}"
        for q in mine
        if q["status"] != "running"
    )
    return Snapshot(
        label=label,
        at_s=time.perf_counter(),
        running=statuses["running"],
        all_running=sum(q["status"] == "running" for q in everything.values()),
        pages=sum(int(q["pages_fetched"]) for q in mine),
        statuses=dict(statuses),
        errors=dict(errors),
    )


# -- the benchmark -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def load_clients(kind: str, base_url: str, n: int) -> AsyncIterator[list[Client]]:
    """`n` clients of the load: raw connections, or views of one shared httpx client."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as shared:
            yield [HttpxClient(shared)] * n
        return
    clients = [RawClient(base_url) for _ in range(n)]
    try:
        yield list(clients)
    finally:
        for client in clients:
            await client.aclose()


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    k, pid = args.requests_per_client, server.proc.pid
    phases: list[Phase] = []
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=60) as api,
        load_clients(args.client, server.base_url, args.clients) as clients,
    ):

        async def paced(name: str) -> None:
            if args.paced_requests:
                progress(f"{name}: {args.paced_requests} POSTs at {args.paced_rate}/s")
                send = post_request(name.split()[0] + "-paced")
                phases.append(
                    await run_paced(pid, clients, name, send, args.paced_rate, args.paced_requests)
                )

        async def closed(name: str, send: RequestFn) -> None:
            progress(f"{name}: {args.clients} clients x {k}")
            phases.append(await run_load(pid, clients, name, send, k))

        ready_s = await wait_ready(server, api)
        progress(f"serve ready after {ready_s:.1f}s")
        await closed("idle GET /healthz", healthz_request)
        await paced("idle POST /run, paced")
        await closed("idle POST /run", post_request("idle"))
        progress("letting the posted queries finish")
        drained_s = await drain(api, timeout_s=120)
        progress(f"starting {args.background} background queries")
        ids = await start_background(api, args.background, args.background_total)
        started_s = await wait_running(api, ids, timeout_s=60)
        snapshots = [await snapshot(api, ids, "before the loaded phases")]
        await paced("loaded POST /run, paced")
        snapshots.append(await snapshot(api, ids, "after the paced POSTs"))
        await closed("loaded GET /healthz", healthz_request)
        await closed("loaded POST /run", post_request("loaded"))
        snapshots.append(await snapshot(api, ids, "after the loaded POSTs"))
    return {
        "phases": phases,
        "background_queries": len(ids),
        "snapshots": snapshots,
        "ready_s": ready_s,
        "drained_s": drained_s,
        "background_started_s": started_s,
    }


def ratio(a: Phase | None, b: Phase | None, attr: str) -> float | None:
    if a is None or b is None:
        return None
    return float(getattr(a, attr)) / float(getattr(b, attr))


def summarize(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    ph: dict[str, Phase] = {p.name: p for p in res["phases"]}
    loaded, idle = ph["loaded POST /run"], ph["idle POST /run"]
    paced_loaded, paced_idle = ph.get("loaded POST /run, paced"), ph.get("idle POST /run, paced")
    snaps: list[Snapshot] = res["snapshots"]
    n_bg = res["background_queries"]
    intervals = [
        {
            "during": f"{a.label} -> {b.label}",
            "seconds": b.at_s - a.at_s,
            "pages": b.pages - a.pages,
            "pages_per_s": (b.pages - a.pages) / (b.at_s - a.at_s),
        }
        for a, b in itertools.pairwise(snaps)
    ]
    all_running = all(s.running == n_bg for s in snaps)
    return {
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine(store="SQLite (WAL), temp dir"),
        "phases": {p.name: {**asdict(p), "per_s": p.rate} for p in res["phases"]},
        "ratios": {
            "loaded_vs_idle_post_p50": ratio(loaded, idle, "p50_ms"),
            "loaded_vs_idle_post_p99": ratio(loaded, idle, "p99_ms"),
            "loaded_vs_idle_paced_post_p50": ratio(paced_loaded, paced_idle, "p50_ms"),
            "loaded_vs_idle_paced_post_p99": ratio(paced_loaded, paced_idle, "p99_ms"),
            "idle_post_vs_healthz_p50": ratio(idle, ph["idle GET /healthz"], "p50_ms"),
            "loaded_vs_idle_healthz_p99": ratio(
                ph["loaded GET /healthz"], ph["idle GET /healthz"], "p99_ms"
            ),
        },
        "background": {
            "queries": n_bg,
            "snapshots": [asdict(s) for s in snaps],
            "progress": intervals,
            "pages_per_s_unthrottled": n_bg / args.page_delay if args.page_delay else None,
            "all_running_throughout": all_running,
        },
        "timings_s": {
            "ready": res["ready_s"],
            "drain_after_idle_post": res["drained_s"],
            "background_all_running": res["background_started_s"],
        },
        "target": {
            "p99_ms": TARGET_P99_MS,
            "pass": loaded.p99_ms <= TARGET_P99_MS and loaded.errors == 0 and all_running,
            "paced_pass": None
            if paced_loaded is None
            else paced_loaded.p99_ms <= TARGET_P99_MS and paced_loaded.errors == 0,
        },
    }


def render_phases(s: dict[str, Any]) -> list[str]:
    lines = [
        f"  {'phase':<26}{'req/s':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'mean':>8}"
        f"{'errors':>7}{'server CPU':>12}{'client CPU':>12}",
        f"  {'':<26}{'':>7}{'ms':>8}{'ms':>8}{'ms':>8}{'ms':>8}{'ms':>8}{'':>7}"
        f"{'% of a core':>12}{'% of a core':>12}",
    ]
    for p in s["phases"].values():
        lines.append(
            f"  {p['name']:<26}{p['per_s']:>7.0f}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}"
            f"{p['p99_ms']:>8.1f}{p['max_ms']:>8.1f}{p['mean_ms']:>8.1f}{p['errors']:>7}"
            f"{100 * p['server_cpu_s'] / p['wall_s']:>12.0f}"
            f"{100 * p['client_cpu_s'] / p['wall_s']:>12.0f}"
        )
    return lines


def render(s: dict[str, Any]) -> str:
    c, m, bg, r, tg = s["config"], s["machine"], s["background"], s["ratios"], s["target"]

    def x(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    lines = [
        "",
        f"API latency: closed loop {c['clients']} clients x {c['requests_per_client']} requests; "
        f"paced {c['paced_requests']} POSTs at {c['paced_rate']}/s; client: {c['client']}",
        f"background: {bg['queries']} queries of {c['background_total']} results "
        f"({-(-c['background_total'] // 20)} pages), {c['page_delay']} s between pages",
        f"machine: {m['cpus']} cpus, Python {m['python']}, {m['store']}",
        "",
        *render_phases(s),
        "",
        f"  loaded / idle POST, closed loop: p50 {x(r['loaded_vs_idle_post_p50'])}, "
        f"p99 {x(r['loaded_vs_idle_post_p99'])}",
        f"  loaded / idle POST, paced:       p50 {x(r['loaded_vs_idle_paced_post_p50'])}, "
        f"p99 {x(r['loaded_vs_idle_paced_post_p99'])}",
        f"  idle POST / idle healthz, p50: {x(r['idle_post_vs_healthz_p50'])};  "
        f"loaded / idle healthz, p99: {x(r['loaded_vs_idle_healthz_p99'])}",
        "",
        "  background queries running (of "
        f"{bg['queries']}): "
        + ", ".join(f"{sn['running']} {sn['label']}" for sn in bg["snapshots"])
        + f" (all running queries: {bg['snapshots'][-1]['all_running']} at the end)",
    ]
    for sn in bg["snapshots"]:
        if sn["errors"]:
            stopped = ", ".join(f"{n} {e}" for e, n in sn["errors"].items())
            lines.append(f"  background queries not running {sn['label']}: {stopped}")
    unthrottled = bg["pages_per_s_unthrottled"]
    for iv in bg["progress"]:
        lines.append(
            f"  background pages {iv['during']}: {iv['pages']} in {iv['seconds']:.1f}s "
            f"({iv['pages_per_s']:.1f} pages/s"
            + (f"; at most {unthrottled:.0f}/s with the page delay)" if unthrottled else ")")
        )
    loaded = s["phases"]["loaded POST /run"]
    lines += [
        "",
        f"target: POST {RUN_PATH} p99 <= {tg['p99_ms']:.0f} ms, {c['clients']} clients, "
        f"{bg['queries']} queries running: {loaded['p99_ms']:.1f} ms  "
        f"{'PASS' if tg['pass'] else 'FAIL'}",
    ]
    paced = s["phases"].get("loaded POST /run, paced")
    if paced is not None:
        lines.append(
            f"  same threshold, paced {c['paced_rate']}/s, {bg['queries']} queries running: "
            f"{paced['p99_ms']:.1f} ms  {'PASS' if tg['paced_pass'] else 'FAIL'}"
        )
    return "\n".join([*lines, ""])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument(
        "--requests-per-client", type=int, default=20, help="requests each, back to back (20)"
    )
    parser.add_argument("--background", type=int, default=100, help="queries running (100)")
    parser.add_argument(
        "--background-total",
        type=int,
        default=2000,
        help="results of each background query, 20 per page (2000: 100 pages)",
    )
    parser.add_argument(
        "--page-delay", type=float, default=0.5, help="PAGERUNNER_PAGE_DELAY_S (0.5)"
    )
    parser.add_argument(
        "--paced-rate", type=float, default=10.0, help="POSTs per second, paced phases (10)"
    )
    parser.add_argument(
        "--paced-requests", type=int, default=100, help="POSTs per paced phase; 0: none (100)"
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: a minimal HTTP/1.1 client per task (default); httpx: one shared AsyncClient",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.clients, args.requests_per_client, args.background, args.background_total) < 1:
        parser.error("sizes must be >= 1")
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
