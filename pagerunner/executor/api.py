"""The executor's HTTP surface: event intake, registration, the v1 REST API and the dashboard.

Routes are thin: they parse and validate, call the `Executor` or `views`, and
map executor errors to status codes in one place (`_errors`).
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..edge import EDGE_RESPONSES, SafeJSONResponse, install_edge
from ..guard import Guard
from ..probes import METRICS_RESPONSES, READY_RESPONSES, database_check, ready
from . import views
from .config import INTAKE_LIMITS, event_intake_limits
from .dashboard import install_dashboard
from .engine import Executor
from .errors import (
    ConflictError,
    EventTooLargeError,
    ExecutorError,
    InvalidEventError,
    NotFoundError,
    RegistrationError,
    StoreError,
)
from .signing import check_bearer
from .timeparse import now_utc, to_iso

__all__ = ["create_executor_app"]


def _wrap(data: Any, **metadata: Any) -> dict[str, Any]:
    return {"data": data, "metadata": {"fetched_at": to_iso(now_utc()), **metadata}}


def _errors(_request: Request, exc: ExecutorError) -> JSONResponse:
    status = (
        404
        if isinstance(exc, NotFoundError)
        else 409
        if isinstance(exc, ConflictError)
        else 503
        if isinstance(exc, StoreError)
        else 400
    )
    return JSONResponse({"error": str(exc)}, status_code=status)


def get_executor(request: Request) -> Executor:
    executor: Executor = request.app.state.executor
    return executor


ExecutorDep = Annotated[Executor, Depends(get_executor)]
PUBLIC_PATHS = ("/e/", "/fn/register", "/healthz")
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed: the reason is in `error`"},
    401: {"description": "The event key or the signing key is not accepted"},
}
intake_router = APIRouter(tags=["intake"], responses=_REFUSED)
v1 = APIRouter(
    prefix="/v1",
    responses={
        400: {"description": "A parameter is not valid (e.g. a cursor): see `error`"},
        401: {"description": "The API token is required"},
        404: {"description": "No such run, event or app"},
        409: {"description": "The run's status does not allow this action"},
        503: {"description": "The executor's database did not answer; retry"},
    },
)


def create_executor_app(executor: Executor) -> FastAPI:
    """Build the ASGI app serving `executor` (the CLI runs it with uvicorn)."""
    app = FastAPI(
        title="pagerunner executor",
        description="An Inngest-compatible executor: event intake, app sync and run state.",
        version="0.1.0",
        default_response_class=SafeJSONResponse,
        responses=EDGE_RESPONSES,
    )
    install_edge(app, INTAKE_LIMITS, overrides={"/e/": event_intake_limits(executor.config.limits)})
    app.state.executor = executor
    server_kind = _server_kind(executor)

    app.add_middleware(_ServerKind, kind=server_kind)

    app.add_exception_handler(ExecutorError, _errors)  # type: ignore[arg-type]
    # Intake and registration are for SDKs and keep their own key / signature checks.
    config = executor.config
    Guard(
        config.api_token,
        public_paths=PUBLIC_PATHS,
        session_ttl_s=config.session_ttl_s,
        secure_cookies=config.secure_cookies,
    ).install(app)
    app.include_router(intake_router)
    app.include_router(v1)
    install_dashboard(app)
    return app


class _ServerKind:
    """Adds `x-inngest-server-kind` to every answer, as Inngest's servers do (plain ASGI)."""

    def __init__(self, app: ASGIApp, kind: str) -> None:
        self.app = app
        self.header = (b"x-inngest-server-kind", kind.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_kind(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_kind if scope["type"] == "http" else send)


def _server_kind(executor: Executor) -> str:
    return "cloud" if executor.config.signing_key else "dev"


def _intake_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"ids": [], "status": status, "error": message}, status_code=status)


@intake_router.post("/e/{event_key}", summary="Send one event or a list of events")
async def intake(event_key: str, request: Request, executor: ExecutorDep) -> JSONResponse:
    expected = executor.config.event_key
    if expected and not hmac.compare_digest(event_key.encode(), expected.encode()):
        return JSONResponse(
            {"ids": [], "status": 401, "error": "event key not accepted"}, status_code=401
        )
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return _intake_error(f"body is not valid JSON: {exc}")
    batch = body if isinstance(body, list) else [body]
    if not batch:
        return _intake_error("no events in the request")
    try:
        ids = await executor.send_events(batch, seed=request.headers.get("x-inngest-event-id-seed"))
    except EventTooLargeError as exc:
        return _intake_error(str(exc), 413)
    except InvalidEventError as exc:
        return _intake_error(str(exc))
    return JSONResponse({"ids": ids, "status": 200})


