"""Liveness and what this instance runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and configuration summary")
async def healthz(services: ServicesDep) -> dict[str, Any]:
    return {"ok": True, "engine": services.settings.engine, "sources": services.sources.names()}
