"""The events that report a run's end or start an invoked run, shaped as Inngest sends them.

Read from Inngest's server (inngest/inngest, `pkg/execution/executor`: `finalizeEvents`,
`functionFinishedData`, `handleGeneratorInvokeFunction`; `pkg/execution/state`:
`DriverResponse.StandardError`, `Pause.GetResumeData`; `pkg/event/invoke.go`):

- `inngest/function.finished` (every end), `inngest/function.failed` and
  `inngest/function.cancelled` (with the run id as event id) carry
  `{function_id, run_id, event, events, error?, result?, correlation_id?,
  _inngest: {status}}`. A failed run's `error` is `{error, name, message, stack?, cause?}`:
  `error` is the server's own reason (`invalid status code: 500`, or `NonRetriableError`
  when the app said not to retry), the rest comes from the app's error body; `result` is
  that body as the app sent it. A cancelled run reports neither.
- A parent's `step.invoke` gets `{"data": result}`, `{"error": error}`, or, when the child
  reported neither (it was cancelled), the whole `function.finished` event.

Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CANCELLED_EVT",
    "FAILED_EVT",
    "FINISHED",
    "INVOKED",
    "INVOKE_TIMEOUT_ERROR",
    "invoke_memo",
    "invoked_event",
    "run_end_events",
    "standard_error",
]

FINISHED, FAILED_EVT, CANCELLED_EVT, INVOKED = (
    "inngest/function.finished",
    "inngest/function.failed",
    "inngest/function.cancelled",
    "inngest/function.invoked",
)
_DEFAULT_MESSAGE = "Function execution error"  # the server's placeholder, replaced by the cause
_TIMEOUT_NAME = "InngestInvokeTimeoutError"
_TIMEOUT_MESSAGE = "Timed out waiting for invoked function to complete"
#: What a parent's `step.invoke` gets when the child did not finish in time.
INVOKE_TIMEOUT_ERROR = {
    "error": f"{_TIMEOUT_NAME}: {_TIMEOUT_MESSAGE}",
    "name": _TIMEOUT_NAME,
    "message": _TIMEOUT_MESSAGE,
}


def standard_error(error: Mapping[str, Any] | None, cause: str | None) -> dict[str, Any]:
    """A failed run's `data.error`: `{error, name, message, stack?, cause?}`.

    `error` is what the run failed with (the app's error body, or the executor's own
    error); `cause` is the server's reason for the failure (defaults to the message).
    An app's body that nests its error under `error` or `body` is read from there.
    """
    found = _error_fields(dict(error or {}))
    reason = cause or str(found.get("message") or "") or _DEFAULT_MESSAGE
    out: dict[str, Any] = {"error": reason, "name": "Error", "message": reason}
    for key in ("error", "name", "message", "stack"):
        value = found.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    if "cause" in found:
        out["cause"] = found["cause"]
    return out


def _error_fields(body: dict[str, Any]) -> dict[str, Any]:
    for key in ("error", "body"):
        value = body.get(key)
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and len(value) <= 32 * 1024:
            try:
                nested = json.loads(value)
            except ValueError:
                continue
            if isinstance(nested, dict):
                return nested
    return body


def run_end_events(
    *,
    function_id: str,
    run_id: str,
    events: list[dict[str, Any]],
    status: str,
    output: Any = None,
    error: Mapping[str, Any] | None = None,
    cause: str | None = None,
) -> list[dict[str, Any]]:
    """The events a run's end emits: `function.finished`, and `function.failed` or
    `function.cancelled` after it; one set for the first event of the run and one for
    each other event with an invoke correlation id (batches), none for the reporters.

    `error` and `cause` are those of `standard_error`; `cause` is given when `error`
    is an app's own error body, which is then also the event's `result`.
    """
    base: dict[str, Any] = {"function_id": function_id, "run_id": run_id, "events": events}
    if status == "Failed":
        base["error"] = standard_error(error, cause)
        if cause is not None:
            base["result"] = error
    elif status == "Completed":
        base["result"] = output
    emitted = []
    for index, event in enumerate(events):
        if event["name"] in (FINISHED, FAILED_EVT):
            continue  # never report on the reporters
        correlation = (event.get("data") or {}).get("_inngest", {}).get("correlation_id")
        if correlation is None and index > 0:
            continue
        data = {**base, "event": event}
        if correlation is not None:
            data["correlation_id"] = correlation
        data["_inngest"] = {"status": status}
        emitted.append({"name": FINISHED, "data": data})
        if status == "Failed":
            emitted.append({"name": FAILED_EVT, "data": data, "id": run_id})
        elif status == "Cancelled":
            emitted.append({"name": CANCELLED_EVT, "data": data, "id": run_id})
    return emitted


def invoke_memo(finished: Mapping[str, Any]) -> Any:
    """What a parent's `step.invoke` gets from the child's `function.finished` event."""
    data = finished["data"]
    if "error" in data:
        return {"error": data["error"]}
    if "result" in data:
        return {"data": data["result"]}
    return dict(finished)


def invoked_event(
    payload: Mapping[str, Any],
    *,
    function_id: str,
    correlation_id: str,
    expires_ms: int,
    step_name: str,
    source_app_id: str,
    source_fn_id: str,
) -> dict[str, Any]:
    """The `inngest/function.invoked` event that starts the run of `function_id`.

    `payload` is the op's (`{data, id?, ts?, user?, v?}`); `data._inngest` says who
    invoked it. Inngest sends its internal ids as `source_app_id` / `source_fn_id` and a
    trace carrier as `tc`; here they are the app's and the function's ids, and there is
    no trace carrier.
    """
    event = {k: payload[k] for k in ("id", "ts", "user", "v") if payload.get(k) is not None}
    data = dict(payload.get("data") or {})
    data["_inngest"] = {
        "source_app_id": source_app_id,
        "source_fn_id": source_fn_id,
        "source_fn_v": 1,
        "fn_id": function_id,
        "correlation_id": correlation_id,
        "expire": expires_ms,
        "gid": str(uuid.uuid4()),
        "name": step_name,
    }
    return {**event, "name": INVOKED, "data": data}
