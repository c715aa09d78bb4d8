"""`/api/schedules`: a query or combo run again on a cron timetable, and its ticks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from ...cron import MAX_CRON_CHARS
from ...functions import page_cap
from ...queries.combos import DEFAULT_CAP, expand
from ...queries.schedule_store import ScheduleStore
from ...queries.schedules import Schedule
from ...webhooks.address import MAX_URL_CHARS
from ..deps import Offset, ServicesDep
from ..errors import NOT_FOUND, UNAVAILABLE
from ..exports import file_response
from .queries import Deliver

__all__ = ["NewSchedule", "SchedulesDep", "create_schedule", "router"]

router = APIRouter(prefix="/api/schedules", tags=["schedules"], responses=UNAVAILABLE)


def get_schedules(request: Request) -> ScheduleStore:
    schedules: ScheduleStore = request.app.state.schedules
    return schedules


SchedulesDep = Annotated[ScheduleStore, Depends(get_schedules)]


class NewSchedule(BaseModel):
    """A query (or, with list-valued params, a combo) and when to run it again."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, examples=["demo"])
    params: dict[str, Any] = Field(
        default_factory=dict, examples=[{"q": "coffee", "location": ["Austin, TX", "Dallas, TX"]}]
    )
    cron: str = Field(
        min_length=1,
        max_length=MAX_CRON_CHARS,
        description="Five fields (minute hour day-of-month month day-of-week), as Inngest reads"
        " them; an optional `TZ=Area/City ` prefix instead of `timezone`",
        examples=["0 9 * * 1-5"],
    )
    timezone: str | None = Field(
        None, max_length=64, description="IANA time zone of the cron (default UTC)"
    )
    name: str | None = Field(None, max_length=200)
    max_pages: int | None = Field(None, ge=1, le=100_000)
    max_queries: int = Field(DEFAULT_CAP, ge=1, le=10_000, description="Queries per tick, at most")
    overlap: Literal["skip", "wait"] = Field(
        "skip",
        description="A tick that comes while the previous one still runs is skipped, or waits"
        " for it (one waiting tick at most; more are skipped)",
    )
    webhook: str | None = Field(
        None,
        max_length=MAX_URL_CHARS,
        description="Called once per tick with a signed JSON body (combo.finished), when all"
        " its queries have finished",
        examples=["https://example.com/hooks/pagerunner"],
    )
    deliver: Deliver | None = Field(
        None, description="Each query of a tick is loaded there when it completes"
    )


async def create_schedule(
    body: NewSchedule, services: ServicesDep, schedules: ScheduleStore
) -> Schedule:
    """Check a new schedule as a combo is checked (its first tick's queries are valid now)."""
    source = services.sources.get(body.source)
    max_pages = page_cap(source, services.settings, body.max_pages)
    webhook = services.check_webhook(body.webhook)
    deliver = services.check_deliver(body.deliver.destination if body.deliver else None)
    expand(body.params, source.validate_params, cap=body.max_queries)
    schedule = Schedule.new(
        source=body.source,
        params=body.params,
        cron=body.cron,
        timezone=body.timezone,
        now=schedules.clock(),
        name=body.name,
        max_pages=max_pages,
        max_queries=body.max_queries,
        webhook=webhook,
        deliver=deliver,
        overlap=body.overlap,
    )
    return await schedules.create(schedule)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a schedule")
async def post_schedule(
    body: NewSchedule, services: ServicesDep, schedules: SchedulesDep
) -> dict[str, Any]:
    return (await create_schedule(body, services, schedules)).to_json()


@router.get("", summary="List schedules, newest first")
async def list_schedules(
    schedules: SchedulesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await schedules.list(limit=limit, offset=offset)
    return {"items": [s.to_json() for s in items], "total": total, "limit": limit, "offset": offset}


@router.get("/{schedule_id}", summary="A schedule and its latest ticks", responses=NOT_FOUND)
async def get_schedule(schedule_id: str, schedules: SchedulesDep) -> dict[str, Any]:
    schedule = await schedules.get(schedule_id)
    ticks, total = await schedules.ticks(schedule_id, limit=20)
    return {**schedule.to_json(), "ticks": ticks, "tick_count": total}


@router.post(
    "/{schedule_id}/pause", summary="Stop making ticks (running ones go on)", responses=NOT_FOUND
)
async def pause_schedule(schedule_id: str, schedules: SchedulesDep) -> dict[str, Any]:
    return (await schedules.pause(schedule_id)).to_json()


@router.post(
    "/{schedule_id}/resume",
    summary="Tick again from the next cron time (missed ones are not made)",
    responses=NOT_FOUND,
)
async def resume_schedule(schedule_id: str, schedules: SchedulesDep) -> dict[str, Any]:
    return (await schedules.resume(schedule_id)).to_json()


@router.delete(
    "/{schedule_id}",
    summary="Delete a schedule and its ticks (the queries they made stay)",
    responses=NOT_FOUND,
)
async def delete_schedule(schedule_id: str, schedules: SchedulesDep) -> dict[str, Any]:
    await schedules.delete(schedule_id)
    return {"id": schedule_id, "deleted": True}


@router.get("/{schedule_id}/ticks", summary="Ticks, latest first", responses=NOT_FOUND)
async def list_ticks(
    schedule_id: str,
    schedules: SchedulesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await schedules.ticks(schedule_id, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/{schedule_id}/ticks/{tick_id}",
    summary="One tick: its combo's progress and how many records were new",
    responses=NOT_FOUND,
)
async def get_tick(schedule_id: str, tick_id: str, schedules: SchedulesDep) -> dict[str, Any]:
    return await schedules.tick(schedule_id, tick_id)


@router.get(
    "/{schedule_id}/ticks/{tick_id}/results",
    summary="A tick's records; by default only those new since the ticks before it",
    responses=NOT_FOUND,
)
async def tick_results(
    schedule_id: str,
    tick_id: str,
    services: ServicesDep,
    schedules: SchedulesDep,
    new_only: bool = True,
    format: Literal["json", "csv", "ndjson"] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    if format == "json":
        items, total = await schedules.results(
            schedule_id, tick_id, new_only=new_only, limit=limit, offset=offset
        )
        return {"items": items, "total": total, "limit": limit, "offset": offset}
    await schedules.tick(schedule_id, tick_id)  # a 404 now, not in the middle of a stream
    return file_response(
        schedules.iter_results(schedule_id, tick_id, new_only=new_only),
        format,
        f"schedule-{schedule_id}-{tick_id}{'-new' if new_only else ''}.{format}",
        protect_formulas=services.settings.csv_protect_formulas,
    )
