"""The one place where domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..destinations.delivery import LoadConflict
from ..queries.batches import BatchNotFound
from ..queries.combos import TooManyCombos
from ..queries.model import InvalidTransition, QueryError, QueryNotFound
from ..queries.schedules import ScheduleNotFound, TickNotFound
from ..sources.base import BadRequestError
from .services import SchedulingError

__all__ = ["CONFLICT", "NOT_FOUND", "UNAVAILABLE", "install_error_handlers", "validation_error"]

# What the handlers below answer, for the OpenAPI document of each route.
NOT_FOUND: dict[int | str, dict[str, str]] = {
    404: {"description": "No such query, combo, schedule or tick"}
}
CONFLICT: dict[int | str, dict[str, str]] = {
    409: {"description": "The query's status (or its destination) does not allow this action"}
}
UNAVAILABLE: dict[int | str, dict[str, str]] = {
    503: {"description": "The database or the engine did not answer; retry"}
}


def validation_error(field: str, message: str) -> JSONResponse:
    """A 422 in FastAPI's own shape, naming the field (`params.q` -> body.params.q)."""
    loc = ["body", *field.split(".")]
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}, status_code=422
    )


def _source_error(_request: Request, exc: Exception) -> JSONResponse:
    field, _, message = str(exc).partition(": ")
    if not message:
        field, message = "params", str(exc)
    return validation_error(field, message)


def _query_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TooManyCombos):
        return _source_error(_request, exc)
    if isinstance(exc, QueryNotFound | BatchNotFound | ScheduleNotFound | TickNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, InvalidTransition | LoadConflict):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return JSONResponse({"detail": f"storage error: {exc}"}, status_code=503)


def _scheduling_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BadRequestError, _source_error)
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(SchedulingError, _scheduling_error)
