"""The shared rate limiter per credential: achieved page rate against the provider's limit.

K credentials (API keys), each allowed R requests per second **by the provider**
(the simulated provider's own per-key limiter answers 429 beyond it), and Q
queries per credential of P pages each, all started at once. Two configurations,
each on a fresh runtime, database and provider:

* **pagerunner**: one declarative source file per credential with
  `limits.per_second = R` and `page_delay_s = 0`: every page reserves the next slot
  of its credential (shared by the Q queries) and sleeps durably until it; the
  request is claimed right before it is sent;
* **original design**: the same files without `per_second` and with
  `page_delay_s = 1`: each query waits a fixed second between its pages and
  nothing is shared up front. What happens on a 429 is still pagerunner's (wait
  the provider's `Retry-After`, backing off every query on the key; pause when the
  wait is unknown or too long).

Set-up: the simulated provider (`pagerunner demo-api --key ...` as a subprocess by
default, or in this process with `--provider inprocess`) with K keys, each limited
with `set_limits(key, rate_per_s=R)`; K source files generated into a temporary
`sources/` folder (`PAGERUNNER_SOURCES_DIR`, presets off), credentials in
environment variables `THROTTLE_BENCH_KEY_1..K`; the whole pagerunner runtime
(`running_pagerunner`: API, embedded executor, SQLite WAL) in this process, queries
started with `POST /api/queries/run` and followed with `GET /api/queries`.

Figures, from the provider's own stats: pages = requests served (passed its rate
limiter); rate = (pages - 1) / (last served - first served); ratio = rate / (K x R);
429s = the provider's 429 answers; the most requests served (and received) per key
in any 1-second window, and the shortest span holding R + 1 of them (under 1 s: the
provider was entitled to refuse one). For pagerunner, the page loop is also timed
from inside (wrappers around `CredentialLimiter.reserve`/`claim`, `QueryRunner.page`
and `DeclarativeSource.fetch_page`; no code changed): what the claims decided, how
late a page's request was claimed after its slot (the slot waited for inside the
page step, or durably when it was further away), and the skew from a claim's
logged time to the request leaving.

    uv run python bench/throttle.py [--credentials K --rate R --queries Q --pages P]
        [--only pagerunner|original] [--provider subprocess|inprocess] [--no-probe]
        [--json PATH]

Defaults: K = 3, R = 5, Q = 20, P = 10 (about 2 minutes on 2 cores); the issue's
shape is `--pages 20` (about 3 minutes).

Target (issue 4): pagerunner >= 0.95 x K x R with zero 429s. It prints PASS/FAIL but
always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import distribution, free_port, machine, progress, quiet_logs, report

from pagerunner.functions import QueryRunner
from pagerunner.queries import credentials as limiter_module
from pagerunner.queries.credentials import Claim, CredentialLimiter
from pagerunner.runtime import running_pagerunner
from pagerunner.settings import Settings
from pagerunner.simulator import Simulator, SimulatorConfig, max_in_window
from pagerunner.sources.declarative import DeclarativeSource

TARGET_RATIO = 0.95
RESULTS_PER_PAGE = 20
KEY_ENV = "THROTTLE_BENCH_KEY_{i}"
TERMINAL = ("completed", "paused", "failed", "cancelled")
STATUSES = ("pending", "running", *TERMINAL)
READY_TIMEOUT_S = 30.0


# -- the provider ------------------------------------------------------------------------


class Provider:
    """The simulated provider's admin side: limits and stats, wherever it runs."""

    def __init__(self, origin: str, sim: Simulator | None = None) -> None:
        self.origin = origin
        self.sim = sim
        self._admin = httpx.AsyncClient(base_url=origin, timeout=30.0)

    async def set_limits(self, key: str, rate_per_s: float) -> None:
        if self.sim is not None:
            self.sim.set_limits(key, rate_per_s=rate_per_s)
            return
        body = {"key": key, "rate_per_s": rate_per_s}
        (await self._admin.post("/_admin/limits", json=body)).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        """`SimulatorStats.to_json()`: times are `time.monotonic()` (system-wide on Linux)."""
        if self.sim is not None:
            return self.sim.stats.to_json()
        response = await self._admin.get("/_admin/stats")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def served_count(self) -> int:
        stats = await self.stats()
        return sum(len(v) for v in stats["served_at"].values())

    async def aclose(self) -> None:
        await self._admin.aclose()


