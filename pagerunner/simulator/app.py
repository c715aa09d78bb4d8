"""The simulated provider over HTTP: the FastAPI app with search, health and admin routes.

Routes stay thin: the `Simulator` decides every answer, `responses` turns it
into an HTTP response, sleeps the delays (ending early when the client
leaves, so a server can stop promptly) and drops connections for the `drop`
fault. `/_admin/*` is for local use (tests, benchmarks, the demo) and has no
authentication; it is served only when `config.admin` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .faults import Fault
from .responses import SimulatorAPI, to_response, wait_unless_client_leaves

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["LimitsBody", "create_simulator_app"]

_SEARCH_PARAMETERS: list[dict[str, Any]] = [
    {"name": name, "in": where, "required": required, "schema": {"type": kind}, "description": d}
    for name, where, required, kind, d in (
        ("q", "query", True, "string", "What to search for; a `total:N` token sets the total."),
        ("location", "query", False, "string", "Where to search."),
        ("page", "query", False, "integer", "Page number, from 1."),
        ("page_size", "query", False, "integer", "Results per page, 1 to 100."),
        ("api_key", "query", False, "string", "The API key, if not in X-API-Key."),
        ("X-API-Key", "header", False, "string", "The API key."),
    )
]


class LimitsBody(BaseModel):
    """`POST /_admin/limits`: replace a key's limits (null: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)
    rate_per_s: float | None = Field(default=None, gt=0)
    quota: int | None = Field(default=None, ge=0)


def create_simulator_app(sim: Simulator) -> FastAPI:
    """The simulated provider's ASGI app, answering for `sim`."""
    app = SimulatorAPI(
        title="pagerunner simulated provider",
        description="A paginated search API with faults and limits on demand (local use).",
        version="1",
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/search", openapi_extra={"parameters": _SEARCH_PARAMETERS})
    async def search(request: Request) -> Response:
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        verdict = sim.begin_search(key)
        delay_s = sim.config.latency_s + verdict.delay_s
        if delay_s > 0 and not await wait_unless_client_leaves(request, delay_s):
            sim.client_left()
            return Response(status_code=499)  # nobody is listening any more
        return to_response(sim.answer_search(key, request.query_params, verdict.fault))

    sim.profiles.add_routes(app, admin=sim.config.admin)  # other providers' shapes
    if sim.config.admin:
        _add_admin_routes(app, sim)
    return app


def _add_admin_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/_admin/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": sim.describe_faults()}

    @app.post("/_admin/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, Any]:
        sim.add_fault(fault)
        return {"added": fault.to_json(), "active": len(sim.faults)}

    @app.delete("/_admin/faults")
    async def clear_faults() -> dict[str, Any]:
        cleared = len(sim.faults)
        sim.clear_faults()
        return {"cleared": cleared}

    @app.post("/_admin/limits")
    async def set_limits(body: LimitsBody) -> dict[str, Any]:
        sim.set_limits(body.key, rate_per_s=body.rate_per_s, quota=body.quota)
        return body.model_dump()

    @app.get("/_admin/stats")
    async def stats() -> dict[str, Any]:
        return sim.stats.to_json()

    @app.post("/_admin/reset")
    async def reset() -> dict[str, Any]:
        sim.reset()
        return {"reset": True}
