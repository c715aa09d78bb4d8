"""Liveness, readiness and what this instance runs.

Both are public (no token), as Kubernetes probes usually are: they answer
nothing that needs one (see `probes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...probes import READY_RESPONSES, database_check, ready, url_check
from ..deps import ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and configuration summary")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    return {"ok": True, "engine": services.settings.engine, "sources": services.sources.names()}


@router.get(
    "/readyz",
    summary="Readiness: the database answers, and so does pagerunner's executor",
    responses=READY_RESPONSES,
)
async def readyz(services: ServicesDep) -> JSONResponse:
    checks = [database_check(services.store.database)]
    settings = services.settings
    if settings.engine == "embedded":  # Inngest itself is not probed: it is not ours
        checks.append(url_check("executor", f"{settings.executor_origin}/healthz"))
    return await ready(checks)