@intake_router.post("/fn/register", tags=["sync"], summary="Register an app's functions")
async def register(request: Request, executor: ExecutorDep) -> JSONResponse:
    keys = executor.config.signing_keys
    if keys and not check_bearer(request.headers.get("authorization"), keys):
        return _refused("signing key not accepted", 401)
    expected_kind = request.headers.get("x-inngest-expected-server-kind")
    kind = _server_kind(executor)
    if expected_kind and expected_kind != kind:
        return _refused(f"this is a {kind} server; the app expects {expected_kind}")
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        return _refused(f"body is not valid JSON: {exc}")
    try:
        return JSONResponse(await executor.register(payload))
    except RegistrationError as exc:
        return _refused(str(exc))


def _refused(message: str, status: int = 400) -> JSONResponse:
    """A refused registration, as Inngest answers it: the JS SDK answers the executor's
    sync request with the `status` it reads here (the Python SDK copies the body)."""
    return JSONResponse({"error": message, "status": status}, status_code=status)


@intake_router.get("/dev", tags=["info"], summary="Executor information")
async def info(executor: ExecutorDep) -> dict[str, Any]:
    functions = await executor.db.read(views.list_functions)
    return {"version": "pagerunner", "functions": functions, "leader": executor.is_leader}


@intake_router.get("/healthz", tags=["info"], summary="Liveness")
async def healthz(executor: ExecutorDep) -> dict[str, Any]:
    return {"ok": True, "leader": executor.is_leader}


@intake_router.get(
    "/readyz", tags=["info"], summary="Readiness: the database answers", responses=READY_RESPONSES
)
async def readyz(executor: ExecutorDep) -> JSONResponse:
    # Public like /healthz; a standby that does not hold the lease is ready all the same.
    return await ready([database_check(executor.db)])


@intake_router.get(
    "/metrics",
    tags=["info"],
    summary="Prometheus metrics (the API token is required when set)",
    response_class=PlainTextResponse,
    responses=METRICS_RESPONSES,
)
async def metrics(request: Request, executor: ExecutorDep) -> PlainTextResponse:
    return await executor.metrics.response(request)


@v1.get("/runs/{run_id}", tags=["runs"], summary="One run")
async def get_run(run_id: str, executor: ExecutorDep) -> dict[str, Any]:
    return _wrap(await executor.db.read(views.get_run, run_id))


@v1.delete("/runs/{run_id}", tags=["runs"], summary="Cancel a run")
async def cancel_run(run_id: str, executor: ExecutorDep) -> dict[str, Any]:
    await executor.cancel_run(run_id)
    return _wrap(await executor.db.read(views.get_run, run_id))


@v1.post("/runs/{run_id}/rerun", tags=["runs"], summary="Run again from the same event")
async def rerun(run_id: str, executor: ExecutorDep) -> dict[str, Any]:
    new_id = await executor.rerun(run_id)
    return _wrap({"run_id": new_id, "original_run_id": run_id})


@v1.get("/runs/{run_id}/steps", tags=["runs"], summary="Steps and attempts of a run")
async def steps(run_id: str, executor: ExecutorDep) -> dict[str, Any]:
    return _wrap(await executor.db.read(views.run_steps, run_id))


StatusFilter = Literal["Running", "Completed", "Failed", "Cancelled"]


@v1.get("/runs", tags=["runs"], summary="Runs, newest first")
async def list_runs(
    executor: ExecutorDep,
    status: Annotated[list[StatusFilter] | None, Query()] = None,
    function_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page, next_cursor = await executor.db.read(
        views.list_runs,
        status=status or [],
        function_id=function_id,
        since=since.timestamp() if since else None,
        until=until.timestamp() if until else None,
        cursor=cursor,
        limit=limit,
    )
    return _wrap(page, next_cursor=next_cursor)


@v1.get("/events/{event_id}/runs", tags=["events"], summary="Runs an event started")
async def event_runs(event_id: str, executor: ExecutorDep) -> dict[str, Any]:
    return _wrap(await executor.db.read(views.runs_for_event, event_id))


@v1.get("/events", tags=["events"], summary="Events, newest first")
async def list_events(
    executor: ExecutorDep,
    name: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page, next_cursor = await executor.db.read(
        views.list_events, name=name, cursor=cursor, limit=limit
    )
    return _wrap(page, next_cursor=next_cursor)


@v1.get("/functions", tags=["apps"], summary="Registered functions")
async def list_functions(executor: ExecutorDep) -> dict[str, Any]:
    return _wrap(await executor.db.read(views.list_functions))


@v1.get("/apps", tags=["apps"], summary="Synced apps")
async def list_apps(executor: ExecutorDep) -> dict[str, Any]:
    return _wrap(await executor.db.read(views.list_apps))


@v1.post("/apps/{app_name}/sync", tags=["apps"], summary="Re-sync a known app")
async def resync(app_name: str, executor: ExecutorDep) -> dict[str, Any]:
    # By name only: a synced app's URL, or those the executor was given (-u) that have not
    # answered yet. This endpoint never reaches a caller-given URL.
    return _wrap(await executor.resync(app_name))
