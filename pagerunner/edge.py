"""The HTTP edge of pagerunner's web apps: bounded requests, answers that always render.

Shared infrastructure (like `guard`): the app and the executor both install
`BoundedInput` and answer with `SafeJSONResponse`, and this module knows
nothing about either. `BoundedInput` refuses, with a message naming the limit
or the field:

- a body larger than `max_body_bytes` (413), whether announced by
  `Content-Length` or streamed;
- a JSON body that does not parse, uses `NaN` / `Infinity`, nests deeper than
  `max_depth`, or holds text that cannot be stored and shown: lone surrogates
  (never valid UTF-8), and, unless `control_chars`, NUL and the other control
  characters but tab, line feed and carriage return (422);
- strings longer than `max_text_chars` in a JSON body, a form or the query
  string (422).

A 422 has FastAPI's shape (`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`),
so clients see one kind of validation error whichever layer refused them.
Routes then parse bodies that are known to be bounded. (The embedded executor's
calls do not come through here: they go to an app of their own, see `app`.)
`SafeJSONResponse` renders stored values that are not valid JSON text (see
`safetext`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .safetext import json_text

__all__ = [
    "EDGE_RESPONSES",
    "BoundedInput",
    "InputError",
    "InputLimits",
    "SafeJSONResponse",
    "check_json",
    "check_text",
    "install_edge",
]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_JSON_TYPES = ("application/json", "application/x-ndjson", "text/json")
_FORM_TYPE = "application/x-www-form-urlencoded"
MAX_QUERY_BYTES = 8192

#: The answers `BoundedInput` may give on any route, for the OpenAPI documents.
EDGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "The request body is larger than the limit named in `detail`"},
    422: {"description": "A value is out of bounds or malformed: `detail[].loc` names it"},
}


@dataclass(frozen=True)
class InputLimits:
    """What one request may carry; `None` lifts a limit."""

    max_body_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_text_chars: int | None = 10_000
    #: Whether text may hold control characters (NUL included); lone surrogates never may.
    control_chars: bool = False
    #: Whether every value of a JSON body is checked (depth, text, numbers). Off only where
    #: the next layer parses the body anyway and walking it would cost more than the call
    #: (the engine's calls to `/api/inngest` carry the whole run state).
    check_values: bool = True


class InputError(ValueError):
    """A request value out of bounds: where it is (`loc`), why, and the HTTP status to answer."""

    def __init__(self, loc: Sequence[str | int], message: str, status: int = 422) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message
        self.status = status

    def response(self) -> JSONResponse:
        if self.status != 422:
            return JSONResponse({"detail": self.message}, status_code=self.status)
        detail = {"loc": list(self.loc), "msg": self.message, "type": "value_error"}
        return JSONResponse({"detail": [detail]}, status_code=self.status)


def check_text(value: str, loc: Sequence[str | int], limits: InputLimits) -> None:
    """Refuse text that is too long or that holds characters it must not."""
    if limits.max_text_chars is not None and len(value) > limits.max_text_chars:
        raise InputError(
            loc, f"text is {len(value):,} characters long; the limit is {limits.max_text_chars:,}"
        )
    if _SURROGATE.search(value):
        raise InputError(loc, "text holds a lone surrogate (\\ud800-\\udfff), which is not Unicode")
    if not limits.control_chars and (match := _CONTROL.search(value)):
        raise InputError(loc, f"text holds the control character U+{ord(match[0]):04X}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_json(body: bytes, limits: InputLimits, loc: Sequence[str | int] = ("body",)) -> Any:
    """Parse a JSON body within `limits`; raises `InputError` naming the first bad value."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise InputError(loc, f"JSON nests deeper than {limits.max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(loc, f"body is not valid JSON: {exc}") from None
    if not limits.check_values:
        return value
    for path, depth, item in _walk(value, tuple(loc)):
        if depth > limits.max_depth:
            raise InputError(path, f"JSON nests deeper than {limits.max_depth} levels")
        if isinstance(item, str):
            check_text(item, path, limits)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InputError(path, "number is out of range")
    return value


def _walk(
    value: Any, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], int, Any]]:
    """Every value and object key with its location and depth, without recursion."""
    stack: list[tuple[tuple[str | int, ...], int, Any]] = [(loc, 0, value)]
    while stack:
        path, depth, item = stack.pop()
        yield path, depth, item
        if isinstance(item, dict):
            for key, child in item.items():
                yield (*path, key), depth + 1, key
                stack.append(((*path, key), depth + 1, child))
        elif isinstance(item, list):
            stack.extend(((*path, i), depth + 1, child) for i, child in enumerate(item))


@dataclass
class BoundedInput:
    """ASGI middleware applying `limits` (or, per path prefix, `overrides`) to every request."""

    app: ASGIApp
    limits: InputLimits = field(default_factory=InputLimits)
    overrides: dict[str, InputLimits] = field(default_factory=dict)
    #: Run after the generic checks on a parsed JSON body of the given path prefix.
    validators: dict[str, Callable[[Scope, Any], None]] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limits = _by_prefix(self.overrides, path) or self.limits
        try:
            _check_query(scope, limits)
            body = await _read_body(scope, receive, limits.max_body_bytes)
            if body:
                _check_body(scope, body, limits, _by_prefix(self.validators, path))
        except InputError as exc:
            await exc.response()(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


T = TypeVar("T")


def _by_prefix(by_prefix: dict[str, T], path: str) -> T | None:
    """The value of the first prefix of `path` in `by_prefix`."""
    return next((v for prefix, v in by_prefix.items() if path.startswith(prefix)), None)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _check_query(scope: Scope, limits: InputLimits) -> None:
    query = scope.get("query_string", b"").decode("latin-1")
    if len(query) > MAX_QUERY_BYTES:
        raise InputError(("query",), f"the query string is longer than {MAX_QUERY_BYTES:,} bytes")
    # Query parameters are names, ids and filters: never control characters.
    strict = replace(limits, control_chars=False)
    for name, value in parse_qsl(query, keep_blank_values=True):
        check_text(value, ("query", name), strict)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    too_large = InputError(
        ("body",), f"request body is larger than the limit of {limit:,} bytes", 413
    )
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _check_body(
    scope: Scope, body: bytes, limits: InputLimits, validator: Callable[[Scope, Any], None] | None
) -> None:
    content_type = _header(scope, b"content-type").split(";")[0].strip().lower()
    if content_type in _JSON_TYPES:
        value = check_json(body, limits)
        if validator is not None:
            validator(scope, value)
    elif content_type == _FORM_TYPE:
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise InputError(("body",), "form body is not UTF-8") from None
        for name, value in fields:
            check_text(value, ("body", name), limits)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class SafeJSONResponse(JSONResponse):
    """FastAPI's JSON answer, rendered with `json_text`: a stored value never makes it a 500."""

    def render(self, content: Any) -> bytes:
        return json_text(content, separators=(",", ":")).encode("utf-8")


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, rendered safely: the refused input may be anything (an odd float, text)."""
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def install_edge(
    app: FastAPI,
    limits: InputLimits,
    *,
    overrides: dict[str, InputLimits] | None = None,
    validators: dict[str, Callable[[Scope, Any], None]] | None = None,
) -> None:
    """Bound `app`'s requests; build the app with `default_response_class=SafeJSONResponse`
    and `responses=EDGE_RESPONSES` so that its answers render and its OpenAPI says so."""
    app.add_middleware(
        BoundedInput, limits=limits, overrides=overrides or {}, validators=validators or {}
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
