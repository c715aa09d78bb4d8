"""The dashboard's pages: runs, one run's waterfall, events, functions and apps.

Pages read through `views` and act through the `Executor` (cancel, rerun,
send events, sync a known app). Every form post is CSRF-checked
(`guard.CsrfChecked`); executor errors are shown on the page with a 4xx/5xx
status, never as a server error. Query parameters are validated here and a bad
one re-renders the page with a 422 naming it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import Connection

from ...edge import InputError, check_json
from ...guard import CsrfChecked
from .. import batches, views
from ..config import INTAKE_LIMITS
from ..engine import Executor
from ..errors import ConflictError, ExecutorError, InvalidEventError, NotFoundError
from .describe import describe_function
from .rendering import Pages
from .timeline import build_timeline, step_anchor, step_duration_ms

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
pages = Pages()

STATUSES = ("Running", "Completed", "Failed", "Cancelled")
RANGES = {
    "15m": ("last 15 minutes", 900),
    "1h": ("last hour", 3600),
    "24h": ("last 24 hours", 86400),
    "7d": ("last 7 days", 7 * 86400),
}
CURSOR = re.compile(r"[0-9A-Za-z]{1,26}")
MAX_FORM_EVENT_CHARS = 512 * 1024
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def get_executor(request: Request) -> Executor:
    executor: Executor = request.app.state.executor
    return executor


ExecutorDep = Annotated[Executor, Depends(get_executor)]


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _not_found(request: Request, message: str) -> Response:
    return pages.page(request, "error.html", status_code=404, title="Not found", message=message)


# -- runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilters:
    """The runs page's query parameters, checked."""

    status: str = ""
    function: str = ""
    range: str = ""
    cursor: str = ""
    limit: int = DEFAULT_LIMIT
    problems: tuple[str, ...] = ()

    def query(self, **changes: Any) -> str:
        """This page's query string, with some parameters changed (e.g. the cursor)."""
        values = replace(self, **changes)
        pairs = [
            ("status", values.status),
            ("function", values.function),
            ("range", values.range),
            ("cursor", values.cursor),
            ("limit", str(values.limit) if values.limit != DEFAULT_LIMIT else ""),
        ]
        return urlencode([(k, v) for k, v in pairs if v])

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.function or self.range)


def parse_run_filters(params: Mapping[str, str]) -> RunFilters:
    problems = []
    status = params.get("status", "")
    if status and status not in STATUSES:
        problems.append(f"Unknown status '{status}': use one of {', '.join(STATUSES)}.")
    time_range = params.get("range", "")
    if time_range and time_range not in RANGES:
        problems.append(f"Unknown time range '{time_range}': use one of {', '.join(RANGES)}.")
    cursor = params.get("cursor", "")
    if cursor and not CURSOR.fullmatch(cursor):
        problems.append("The cursor is not a run id: start again from the newest runs.")
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit", "")
    if raw_limit:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            problems.append(f"The limit must be a number from 1 to {MAX_LIMIT}.")
    return RunFilters(
        status=status,
        function=params.get("function", ""),
        range=time_range,
        cursor=cursor,
        limit=limit,
        problems=tuple(problems),
    )


def _runs_with_events(
    conn: Connection, filters: RunFilters, now: float
) -> tuple[list[dict[str, Any]], str | None]:
    since = now - RANGES[filters.range][1] if filters.range else None
    found, next_cursor = views.list_runs(
        conn,
        status=[filters.status] if filters.status else [],
        function_id=filters.function or None,
        since=since,
        cursor=filters.cursor or None,
        limit=filters.limit,
    )
    names = views.event_names(conn, [r["event_id"] for r in found])
    for run in found:
        run["event_name"] = names.get(run["event_id"])
    return found, next_cursor


@router.get("/")
@router.get("/runs")
async def runs_page(request: Request, executor: ExecutorDep) -> Response:
    filters = parse_run_filters(request.query_params)
    found: list[dict[str, Any]] = []
    next_cursor = None
    if not filters.problems:
        found, next_cursor = await executor.db.read(_runs_with_events, filters, time.time())
    function_ids = [f["id"] for f in await executor.db.read(views.list_functions)]
    return pages.live_page(
        request,
        "runs.html",
        {"runs": "_runs.html"},
        poll=not filters.problems,
        status_code=422 if filters.problems else 200,
        nav="runs",
        runs=found,
        next_cursor=next_cursor,
        filters=filters,
        statuses=STATUSES,
        ranges=RANGES,
        function_ids=function_ids,
        error=" ".join(filters.problems) or None,
    )


