"""`/api/combos`: one query per combination of list-valued params, under a batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from ...functions import PRIORITY_COMBO_S, page_cap
from ...queries.batches import BatchStore
from ...queries.combos import DEFAULT_CAP, expand
from ...queries.deliveries import DeliveryStore
from ...webhooks.address import MAX_URL_CHARS
from ..deps import Offset, ServicesDep
from ..errors import NOT_FOUND, UNAVAILABLE
from .queries import Deliver

__all__ = ["router"]

router = APIRouter(prefix="/api/combos", tags=["combos"], responses=UNAVAILABLE)


class RunCombos(BaseModel):
    """List-valued params: every combination becomes one query."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, examples=["demo"])
    params: dict[str, Any] = Field(
        examples=[{"q": ["coffee", "tea"], "location": ["Austin, TX", "Dallas, TX"]}]
    )
    max_pages: int | None = Field(None, ge=1, le=100_000)
    max_queries: int = Field(DEFAULT_CAP, ge=1, le=10_000)
    webhook: str | None = Field(
        None,
        max_length=MAX_URL_CHARS,
        description="Called once with a signed JSON body when every query has finished",
        examples=["https://example.com/hooks/pagerunner"],
    )
    deliver: Deliver | None = Field(
        None, description="Each query's records are loaded there when it completes"
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, summary="Start one query per combination")
async def run_combos(body: RunCombos, services: ServicesDep) -> dict[str, Any]:
    source = services.sources.get(body.source)
    max_pages = page_cap(source, services.settings, body.max_pages)
    webhook = services.check_webhook(body.webhook)
    deliver = services.check_deliver(body.deliver.destination if body.deliver else None)
    combos = expand(body.params, source.validate_params, cap=body.max_queries)
    batch, created = await BatchStore(services.store.database).create(
        body.source, body.params, combos, max_pages=max_pages, webhook=webhook, deliver=deliver
    )
    services.schedule_soon(created, PRIORITY_COMBO_S)
    return {"id": batch.id, "queries": len(created), "query_ids": [q.id for q in created]}


@router.get(
    "/{batch_id}",
    summary="A combo's progress, its queries and its webhook deliveries",
    responses=NOT_FOUND,
)
async def get_combo(batch_id: str, services: ServicesDep) -> dict[str, Any]:
    summary = await BatchStore(services.store.database).summary(batch_id)
    deliveries = await DeliveryStore(services.store.database).for_batch(batch_id)
    return {**summary, "webhook_deliveries": [d.to_json() for d in deliveries]}


@router.get(
    "/{batch_id}/results",
    summary="Every distinct record the combo found, once",
    responses=NOT_FOUND,
)
async def combo_results(
    batch_id: str,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await BatchStore(services.store.database).results(
        batch_id, limit=limit, offset=offset
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}
