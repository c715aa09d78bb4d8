"""The shape of a call from the engine to `/api/inngest`, checked before the SDK sees it.

The Inngest SDK answers a malformed call with a 500 and its own validation
error; `engine_call_check` (a `BoundedInput` validator) refuses it with a 422
naming the field, or a 404 for a function that is not served, instead. The
models mirror what the SDK requires of a call
(`inngest._internal.server_lib.ServerRequest`) and accept anything more.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError
from starlette.types import Scope

from ..edge import InputError

__all__ = ["engine_call_check"]


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
    events: list[_Event]
    steps: dict[str, Any]
    ctx: _Context
    use_api: bool


def engine_call_check(function_ids: Collection[str]) -> Callable[[Scope, Any], None]:
    """A `BoundedInput` validator for calls to the functions `function_ids`."""

    def check(scope: Scope, call: Any) -> None:
        if scope["method"] != "POST":
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        fn_id = (query.get("fnId") or [""])[0]
        if fn_id not in function_ids:
            raise InputError(("query", "fnId"), f"no function '{fn_id}' is served here", 404)
        try:
            _Call.model_validate(call)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = f"not a call from the engine: {first['msg']}"
            raise InputError(("body", *first["loc"]), message) from None

    return check