async def _run_response(
    request: Request,
    executor: Executor,
    run_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        run = await executor.db.read(views.run_detail, run_id)
    except NotFoundError:
        return _not_found(request, f"There is no run with id {run_id}.")
    return pages.live_page(
        request,
        "run.html",
        {"summary": "_run_summary.html", "steps": "_run_steps.html"},
        poll=run["status"] == "Running",
        status_code=status_code,
        nav="runs",
        run=run,
        timeline=build_timeline(run, time.time()),
        step_anchor=step_anchor,
        step_duration_ms=step_duration_ms,
        error=error,
    )


@router.get("/runs/{run_id}")
async def run_page(run_id: str, request: Request, executor: ExecutorDep) -> Response:
    return await _run_response(request, executor, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    run_id: str, request: Request, executor: ExecutorDep, _csrf: CsrfChecked
) -> Response:
    try:
        run = await executor.db.read(views.get_run, run_id)
        if run["status"] != "Running":
            message = f"The run is already {run['status']}: there is nothing to cancel."
            return await _run_response(request, executor, run_id, error=message, status_code=409)
        await executor.cancel_run(run_id)
    except NotFoundError:
        return _not_found(request, f"There is no run with id {run_id}.")
    except ExecutorError as exc:
        return await _run_response(request, executor, run_id, error=str(exc), status_code=409)
    return _see_other(f"/runs/{quote(run_id)}")


@router.post("/runs/{run_id}/rerun")
async def rerun(
    run_id: str, request: Request, executor: ExecutorDep, _csrf: CsrfChecked
) -> Response:
    try:
        await executor.db.read(views.get_run, run_id)
    except NotFoundError:
        return _not_found(request, f"There is no run with id {run_id}.")
    try:
        new_id = await executor.rerun(run_id)
    except ExecutorError as exc:
        status = 409 if isinstance(exc, ConflictError | NotFoundError) else 400
        message = f"Rerun refused: {exc}"
        return await _run_response(request, executor, run_id, error=message, status_code=status)
    return _see_other(f"/runs/{quote(new_id)}")


# -- events ----------------------------------------------------------------------------


def _events_with_runs(
    conn: Connection, name: str | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, dict[str, list[dict[str, Any]]]]:
    found, next_cursor = views.list_events(conn, name=name, cursor=cursor, limit=DEFAULT_LIMIT)
    started = views.runs_by_event(conn, [e["internal_id"] for e in found])
    return found, next_cursor, started


def _draft(name: str) -> str:
    return json.dumps({"name": name or "test/hello", "data": {}}, indent=2)


async def _events_response(
    request: Request,
    executor: Executor,
    *,
    draft: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    params = request.query_params
    name, cursor = params.get("name", ""), params.get("cursor", "")
    if cursor and not CURSOR.fullmatch(cursor):
        error, status_code, cursor = "The cursor is not an event id.", 422, ""
    found, next_cursor, started = await executor.db.read(
        _events_with_runs, name or None, cursor or None
    )
    sent = params.get("sent", "")
    notice = f"Sent {sent} event(s)." if sent.isdigit() and error is None else None
    return pages.live_page(
        request,
        "events.html",
        {"events": "_events.html"},
        poll=True,
        status_code=status_code,
        nav="events",
        events=found,
        started=started,
        next_cursor=next_cursor,
        name=name,
        cursor=cursor,
        draft=draft if draft is not None else _draft(params.get("compose", "")),
        error=error,
        notice=notice,
    )


@router.get("/events")
async def events_page(request: Request, executor: ExecutorDep) -> Response:
    return await _events_response(request, executor)


def parse_event_form(text: str) -> tuple[list[Any], str | None, int]:
    """The events typed into the form, or why they cannot be sent (and the status)."""
    if len(text) > MAX_FORM_EVENT_CHARS:
        return [], f"The JSON is larger than {MAX_FORM_EVENT_CHARS // 1024} KiB.", 413
    if not text.strip():
        return [], 'Type an event, e.g. {"name": "test/hello", "data": {}}.', 400
    try:
        body = check_json(text.encode(), INTAKE_LIMITS)
    except InputError as exc:
        return [], f"The event is not valid: {exc.message}.", 400
    batch = body if isinstance(body, list) else [body]
    if not batch:
        return [], "The list has no events.", 422
    return batch, None, 200


@router.post("/events/send")
async def send_event(
    request: Request,
    executor: ExecutorDep,
    _csrf: CsrfChecked,
    payload: Annotated[str, Form()] = "",
) -> Response:
    batch, error, status = parse_event_form(payload)
    if error is None:
        try:
            await executor.send_events(batch)  # validates every event before storing any
        except InvalidEventError as exc:
            error, status = f"Not sent: {exc}.", 422
    if error is not None:
        return await _events_response(
            request, executor, draft=payload, error=error, status_code=status
        )
    return _see_other(f"/events?sent={len(batch)}")


# -- functions and apps ----------------------------------------------------------------


@router.get("/functions")
async def functions_page(request: Request, executor: ExecutorDep) -> Response:
    rows = await executor.db.read(views.list_functions)
    waiting = await executor.db.read(batches.waiting)
    functions = [describe_function(r, waiting.get(r["id"])) for r in rows]
    return pages.page(request, "functions.html", nav="functions", functions=functions)


async def _apps_response(
    request: Request,
    executor: Executor,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    apps = await executor.db.read(views.list_apps)
    synced = request.query_params.get("synced")
    if notice is None and synced in {a["name"] for a in apps}:
        notice = f"Synced {synced}."
    return pages.page(
        request,
        "apps.html",
        status_code=status_code,
        nav="apps",
        apps=apps,
        error=error,
        notice=notice,
    )


@router.get("/apps")
async def apps_page(request: Request, executor: ExecutorDep) -> Response:
    return await _apps_response(request, executor)


@router.post("/apps/sync")
async def sync_app(
    request: Request, executor: ExecutorDep, _csrf: CsrfChecked, app: Annotated[str, Form()] = ""
) -> Response:
    # Only an app already known by name: this form never makes the executor call a given URL.
    known = {a["name"]: a["url"] for a in await executor.db.read(views.list_apps)}
    if app not in known:
        return await _apps_response(
            request, executor, error=f"There is no app named '{app}'.", status_code=404
        )
    try:
        await executor.sync_app(known[app])
    except ExecutorError as exc:
        return await _apps_response(
            request, executor, error=f"Sync of {app} failed: {exc}", status_code=502
        )
    return _see_other(f"/apps?{urlencode({'synced': app})}")
