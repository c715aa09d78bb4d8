"""`/api/queries`: run, inspect, pause, resume, cancel and export queries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from ...destinations.spec import MAX_SPEC_CHARS
from ...functions import page_cap
from ...queries.deliveries import DeliveryStore
from ...queries.model import QueryStatus
from ...webhooks.address import MAX_URL_CHARS
from ..deps import Offset, ServicesDep
from ..errors import CONFLICT, NOT_FOUND, UNAVAILABLE
from ..exports import file_response

__all__ = ["router"]

router = APIRouter(prefix="/api/queries", tags=["queries"], responses=UNAVAILABLE)


class Deliver(BaseModel):
    """Where the records are loaded (with dlt) when the query completes."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(
        min_length=1,
        max_length=MAX_SPEC_CHARS,
        description=(
            "duckdb:///file.duckdb, parquet:///folder, jsonl:///folder, csv:///folder (paths "
            "below PAGERUNNER_DELIVERY_DIR), or the name of a dlt destination configured in "
            "pagerunner's environment; never a password (see docs/destinations.md)"
        ),
        examples=["duckdb:///leads.duckdb", "warehouse"],
    )


class RunQuery(BaseModel):
    """A query to run: which source, its parameters, and an optional page cap."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, examples=["demo"])
    params: dict[str, Any] = Field(
        default_factory=dict, examples=[{"q": "coffee", "location": "Austin, TX"}]
    )
    max_pages: int | None = Field(None, ge=1, le=100_000)
    webhook: str | None = Field(
        None,
        max_length=MAX_URL_CHARS,
        description="Called with a signed JSON body when the query completes, fails or pauses",
        examples=["https://example.com/hooks/pagerunner"],
    )
    deliver: Deliver | None = None


@router.post("/run", status_code=status.HTTP_202_ACCEPTED, summary="Start a query")
async def run_query(body: RunQuery, services: ServicesDep) -> dict[str, Any]:
    source = services.sources.get(body.source)
    params = source.validate_params(body.params)
    max_pages = page_cap(source, services.settings, body.max_pages)
    webhook = services.check_webhook(body.webhook)
    deliver = services.check_deliver(body.deliver.destination if body.deliver else None)
    query = await services.store.create(
        body.source, params, max_pages=max_pages, webhook=webhook, deliver=deliver
    )
    services.schedule_soon([query])  # answer at once: the query is saved, the send follows
    return {"id": query.id, "status": query.status.value}


@router.get("", summary="List queries, newest first")
async def list_queries(
    services: ServicesDep,
    status_filter: Annotated[QueryStatus | None, Query(alias="status")] = None,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    queries, total = await services.store.list(
        status=status_filter.value if status_filter else None,
        source=source,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [q.to_json() for q in queries],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/{query_id}",
    summary="One query: status, progress, error, checkpoint, webhook deliveries, loads",
    responses=NOT_FOUND,
)
async def get_query(query_id: str, services: ServicesDep) -> dict[str, Any]:
    query = await services.store.get(query_id)
    deliveries = await DeliveryStore(services.store.database).for_query(query_id)
    loads = await services.delivery.loads.for_query(query_id)
    return {
        **query.to_json(),
        "webhook_deliveries": [d.to_json() for d in deliveries],
        "destination_loads": [load.to_json() for load in loads],
    }


@router.post(
    "/{query_id}/deliver",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Load the query's stored records into its destination again (nothing is fetched)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def deliver_query(query_id: str, services: ServicesDep) -> dict[str, Any]:
    return (await services.deliver(query_id)).to_json()


@router.post(
    "/{query_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Continue a paused, failed or cancelled query from its checkpoint",
    responses={**NOT_FOUND, **CONFLICT},
)
async def resume_query(query_id: str, services: ServicesDep) -> dict[str, Any]:
    query = await services.resume(query_id)
    return query.to_json()


@router.post(
    "/{query_id}/pause",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Pause after the page in flight",
    responses={**NOT_FOUND, **CONFLICT},
)
async def pause_query(query_id: str, services: ServicesDep) -> dict[str, Any]:
    return (await services.store.request_pause(query_id)).to_json()


@router.post(
    "/{query_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel; records fetched so far are kept",
    responses={**NOT_FOUND, **CONFLICT},
)
async def cancel_query(query_id: str, services: ServicesDep) -> dict[str, Any]:
    query = await services.store.cancel(query_id)
    await services.stop_run(query)
    return query.to_json()


@router.get("/{query_id}/pages", summary="The page log", responses=NOT_FOUND)
async def query_pages(query_id: str, services: ServicesDep) -> dict[str, Any]:
    pages = await services.store.pages(query_id)
    return {"items": [p.to_json() for p in pages]}


@router.get(
    "/{query_id}/results",
    summary="Records (paged JSON, or CSV / NDJSON export)",
    responses=NOT_FOUND,
)
async def query_results(
    query_id: str,
    services: ServicesDep,
    format: Literal["json", "csv", "ndjson"] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    query = await services.store.get(query_id)
    if format == "json":
        items, total = await services.store.results(query_id, limit=limit, offset=offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}
    return file_response(
        services.store.iter_results(query_id),
        format,
        f"{query.source}-{query.id}.{format}",
        protect_formulas=services.settings.csv_protect_formulas,
    )
