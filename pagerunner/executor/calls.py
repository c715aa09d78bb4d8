"""One call into an app's serve endpoint: the request body and what came back.

`build_request` produces the exact JSON the SDK expects (see the protocol
reference §3.1); `interpret` turns the raw response into a `CallOutcome`
without side effects, so the run loop only decides what to persist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import SignatureError
from .signing import canonical_json, sign, verify
from .timeparse import now_utc, parse_retry_after
from .transport import AppResponse

__all__ = ["CallOutcome", "RawJSON", "build_request", "call_url", "interpret"]

OutcomeKind = Literal["completed", "ops", "error"]


class RawJSON(str):
    """JSON text sent as it is, without a decode and an encode per call: a memo as stored.

    It must be RFC 8785 (JCS) canonical JSON, so that a signed body stays canonical
    (the SDK canonicalizes what it receives before checking the signature).
    """


@dataclass(frozen=True)
class CallOutcome:
    """What one call produced: the run's output, ops to process, or an error."""

    kind: OutcomeKind
    http_status: int | None = None
    output: Any = None
    ops: Sequence[Mapping[str, Any]] = ()
    error: Mapping[str, Any] | None = None
    no_retry: bool = False
    retry_after: timedelta | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The error is the app's own answer (a non-2xx from the SDK), kept as it was sent.
    from_sdk: bool = False
    #: Size of the answer's body: a bound on each op's size.
    body_bytes: int = 0
    #: The execution version the SDK answered with (`x-inngest-req-version`; 0 without).
    request_version: int = 0


def call_url(runtime_url: str, fn_id: str, step_id: str) -> str:
    """The function's runtime URL with `fnId` and `stepId` set (other params kept)."""
    parts = urlsplit(runtime_url)
    query = dict(parse_qsl(parts.query))
    query.update({"fnId": fn_id, "stepId": step_id})
    return urlunsplit(parts._replace(query=urlencode(query)))


def build_request(
    *,
    run_id: str,
    events: Sequence[Mapping[str, Any]],
    memo: Mapping[str, Any],
    stack: Sequence[str],
    attempt: int,
    max_attempts: int,
    force_plan: bool,
    signing_key: str | None,
    request_version: int = -1,
) -> tuple[bytes, dict[str, str]]:
    """The canonical body and headers for a call (signed when a key is given).

    A memo given as `RawJSON` is spliced into the body as it is; any other value is
    canonicalized. The body is the JCS form of the whole payload either way.
    `request_version` is the run's execution version: -1 until the app chose one with
    its first answer of ops, then that one, in the header and the body (as Inngest does).
    """
    ctx = {
        "run_id": run_id,
        "attempt": attempt,
        "max_attempts": max_attempts,
        "disable_immediate_execution": force_plan,
        "use_api": False,
        "stack": {"stack": list(stack), "current": len(stack)},
    }
    # Each event once: an array's JCS form is its elements' joined by commas, in brackets.
    each = [canonical_json(e) for e in events]
    # The payload's keys in JCS order (by UTF-16 code units): ctx, event, events, steps, ...
    body = b"".join(
        (
            b'{"ctx":',
            canonical_json(ctx),
            b',"event":',
            each[0],
            b',"events":[',
            b",".join(each),
            b'],"steps":',
            _steps_json(memo),
            b',"use_api":false,"version":',
            str(request_version).encode(),
            b"}",
        )
    )
    headers = {
        "content-type": "application/json",
        "x-run-id": run_id,
        "x-inngest-req-version": str(request_version),
        "x-inngest-server-kind": "dev" if signing_key is None else "cloud",
    }
    if signing_key:
        headers["x-inngest-signature"] = sign(body, signing_key)
    return body, headers


def _steps_json(memo: Mapping[str, Any]) -> bytes:
    parts = []
    for step_id in sorted(memo, key=_utf16):
        value = memo[step_id]
        text = value.encode() if isinstance(value, RawJSON) else canonical_json(value)
        parts.append(canonical_json(step_id) + b":" + text)
    return b"{" + b",".join(parts) + b"}"


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def interpret(response: AppResponse, signing_keys: Sequence[str]) -> CallOutcome:
    """Classify an app's response per the protocol reference §3.4."""
    if response.status == 401:
        return _garbage(
            response, "the app refused the call (401): do executor and app share the signing key?"
        )
    if "x-inngest-sdk" not in response.headers:
        return _garbage(response, "not an Inngest SDK response (no x-inngest-sdk header)")
    if signing_keys:
        try:
            verify(response.headers.get("x-inngest-signature"), response.body, signing_keys)
        except SignatureError as exc:
            return _garbage(response, f"response signature rejected: {exc}")
    status, headers, body = response.status, response.headers, response.body
    if status == 201:
        return _unwrap_stream(response, signing_keys)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return _garbage(response, "the response body is not JSON")
    if status == 200:
        return CallOutcome(kind="completed", http_status=200, output=data)
    if status == 206:
        ops = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
        if ops is None or not all(isinstance(op, dict) and "op" in op for op in ops):
            return _garbage(response, "206 body is not a list of ops")
        return CallOutcome(
            kind="ops",
            http_status=206,
            ops=ops,
            no_retry=_no_retry(headers),  # a StepError the app says not to retry
            retry_after=_retry_after(headers),
            body_bytes=len(body),
            request_version=_request_version(headers),
        )
    return CallOutcome(
        kind="error",
        http_status=status,
        error=_error_body(data, status),
        no_retry=_no_retry(headers),
        retry_after=_retry_after(headers),
        from_sdk=True,
    )


def _unwrap_stream(response: AppResponse, signing_keys: Sequence[str]) -> CallOutcome:
    try:
        wrapper = json.loads(response.body.strip())
        inner = AppResponse(
            status=int(wrapper["status"]),
            headers={**response.headers, **{k.lower(): v for k, v in wrapper["headers"].items()}},
            body=str(wrapper["body"]).encode(),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return _garbage(response, "streamed (201) response is not a valid wrapper")
    return interpret(inner, ()) if inner.status != 201 else _garbage(response, "nested 201")


def _no_retry(headers: Mapping[str, str]) -> bool:
    return headers.get("x-inngest-no-retry", "").lower() == "true"


def _request_version(headers: Mapping[str, str]) -> int:
    # As Inngest's driver reads it (strconv.Atoi): anything but an integer is 0.
    value = headers.get("x-inngest-req-version", "")
    return int(value) if re.fullmatch(r"[+-]?[0-9]{1,9}", value) else 0


def _retry_after(headers: Mapping[str, str]) -> timedelta | None:
    return parse_retry_after(headers.get("retry-after"), now_utc())


def _error_body(data: Any, status: int) -> dict[str, Any]:
    if isinstance(data, dict) and ("message" in data or "name" in data):
        return data  # as the app sent it (Python: code, message, name, stack, even if null)
    return {"name": "Error", "message": f"HTTP {status}: {json.dumps(data)[:500]}"}


def _garbage(response: AppResponse, reason: str) -> CallOutcome:
    snippet = response.body[:300].decode("utf-8", "replace")
    return CallOutcome(
        kind="error",
        http_status=response.status,
        error={
            "name": "InvalidResponseError",
            "message": f"{reason}; HTTP {response.status}, body starts: {snippet!r}",
        },
    )
