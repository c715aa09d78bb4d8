"""`step.ai.infer`: the request an `AIGateway` op describes, made by the executor.

As Inngest's server does it (`pkg/util/aigateway/request.go` and
`executor.handleGeneratorAIGateway`): a JSON `POST` of the op's `body` to its `url`,
the `auth_key` placed as the op's `format` wants it, the op's `headers` added. A 2xx
answer is the step's result (`{"data": <the answer>}`); any other outcome is an
`AIGatewayError`: the call that returned the op is retried while it has attempts left
(the app is asked again and answers the same op), and on its last attempt the error is
the step's result, which the function may catch. The auth key is never stored or logged,
and is taken out of every error text.

Made between the call and the write that records it (never inside a transaction); the
op then carries its `data` or `error` for `outcomes` to record as a step result.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .calls import CallOutcome
from .errors import TransportError
from .transport import AppTransport

__all__ = ["AI_OP", "make_ai_requests"]

AI_OP = "AIGateway"
_EMPTY_ANSWER = b'{"error":"Error making AI request"}'


class _Failed(Exception):
    """The AI request failed; the message is Inngest's reason."""

    def __init__(self, reason: str, body: bytes = b"") -> None:
        super().__init__(reason)
        self.body = body


def ai_request(opts: Mapping[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and headers of the request an op's options describe."""
    url, key, kind = str(opts["url"]), str(opts.get("auth_key") or ""), opts.get("format")
    headers = {"content-type": "application/json"}
    if kind == "gemini":  # the key as a query parameter
        parts = urlsplit(url)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("key", key)])
        url = urlunsplit(parts._replace(query=query))
    elif kind == "bedrock":  # the fully signed AWS authorization
        headers["authorization"] = key
    elif kind == "anthropic":
        headers["x-api-key"] = key
    else:
        headers["authorization"] = f"Bearer {key}"
    for name, value in dict(opts.get("headers") or {}).items():
        headers[str(name).lower()] = str(value)
    body = json.dumps(opts.get("body"), separators=(",", ":"), ensure_ascii=False).encode()
    return url, body, headers


async def make_ai_requests(
    outcome: CallOutcome, transport: AppTransport, *, may_retry: bool
) -> CallOutcome:
    """The answer with each `AIGateway` op's request made (the op then holds `data` or
    `error`), or a failed call when a request failed and the call may be retried."""
    if outcome.kind != "ops" or not any(op.get("op") == AI_OP for op in outcome.ops):
        return outcome
    ops = []
    for op in outcome.ops:
        if op.get("op") != AI_OP:
            ops.append(op)
            continue
        raw = op.get("opts")
        opts: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        key = str(opts.get("auth_key") or "")
        try:
            answer = await _request(opts, transport)
        except _Failed as exc:
            error = _error(str(exc), exc.body, key)
            if may_retry:
                return CallOutcome(kind="error", http_status=outcome.http_status, error=error)
            ops.append({**op, "data": None, "error": error})
            continue
        ops.append({**op, "data": answer, "error": None})
    return replace(outcome, ops=ops)


async def _request(opts: Mapping[str, Any], transport: AppTransport) -> Any:
    try:
        url, body, headers = ai_request(opts)
    except (KeyError, TypeError, ValueError) as exc:
        raise _Failed(f"Error making AI request: invalid options ({exc})") from exc
    try:
        response = await transport.request("POST", url, body=body, headers=headers)
    except TransportError as exc:
        raise _Failed(f"Error making AI request: {exc}") from exc
    if response.status > 299:
        reason = f"Error making AI request: unsuccessful status code: {response.status}"
        raise _Failed(reason, response.body)
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise _Failed("Error making AI request: the answer is not JSON", response.body) from exc


def _error(reason: str, body: bytes, key: str) -> dict[str, Any]:
    """Inngest's `AIGatewayError`: the answer's text as `stack`, its JSON as `data`."""
    body = body or _EMPTY_ANSWER
    text = body.decode("utf-8", "replace")
    error: dict[str, Any] = {
        "name": "AIGatewayError",
        "message": _redact(reason, key),
        "stack": _redact(text, key),
    }
    with contextlib.suppress(ValueError):
        error["data"] = json.loads(error["stack"])
    return error


def _redact(text: str, key: str) -> str:
    return text.replace(key, "[redacted]") if len(key) >= 4 else text
