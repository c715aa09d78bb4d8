"""What the simulated provider answers, HTTP-free: status, JSON body, headers.

Error bodies look like a real provider's: `{"error": {"code", "message"}}`,
with messages a user can act on. `for_fault` turns a firing `Fault` into its
answer. `responses` only translates an `Answer` to an HTTP response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .faults import Fault

__all__ = [
    "Answer",
    "bad_request",
    "for_fault",
    "invalid_api_key",
    "missing_api_key",
    "quota_exceeded",
    "rate_limited",
    "seconds_text",
    "server_error",
]


@dataclass(frozen=True)
class Answer:
    """One answer to a search request."""

    status: int
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as-is instead of `body` (the `malformed` fault)
    drop: bool = False  # close the connection instead of answering


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers)


def invalid_api_key() -> Answer:
    return _error(401, "invalid_api_key", "Invalid API key. Check the key you sent in X-API-Key.")


def missing_api_key() -> Answer:
    return _error(
        401, "invalid_api_key", "Missing API key. Send it in the X-API-Key header (or api_key)."
    )


def rate_limited(rate_per_s: float | None, retry_after_s: float | None) -> Answer:
    """429; `Retry-After` in seconds when known (whole seconds print without a decimal)."""
    if rate_per_s is None:
        message = "Rate limit exceeded. Slow down and retry later."
    else:
        message = f"Rate limit exceeded: {rate_per_s:g} requests per second allowed for this key."
    headers = {} if retry_after_s is None else {"Retry-After": seconds_text(retry_after_s)}
    return _error(429, "rate_limited", message, **headers)


def seconds_text(value: float) -> str:
    """`2` for whole seconds (the HTTP form), `0.25` otherwise (fast tests)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def quota_exceeded(used: int, quota: int) -> Answer:
    return _error(
        402,
        "quota_exceeded",
        f"Monthly search quota exhausted ({used} of {quota} searches used). "
        "Upgrade your plan or wait for the next billing period.",
    )


def bad_request(message: str) -> Answer:
    return _error(400, "bad_request", message)


def server_error(status: int = 503) -> Answer:
    if status == 503:
        return _error(503, "unavailable", "Service temporarily unavailable")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server error"
    return _error(status, "server_error", f"{phrase}. Please retry later.")


_MALFORMED = b'{"results": [{"id": "pl_3f2a9c", "name": "Golden Cof'


def for_fault(fault: Fault, *, rate_per_s: float | None, used: int, quota: int | None) -> Answer:
    """The answer a firing fault forces (`slow` and `timeout` only delay, they have none)."""
    match fault.kind:
        case "server_error":
            return server_error(fault.status)
        case "rate_limit":
            return rate_limited(rate_per_s, fault.retry_after_s)
        case "quota":
            return quota_exceeded(used, quota if quota is not None else used)
        case "invalid_key":
            return invalid_api_key()
        case "malformed":
            return Answer(200, raw=_MALFORMED, headers={"Content-Type": "application/json"})
        case "drop":
            return Answer(0, drop=True)
    raise ValueError(f"fault {fault.kind!r} does not decide an answer")
