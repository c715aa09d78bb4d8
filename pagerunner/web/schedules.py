"""The Schedules pages: every schedule with its next tick and a form for a new one, and
one schedule with its ticks (what each found, how much was new, the export of the new).

Thin like the other pages: the form builds the same `NewSchedule` as
`POST /api/schedules` and goes through the same `create_schedule`, so it checks
and answers exactly as the API does; pause, resume and delete are the store's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi import status as http
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from ..api.deps import ServicesDep
from ..api.routes.schedules import NewSchedule, SchedulesDep, create_schedule
from ..guard import CsrfChecked
from ..queries.model import QueryError
from ..queries.schedules import ScheduleNotFound
from ..sources.base import BadRequestError
from .routes import deliver_context, not_found, render, webhook_context
from .views import format_time

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
ACTIONS = ("pause", "resume", "delete")
FIELDS = (
    "source",
    "params",
    "cron",
    "timezone",
    "name",
    "max_pages",
    "overlap",
    "webhook",
    "deliver",
)


def _params(text: str) -> dict[str, Any]:
    """`key=value` lines; a key given on several lines gets a list (a combo)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not line.strip():
            continue
        if not sep or not key.strip():
            raise BadRequestError(f"params: expected key=value, got '{line.strip()}'")
        found.setdefault(key.strip(), []).append(value.strip())
    return {k: v[0] if len(v) == 1 else v for k, v in found.items()}


async def _list_page(
    request: Request,
    services: ServicesDep,
    schedules: SchedulesDep,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    items, total = await schedules.list(limit=200)
    form = form or {"source": "demo", "cron": "0 9 * * *", "overlap": "skip"}
    context = {
        "schedules": [{**s.to_json(), "next": format_time(s.next_at)} for s in items],
        "total": total,
        "sources": services.sources.names(),
        "form": form,
        "errors": errors or {},
        **webhook_context(services, form.get("webhook", "")),
        **deliver_context(services, form.get("deliver", "")),
    }
    return render(request, "schedules.html", context, status_code)


@router.get("/schedules")
async def schedules_page(
    request: Request, services: ServicesDep, schedules: SchedulesDep
) -> Response:
    return await _list_page(request, services, schedules)


@router.post("/schedules")
async def create_schedule_form(
    request: Request, services: ServicesDep, schedules: SchedulesDep, _csrf: CsrfChecked
) -> Response:
    """Create as `POST /api/schedules` does; a problem is shown next to its field."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in (*FIELDS, "max_queries")}
    try:
        body = NewSchedule.model_validate(
            {
                "source": form["source"],
                "params": _params(str(raw.get("params") or "")),
                "cron": form["cron"],
                "timezone": form["timezone"] or None,
                "name": form["name"] or None,
                "max_pages": form["max_pages"] or None,
                "overlap": form["overlap"] or "skip",
                "webhook": form["webhook"] or None,
                "deliver": {"destination": form["deliver"]} if form["deliver"] else None,
            }
        )
        schedule = await create_schedule(body, services, schedules)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
        return await _list_page(request, services, schedules, form, errors, 422)
    except (BadRequestError, QueryError) as exc:
        field, _, message = str(exc).partition(": ")
        key = field.split(".")[0] if message and field.split(".")[0] in FIELDS else "params"
        errors = {key: message or str(exc)}
        return await _list_page(request, services, schedules, form, errors, 422)
    return RedirectResponse(f"/schedules/{schedule.id}", http.HTTP_303_SEE_OTHER)


@router.get("/schedules/{schedule_id}")
async def schedule_page(
    request: Request, schedule_id: str, services: ServicesDep, schedules: SchedulesDep
) -> Response:
    try:
        schedule = await schedules.get(schedule_id)
    except ScheduleNotFound as exc:
        return not_found(request, str(exc))
    ticks, total = await schedules.ticks(schedule_id, limit=100)
    context = {
        "schedule": {**schedule.to_json(), "next": format_time(schedule.next_at)},
        "ticks": ticks,
        "tick_count": total,
        "done": request.query_params.get("done"),
        "webhook_signed": services.settings.webhook_signing_secret is not None,
    }
    return render(request, "schedule.html", context)


@router.post("/schedules/{schedule_id}/{action}")
async def schedule_action(
    request: Request, schedule_id: str, action: str, schedules: SchedulesDep, _csrf: CsrfChecked
) -> Response:
    """Pause, resume or delete, as the API does."""
    if action not in ACTIONS:
        return not_found(request, "No such action.")
    try:
        if action == "pause":
            await schedules.pause(schedule_id)
        elif action == "resume":
            await schedules.resume(schedule_id)
        else:
            await schedules.delete(schedule_id)
            return RedirectResponse("/schedules", http.HTTP_303_SEE_OTHER)
    except ScheduleNotFound as exc:
        return not_found(request, str(exc))
    return RedirectResponse(f"/schedules/{schedule_id}?done={action}", http.HTTP_303_SEE_OTHER)