@contextlib.asynccontextmanager
async def running_provider(kind: str, keys: Sequence[str], tmp: Path) -> AsyncIterator[Provider]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    if kind == "inprocess":
        from pagerunner.executor import serve_http

        sim = Simulator(SimulatorConfig(api_keys=tuple(keys)))
        async with serve_http(sim.app, host="127.0.0.1", port=port):
            provider = Provider(origin, sim)
            try:
                yield provider
            finally:
                await provider.aclose()
        return
    args = [sys.executable, "-m", "pagerunner", "demo-api", "--port", str(port)]
    args += [a for key in keys for a in ("--key", key)]
    log_path = tmp / "provider.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*args, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT
        )
    provider = Provider(origin)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo-api exited:\n{log_path.read_text(errors='replace')}")
            with contextlib.suppress(httpx.TransportError):
                if (await provider._admin.get("/healthz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("demo-api did not start")
            await asyncio.sleep(0.1)
        yield provider
    finally:
        await provider.aclose()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the source files --------------------------------------------------------------------


def source_file(i: int, origin: str, rate: float | None, page_delay_s: float) -> str:
    """A declarative source on the simulator's /v1/search, credential i (1-based)."""
    limits = f"per_second = {rate}\n" if rate is not None else ""
    return f"""\
# generated by bench/throttle.py
name = "throttle-{i}"
description = "the simulated provider, credential {i}"

[params.q]
help = "what to search for"
required = true

[request]
url = "{origin}/v1/search"
query = {{ q = "{{q}}" }}

[auth]
type = "api_key"
in = "header"
name = "X-API-Key"
env = "{KEY_ENV.format(i=i)}"

[pagination]
type = "page_number"
param = "page"
page_size_param = "page_size"
page_size = {RESULTS_PER_PAGE}
has_more_path = "has_more"

[records]
path = "results"
key = "id"

[limits]
{limits}page_delay_s = {page_delay_s}
"""


def write_sources(
    folder: Path, k: int, origin: str, rate: float | None, page_delay_s: float
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, k + 1):
        (folder / f"throttle-{i}.toml").write_text(source_file(i, origin, rate, page_delay_s))


# -- instrumentation (pagerunner's own code, wrapped, not changed) ------------------------


@dataclass
class Probe:
    """Timings from inside the page loop (wrappers around public methods; nothing changed)."""

    claims: Counter[str] = field(default_factory=Counter)  # go / wait / new slot
    sends: dict[str, list[float]] = field(default_factory=dict)  # credential -> fetch starts
    send_skew_s: list[float] = field(default_factory=list)  # the logged send -> fetch start
    slot: dict[str, float] = field(default_factory=dict)  # query -> its pending slot
    slot_late_s: list[float] = field(default_factory=list)  # its first claim - its slot
    in_page: int = 0  # page steps running now
    in_claim: int = 0  # of which inside `CredentialLimiter.claim`
    samples: list[tuple[int, int]] = field(default_factory=list)  # (in_page, in_claim)
    _pending: dict[int, tuple[str, float]] = field(default_factory=dict)  # task -> claim
    _query: dict[int, str] = field(default_factory=dict)  # task -> the query of its page step

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap the limiter and the page loop while the block runs; restore them after."""
        patches = self._wrappers()
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, value in patches:
            setattr(owner, name, value)
        try:
            yield
        finally:
            for owner, name, value in reversed(saved):
                setattr(owner, name, value)

    def _wrappers(self) -> list[tuple[Any, str, Any]]:
        probe = self
        orig_reserve = CredentialLimiter.reserve
        orig_claim = CredentialLimiter.claim
        orig_page = QueryRunner.page
        orig_fetch = DeclarativeSource.fetch_page

        async def reserve(self: Any, *a: Any, **kw: Any) -> float:
            at: float = await orig_reserve(self, *a, **kw)
            query_id = probe._query.get(id(asyncio.current_task()))
            if query_id is not None:
                probe.slot[query_id] = at
            return at

        async def claim(self: Any, credential_id: str, *a: Any, **kw: Any) -> Claim:
            task = id(asyncio.current_task())
            query_id = probe._query.get(task)  # None: a claim outside a page step
            at = probe.slot.pop(query_id, None) if query_id is not None else None
            if at is not None:  # the first claim after the page's slot
                probe.slot_late_s.append(time.time() - at)
            probe.in_claim += 1
            try:
                result: Claim = await orig_claim(self, credential_id, *a, **kw)
            finally:
                probe.in_claim -= 1
            kind = "go" if result.go else "wait" if result.wait_s > 0 else "new slot"
            probe.claims[kind] += 1
            if result.go:
                probe._pending[task] = (credential_id, result.at)
            return result

        async def page(self: Any, query_id: str, *a: Any, **kw: Any) -> dict[str, Any]:
            task = id(asyncio.current_task())
            probe._query[task] = query_id
            probe.in_page += 1
            try:
                result: dict[str, Any] = await orig_page(self, query_id, *a, **kw)
                return result
            finally:
                probe.in_page -= 1
                probe._query.pop(task, None)
                probe._pending.pop(task, None)

        async def fetch_page(self: Any, *a: Any, **kw: Any) -> Any:
            claimed = probe._pending.pop(id(asyncio.current_task()), None)
            if claimed is not None:
                credential, at = claimed
                now = time.time()
                probe.sends.setdefault(credential, []).append(now)
                probe.send_skew_s.append(now - at)
            return await orig_fetch(self, *a, **kw)

        return [
            (CredentialLimiter, "reserve", functools.wraps(orig_reserve)(reserve)),
            (CredentialLimiter, "claim", functools.wraps(orig_claim)(claim)),
            (QueryRunner, "page", functools.wraps(orig_page)(page)),
            (DeclarativeSource, "fetch_page", functools.wraps(orig_fetch)(fetch_page)),
        ]

    async def sample(self) -> None:
        """Every 50 ms: how many page steps run, and how many wait in the claim."""
        while True:
            self.samples.append((self.in_page, self.in_claim))
            await asyncio.sleep(0.05)


def tightest(times: Sequence[float], n: int) -> float:
    """The shortest span holding n + 1 of `times` (ascending): under 1 s is R + 1 in 1 s."""
    spans = [times[i] - times[i - n] for i in range(n, len(times))]
    return min(spans, default=float("inf"))


def analyse(probe: Probe, rate: float) -> dict[str, Any]:
    """What the limiter did, seen from inside the process.

    Claims: how many let the request go, asked for a durable wait (back-off, or a
    window that stays full for long), or sent the page step for a new slot (too
    many claims queued on the credential). Send skew: from the time the claim logged
    to the request starting (the window check is on logged times; skew that varies
    by more than the send margin can bunch requests at the provider). Claim after
    its slot: how late a page's first claim came after the slot its page step
    reserved (waited for in place, or by a durable sleep and a page step after it).
    """
    capacity = int(rate) if rate >= 1 else 1
    over = 0
    for starts in probe.sends.values():
        starts.sort()
        # requests started within 1 s beyond the provider's capacity (client side)
        over += sum(
            1 for i in range(capacity, len(starts)) if starts[i] - starts[i - capacity] < 1.0
        )
    in_page = [p for p, _ in probe.samples if p]
    in_claim = [c for p, c in probe.samples if p]
    return {
        "claims": dict(probe.claims),
        "starts_over_capacity_in_1s": over,
        "tightest_started_s": {
            cred: tightest(starts, capacity) for cred, starts in probe.sends.items()
        },
        "send_skew": distribution(probe.send_skew_s, (50, 90, 99), scale=1000),
        "claim_after_slot": distribution(probe.slot_late_s, (50, 90, 99), scale=1000),
        "page_steps_in_flight": {
            "mean": statistics.fmean(in_page) if in_page else 0.0,
            "max": max(in_page, default=0),
            "mean_in_claim": statistics.fmean(in_claim) if in_claim else 0.0,
        },
    }


# -- one configuration -------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    description: str
    queries: int
    pages_expected: int
    pages: int  # served by the provider
    pages_stored: int  # pages_fetched summed over the queries
    span_s: float  # last served - first served
    rate: float  # (pages - 1) / span
    limit: float  # K x R
    wall_s: float  # first POST -> every query terminal
    requests: int
    rate_limited: int  # the provider's 429s
    statuses: dict[str, int]
    per_key_rate: dict[str, float]
    max_served_per_s: dict[str, int]
    max_received_per_s: dict[str, int]
    tightest_received_s: dict[str, float]  # the shortest span of R + 1 requests received
    timed_out: bool
    cpu_pct: float  # this process (runtime, and the provider with --provider inprocess)
    diagnostics: dict[str, Any] | None = None

    @property
    def ratio(self) -> float:
        return self.rate / self.limit if self.limit else 0.0


async def count_statuses(client: httpx.AsyncClient) -> dict[str, int]:
    counts = {}
    for status in STATUSES:
        response = await client.get("/api/queries", params={"status": status, "limit": 1})
        response.raise_for_status()
        counts[status] = int(response.json()["total"])
    return counts


async def pages_stored(client: httpx.AsyncClient) -> int:
    total, offset = 0, 0
    while True:
        response = await client.get("/api/queries", params={"limit": 500, "offset": offset})
        response.raise_for_status()
        page = response.json()
        total += sum(int(q["pages_fetched"]) for q in page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return total


async def run_config(
    args: argparse.Namespace, name: str, description: str, *, shared: bool
) -> Outcome:
    k, rate, n_queries, n_pages = args.credentials, args.rate, args.queries, args.pages
    keys = [f"throttle-key-{i}" for i in range(1, k + 1)]
    for i, key in enumerate(keys, start=1):
        os.environ[KEY_ENV.format(i=i)] = key
    probe = Probe()
    with tempfile.TemporaryDirectory(prefix="pagerunner-throttle-") as tmp_name:
        tmp = Path(tmp_name)
        async with running_provider(args.provider, keys, tmp) as provider:
            for key in keys:
                await provider.set_limits(key, rate)
            write_sources(
                tmp / "sources",
                k,
                provider.origin,
                rate if shared else None,
                0.0 if shared else args.original_delay,
            )
            values: dict[str, Any] = {
                "db": str(tmp / "pagerunner.db"),
                "port": free_port(),
                "executor_port": free_port(),
                "demo": False,
                "demo_port": free_port(),
                "page_delay_s": None,  # each source's own
                "sources_dir": tmp / "sources",
                "sources_file": tmp / "absent.toml",
                "source_presets": False,
                "log_level": "warning",
            }
            settings = Settings(**values)
            instrumented = shared and not args.no_probe
            with probe.installed() if instrumented else contextlib.nullcontext():
                async with (
                    running_pagerunner(settings),
                    httpx.AsyncClient(base_url=settings.app_origin, timeout=60.0) as api,
                ):
                    sampler = asyncio.create_task(probe.sample())
                    cpu = time.process_time()
                    try:
                        wall_s, timed_out = await drive(api, provider, args, name)
                    finally:
                        cpu = time.process_time() - cpu
                        sampler.cancel()
                    statuses = await count_statuses(api)
                    stored = await pages_stored(api)
            stats = await provider.stats()
    served: dict[str, list[float]] = {k_: sorted(v) for k_, v in stats["served_at"].items()}
    every = sorted(t for times in served.values() for t in times)
    pages = len(every)
    span = every[-1] - every[0] if pages > 1 else 0.0
    per_key_rate = {
        key: (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        for key, times in served.items()
    }
    return Outcome(
        name=name,
        description=description,
        queries=k * n_queries,
        pages_expected=k * n_queries * n_pages,
        pages=pages,
        pages_stored=stored,
        span_s=span,
        rate=(pages - 1) / span if span > 0 else 0.0,
        limit=k * rate,
        wall_s=wall_s,
        requests=int(stats["total_requests"]),
        rate_limited=int(stats["rate_limited"]),
        statuses={s: n for s, n in statuses.items() if n},
        per_key_rate=per_key_rate,
        max_served_per_s={key: max_in_window(t) for key, t in served.items()},
        tightest_received_s={
            key: tightest(sorted(t), int(rate)) for key, t in stats["received_at"].items()
        },
        max_received_per_s={
            key: max_in_window(sorted(t)) for key, t in stats["received_at"].items()
        },
        timed_out=timed_out,
        cpu_pct=100 * cpu / wall_s if wall_s else 0.0,
        diagnostics=analyse(probe, rate) if instrumented else None,
    )


async def drive(
    api: httpx.AsyncClient, provider: Provider, args: argparse.Namespace, name: str
) -> tuple[float, bool]:
    """Start every query at once; wait until none is pending or running."""
    total = args.credentials * args.queries
    results = args.pages * RESULTS_PER_PAGE

    async def post(i: int, j: int) -> None:
        body = {"source": f"throttle-{i}", "params": {"q": f"k{i} q{j} total:{results}"}}
        response = await api.post("/api/queries/run", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/queries/run: {response.status_code} {response.text}")

    progress(f"{name}: starting {total} queries")
    started = time.monotonic()
    await asyncio.gather(
        *(post(i, j) for i in range(1, args.credentials + 1) for j in range(args.queries))
    )
    last_report = started
    while True:
        await asyncio.sleep(0.5)
        counts = await count_statuses(api)
        active = counts["pending"] + counts["running"]
        now = time.monotonic()
        if active == 0:
            return now - started, False
        if now - started > args.timeout:
            progress(f"{name}: timed out after {args.timeout:.0f}s with {active} still active")
            return now - started, True
        if now - last_report >= 10:
            last_report = now
            served = await provider.served_count()
            progress(
                f"{name}: {now - started:5.0f}s  {served} pages served, {active} queries active"
            )


# -- report ------------------------------------------------------------------------------


def render(args: argparse.Namespace, outcomes: Sequence[Outcome]) -> str:
    limit = args.credentials * args.rate
    best = 1 / (1 + limiter_module.SLOT_MARGIN_S)
    lines = [
        "",
        f"Shared rate limiter: {args.credentials} credentials x {args.rate:g} req/s "
        f"(limit {limit:g} pages/s), {args.queries} queries per credential x {args.pages} pages "
        f"= {args.credentials * args.queries * args.pages} pages; provider {args.provider}; "
        f"slots spaced for R in {1 + limiter_module.SLOT_MARGIN_S:g} s (best ratio {best:.3f})",
        "",
        f"  {'configuration':<22} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'ratio':>6} "
        f"{'429s':>6} {'completed/paused':>17} {'wall s':>7} {'max/s served':>13}",
    ]
    for o in outcomes:
        done = f"{o.statuses.get('completed', 0)}/{o.statuses.get('paused', 0)}"
        others = {s: n for s, n in o.statuses.items() if s not in ("completed", "paused")}
        if others:
            done += " +" + ",".join(f"{n} {s}" for s, n in others.items())
        maxes = "/".join(str(v) for _, v in sorted(o.max_served_per_s.items()))
        lines.append(
            f"  {o.name:<22} {o.pages:>6} {o.span_s:>8.1f} {o.rate:>8.2f} {o.ratio:>6.3f} "
            f"{o.rate_limited:>6} {done:>17} {o.wall_s:>7.1f} {maxes:>13}"
        )
    for o in outcomes:
        per_key = ", ".join(f"{v:.2f}" for _, v in sorted(o.per_key_rate.items()))
        received = "/".join(str(v) for _, v in sorted(o.max_received_per_s.items()))
        lines += [
            "",
            f"{o.name}: {o.description}",
            f"  per-key pages/s {per_key}; requests sent {o.requests} "
            f"(429s {o.rate_limited}); most received in 1 s per key {received}; "
            f"pages stored {o.pages_stored}/{o.pages_expected}; shortest span of R + 1 "
            "received "
            + "/".join(f"{v * 1000:.0f}" for _, v in sorted(o.tightest_received_s.items()))
            + " ms"
            + ("; TIMED OUT" if o.timed_out else ""),
        ]
        d = o.diagnostics
        if d:
            fl = d["page_steps_in_flight"]
            claims = ", ".join(f"{n} {kind}" for kind, n in sorted(d["claims"].items()))
            lines += [
                f"  claims: {claims}; requests started over R in 1 s (client side) "
                f"{d['starts_over_capacity_in_1s']}; shortest span of R + 1 starts "
                + "/".join(f"{v * 1000:.0f}" for v in d["tightest_started_s"].values())
                + " ms",
                f"  page steps in flight: mean {fl['mean']:.1f}, max {fl['max']}, of which in "
                f"the claim {fl['mean_in_claim']:.1f} (mean); this process's CPU "
                f"{o.cpu_pct:.0f}% of a core",
                "  ms p50/p90/p99/max: "
                + "; ".join(
                    f"{label} {x['p50']:.1f}/{x['p90']:.1f}/{x['p99']:.1f}/{x['max']:.0f}"
                    for label, x in (
                        ("send skew (logged -> request)", d["send_skew"]),
                        ("claim after its slot", d["claim_after_slot"]),
                    )
                ),
            ]
        elif o.cpu_pct:
            lines.append(f"  this process's CPU {o.cpu_pct:.0f}% of a core")
    shared = next((o for o in outcomes if o.name == "pagerunner"), None)
    if shared is not None:
        ok = shared.ratio >= TARGET_RATIO and shared.rate_limited == 0 and not shared.timed_out
        lines += [
            "",
            f"target: pagerunner >= {TARGET_RATIO} x limit with 0 429s: ratio "
            f"{shared.ratio:.3f}, {shared.rate_limited} 429s  {'PASS' if ok else 'FAIL'}",
        ]
    return "\n".join(lines) + "\n"


def summarize(args: argparse.Namespace, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine(
            send_margin_s=limiter_module.SEND_MARGIN_S,
            slot_margin_s=limiter_module.SLOT_MARGIN_S,
            max_claim_wait_s=limiter_module.MAX_CLAIM_WAIT_S,
        ),
        "limit_pages_per_s": args.credentials * args.rate,
        "results": [asdict(o) | {"ratio": o.ratio} for o in outcomes],
    }


CONFIGS: dict[str, tuple[str, bool]] = {
    "pagerunner": ("shared limiter per credential (limits.per_second = R, page_delay_s = 0)", True),
    "original": ("fixed delay per query, no shared limit (no per_second, page_delay_s = 1)", False),
}


async def bench(args: argparse.Namespace) -> list[Outcome]:
    names = [args.only] if args.only else list(CONFIGS)
    outcomes = []
    for name in names:
        description, shared = CONFIGS[name]
        label = name if shared else "original design"
        outcomes.append(await run_config(args, label, description, shared=shared))
    return outcomes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--credentials", "-k", type=int, default=3, help="credentials (K)")
    parser.add_argument("--rate", "-r", type=float, default=5.0, help="requests/s per key (R)")
    parser.add_argument("--queries", "-q", type=int, default=20, help="queries per credential")
    parser.add_argument(
        "--pages", "-p", type=int, default=10, help="pages per query (the issue's shape: 20)"
    )
    parser.add_argument(
        "--only", choices=sorted(CONFIGS), default=None, help="run one configuration only"
    )
    parser.add_argument(
        "--original-delay",
        type=float,
        default=1.0,
        help="page_delay_s of the original design (seconds)",
    )
    parser.add_argument(
        "--provider",
        choices=("subprocess", "inprocess"),
        default="subprocess",
        help="run the simulated provider as `pagerunner demo-api` or in this process",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per configuration before giving up"
    )
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not time the limiter from inside (to check the wrappers cost nothing)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if min(args.credentials, args.queries, args.pages) < 1 or args.rate <= 0:
        parser.error("--credentials, --queries, --pages must be >= 1 and --rate > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    outcomes = asyncio.run(bench(args))
    report(render(args, outcomes), summarize(args, outcomes), args.json)
    return 0  # a benchmark reports, it does not gate


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
