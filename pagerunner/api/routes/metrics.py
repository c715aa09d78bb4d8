"""`/metrics`: the app's figures in the Prometheus text format (behind the token, when set).

The counters of what queries did are updated by the page step (`pagerunner.metrics`);
the figures kept in the query store are read here, at each scrape (`store_figures`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ...probes import METRICS_RESPONSES, gauge
from ...queries.credentials import CredentialLimiter
from ...sources.base import Limits
from ..deps import ServicesDep
from ..services import Services

__all__ = ["router", "store_figures"]

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses=METRICS_RESPONSES,
)
async def metrics(request: Request, services: ServicesDep) -> PlainTextResponse:
    return await services.metrics.response(request)


async def store_figures(services: Services) -> list[Metric]:
    """Queries by status, and per credential the requests counted today and this month
    (the budget used), its budgets and how long its back-off still lasts."""
    counted = await services.store.count_by_status()
    usage = {u.credential_id: u for u in await CredentialLimiter(services.store.database).usage()}
    limits: dict[str, Limits] = {}
    for name in services.sources.names():
        source = services.sources.get(name)
        limits.setdefault(source.credential_id, source.limits)
    requests = GaugeMetricFamily(
        "pagerunner_credential_requests",
        "Requests counted per credential in the current UTC day and month (the budget used)",
        labels=["credential", "period"],
    )
    budgets = GaugeMetricFamily(
        "pagerunner_credential_budget",
        "A credential's request budget per day or month (only where one is set)",
        labels=["credential", "period"],
    )
    backoff = GaugeMetricFamily(
        "pagerunner_credential_backoff_seconds",
        "Seconds until every query on the credential may send again (0: no back-off)",
        labels=["credential"],
    )
    now = time.time()
    for credential in sorted(usage.keys() | limits.keys()):
        used, limit = usage.get(credential), limits.get(credential, Limits())
        requests.add_metric([credential, "day"], used.requests_today if used else 0)
        requests.add_metric([credential, "month"], used.requests_this_month if used else 0)
        for period, budget in (("day", limit.daily_budget), ("month", limit.monthly_budget)):
            if budget is not None:
                budgets.add_metric([credential, period], budget)
        until = used.blocked_until if used and used.blocked_until else now
        backoff.add_metric([credential], max(0.0, until - now))
    queries = gauge(
        "pagerunner_queries",
        "Queries by status",
        "status",
        {status.value: count for status, count in counted.items()},
    )
    return [queries, requests, budgets, backoff]
