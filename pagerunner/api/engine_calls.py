"""The shape of a call from the engine to `/api/inngest`, checked before the SDK sees it.

The Inngest SDK answers a malformed call with a 500 and its own validation
error; `check_engine_call` (a `BoundedInput` validator) refuses it with a 422
naming the field instead. The models mirror what the SDK requires of a call
(`inngest._internal.server_lib.ServerRequest`) and accept anything more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.types import Scope

from ..edge import InputError

__all__ = ["check_engine_call"]


class _Event(BaseModel):
    name: str
    data: dict[str, Any] | None = None
    id: str = ""
    ts: int = 0


class _Stack(BaseModel):
    stack: list[str] | None = None


class _Context(BaseModel):
    run_id: str
    attempt: int
    disable_immediate_execution: bool
    stack: _Stack


class _Call(BaseModel):
    event: _Event
    events: list[_Event] | None = None
    steps: dict[str, Any]
    ctx: _Context
    use_api: bool


def check_engine_call(scope: Scope, call: Any) -> None:
    """Raise `InputError` when a POST to the serve endpoint is not a call the SDK can run."""
    if scope["method"] != "POST":
        return
    try:
        _Call.model_validate(call)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = f"not a call from the engine: {first['msg']}"
        raise InputError(("body", *first["loc"]), message) from None
