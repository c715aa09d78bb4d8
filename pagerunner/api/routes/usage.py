"""`/api/usage`: requests per credential today and this month, against the budgets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...queries.credentials import CredentialLimiter
from ..deps import ServicesDep
from ..services import Services

__all__ = ["router", "usage_report"]

router = APIRouter(prefix="/api/usage", tags=["usage"])


@router.get("", summary="Usage and limits per credential")
async def usage(services: ServicesDep) -> dict[str, Any]:
    return {"items": await usage_report(services)}


async def usage_report(services: Services) -> list[dict[str, Any]]:
    """One entry per credential: its sources, requests counted, budgets, limits, back-off.

    Shared by the API and the `/usage` page, so both always show the same numbers.
    """
    counted = {u.credential_id: u for u in await CredentialLimiter(services.store.database).usage()}
    items = []
    for name in services.sources.names():
        source = services.sources.get(name)
        seen = counted.pop(source.credential_id, None)
        entry = (
            seen.to_json()
            if seen
            else {
                "credential": source.credential_id,
                "requests_today": 0,
                "requests_this_month": 0,
                "blocked_until": None,
                "block_reason": None,
            }
        )
        limits = source.limits
        items.append(
            {
                **entry,
                "sources": [name],
                "daily_budget": limits.daily_budget,
                "monthly_budget": limits.monthly_budget,
                "per_second": limits.per_second,
                "per_minute": limits.per_minute,
                "per_hour": limits.per_hour,
            }
        )
    merged: dict[str, dict[str, Any]] = {}
    for item in items:  # several sources may share one credential
        if item["credential"] in merged:
            merged[item["credential"]]["sources"] += item["sources"]
        else:
            merged[item["credential"]] = item
    return list(merged.values())
