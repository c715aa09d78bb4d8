"""What monitoring asks of pagerunner's web apps: Prometheus metrics and readiness.

Shared infrastructure (like `guard` and `edge`): the app and the executor both
serve `/metrics` and `/readyz` with it, and it knows nothing about either.

- `Metrics` is one Prometheus registry per app instance (never the process-wide
  default registry, so two apps in one process, or in one test, do not collide).
  Counters and histograms are updated where events happen; figures kept in a
  database (queries by status, queue depth, ...) are read from it at scrape time
  by `StoreFigures` and exposed as they are.
- `ready` runs readiness checks (the database answers `SELECT 1`, a URL answers)
  with a short deadline. Readiness is public, like `/healthz`, so a check's
  `detail` never carries an address, a database message or a secret: those go
  to the log only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

import httpx
import structlog
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from pydantic import BaseModel
from sqlalchemy import Connection, text

from .sqlstore import Database

__all__ = [
    "CHECK_TIMEOUT_S",
    "METRICS_RESPONSES",
    "READY_RESPONSES",
    "Check",
    "CheckResult",
    "Metrics",
    "Readiness",
    "database_check",
    "gauge",
    "ready",
    "url_check",
]

log = structlog.get_logger("pagerunner.probes")

#: A readiness check that takes longer than this has failed.
CHECK_TIMEOUT_S = 2.0

#: A check: its name, and a coroutine returning a public detail or raising `NotReady`.
Check = tuple[str, Callable[[], Awaitable[str]]]


class NotReady(Exception):
    """A readiness check failed; the message is public (no address, no database text)."""


class CheckResult(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    """Whether this instance can serve: every check and what it found."""

    ready: bool
    checks: dict[str, CheckResult]


METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The Prometheus text format (OpenMetrics when the Accept header asks)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    401: {"description": "The API token is required"},
}
READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Readiness, "description": "Every check passed"},
    503: {"model": Readiness, "description": "A check failed: `checks` says which"},
}


class StoreFigures:
    """A collector of families read from a store when Prometheus scrapes.

    prometheus-client collects synchronously, and stores are read with `await`:
    `refresh` (awaited by the `/metrics` route right before rendering) reads the
    families, `collect` yields what it read. When the read fails, only
    `<up>` (0) is exposed, and the reason is logged.
    """

    def __init__(self, read: Callable[[], Awaitable[list[Metric]]], up: str) -> None:
        self._read = read
        self._up = up
        self._families: list[Metric] = []

    async def refresh(self) -> None:
        try:
            families, ok = await asyncio.wait_for(self._read(), CHECK_TIMEOUT_S), 1.0
        except Exception as exc:  # the scrape still answers, with the database marked down
            log.warning("metrics_store_unread", error=str(exc), error_type=type(exc).__name__)
            families, ok = [], 0.0
        up = GaugeMetricFamily(self._up, "1 when the figures were read from the database", ok)
        self._families = [*families, up]

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class Metrics:
    """One app instance's Prometheus registry, with the process's own metrics in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._figures: list[StoreFigures] = []

    def read_at_scrape(self, read: Callable[[], Awaitable[list[Metric]]], *, up: str) -> None:
        """Expose the families `read` returns, read afresh at each scrape; `up` is 0 when
        the read fails."""
        figures = StoreFigures(read, up)
        self._figures.append(figures)
        self.registry.register(figures)

    async def response(self, request: Request) -> PlainTextResponse:
        """The registry in the format the scraper's Accept header asks for."""
        for figures in self._figures:
            await figures.refresh()
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return PlainTextResponse(encode(self.registry), headers={"content-type": content_type})


def gauge(name: str, documentation: str, label: str, values: Mapping[str, float]) -> Metric:
    """A gauge family with one sample per value of `label`."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1")).scalar_one()


def database_check(db: Database) -> Check:
    """The database answers `SELECT 1`."""

    async def check() -> str:
        started = time.perf_counter()
        await db.read(_select_one)
        return f"answered in {(time.perf_counter() - started) * 1000:.0f} ms"

    return "database", check


def url_check(name: str, url: str) -> Check:
    """`url` answers 200 (e.g. another process's `/healthz`)."""

    async def check() -> str:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                log.warning("readiness_url_unreachable", check=name, url=url, error=str(exc))
                raise NotReady(f"did not answer ({type(exc).__name__})") from exc
        if response.status_code != 200:
            log.warning("readiness_url_refused", check=name, url=url, status=response.status_code)
            raise NotReady(f"answered HTTP {response.status_code}")
        return "answered"

    return name, check


async def _run(name: str, check: Callable[[], Awaitable[str]]) -> CheckResult:
    try:
        return CheckResult(ok=True, detail=await asyncio.wait_for(check(), CHECK_TIMEOUT_S))
    except NotReady as exc:
        return CheckResult(ok=False, detail=str(exc))
    except TimeoutError:
        return CheckResult(ok=False, detail=f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # the message may name hosts or users: log it, answer the type
        log.warning("readiness_check_failed", check=name, error=str(exc))
        return CheckResult(ok=False, detail=f"failed ({type(exc).__name__})")


async def ready(checks: Iterable[Check]) -> JSONResponse:
    """Run the checks at once: 200 when all pass, else 503; the body says which failed."""
    named = list(checks)
    results = await asyncio.gather(*(_run(name, check) for name, check in named))
    readiness = Readiness(
        ready=all(r.ok for r in results),
        checks={name: result for (name, _), result in zip(named, results, strict=True)},
    )
    return JSONResponse(readiness.model_dump(), status_code=200 if readiness.ready else 503)
