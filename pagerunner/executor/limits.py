"""Inngest's limits on events and runs, checked where Inngest checks them, failing the
way Inngest fails (its error names and messages: inngest/inngest `pkg/eventstream`,
`pkg/execution/state`, `pkg/execution/executor`, `pkg/execution/driver/httpdriver`).

- An event over `max_event_bytes` (or a request over `max_batch_bytes`) is refused at
  intake, nothing of the request stored (`check_events`, from `StateMachine.ingest`).
- An app's answer with an op whose output is over `max_step_output_bytes` is a failed
  call, retried like any other and failing the run when the attempts are spent; an
  answer with more ops than `max_steps`, or a step result that would take the run's
  state over `max_state_bytes`, fails the run at once (`check_answer`, from
  `outcomes.apply_outcome`).
- A run holding `max_steps` step results fails instead of making its next call
  (`too_many_steps`, from `StateMachine.record_memo`).

The limits are the settings in `config.Limits`. Sizes are bytes of compact JSON (UTF-8);
a run's state counts its events and its memos as stored (canonical JSON, in characters).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .calls import CallOutcome
from .config import Limits
from .errors import EventTooLargeError, InvalidEventError
from .runstate import RunState

__all__ = ["EventSizes", "check_answer", "check_events", "json_bytes", "too_many_steps"]

_STEP_OPS = frozenset({"StepRun", "Step"})
_ERROR_OPS = frozenset({"StepError", "StepFailed"})


def json_bytes(value: Any) -> int:
    """Bytes of `value` as compact JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_events(raw_events: Sequence[Any], limits: Limits) -> None:
    """Refuse events sent to intake that are over the size limits."""
    total = 0
    for index, raw in enumerate(raw_events):
        try:
            size = json_bytes(raw)
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(f"event {index}: not representable as JSON ({exc})") from exc
        if size > limits.max_event_bytes:
            limit = limits.max_event_bytes
            raise EventTooLargeError(
                f"Event is over the max size: Max {limit} bytes / Size {size} bytes"
            )
        total += size
    if total > limits.max_batch_bytes:
        raise EventTooLargeError(
            f"Events are over the max size of a request: Max {limits.max_batch_bytes} bytes"
            f" / Size {total} bytes"
        )


class EventSizes:
    """Bytes of runs' events, which never change: measured once, kept for recent runs."""

    def __init__(self, keep: int = 4096) -> None:
        self._sizes: dict[str, int] = {}
        self._keep = keep

    def of(self, run: RunState) -> int:
        size = self._sizes.get(run.id)
        if size is None:
            size = self._sizes[run.id] = json_bytes(run.events)
            if len(self._sizes) > self._keep:
                del self._sizes[next(iter(self._sizes))]
        return size


def too_many_steps(limits: Limits) -> dict[str, str]:
    """The error of a run that reached the step limit."""
    return {
        "error": "function has too many steps",
        "name": "InngestErrFunctionOverflowed",
        "message": f"The function run exceeded the step limit of {limits.max_steps} steps.",
    }


def _state_overflow(limits: Limits) -> dict[str, str]:
    message = f"The function run exceeded the state size limit of {limits.max_state_bytes} bytes."
    return {
        "error": f"InngestErrStateOverflowed: {message}",
        "name": "InngestErrStateOverflowed",
        "message": message,
    }


def check_answer(
    run: RunState, events_bytes: int, outcome: CallOutcome, limits: Limits
) -> CallOutcome | dict[str, str] | None:
    """What an app's 206 answer runs into: a failed call to retry instead (an op's output
    is too large), an error to fail the run with (too many ops, the state would be too
    large), or None. `run.memos` must hold every memo of the run's stack.

    `outcome.body_bytes` bounds every op's size, so the ops are only measured when the
    answer itself is large.
    """
    ops = outcome.ops
    if len(ops) > limits.max_steps:
        return too_many_steps(limits)
    if outcome.body_bytes > limits.max_step_output_bytes:
        for op in ops:
            if _output_bytes(op) > limits.max_step_output_bytes:
                message = (
                    f"error validating generator opcode {op.get('id')}: "
                    "step output size is greater than the limit"
                )
                error = {"error": message, "name": "Error", "message": message}
                return CallOutcome(kind="error", http_status=outcome.http_status, error=error)
    steps = [op for op in ops if op.get("op") in _STEP_OPS]  # as Inngest, only step results
    if not steps:
        return None
    state = events_bytes + sum(map(len, run.memos.values()))
    if state + outcome.body_bytes <= limits.max_state_bytes:
        return None
    if any(state + _output_bytes(op) > limits.max_state_bytes for op in steps):
        return _state_overflow(limits)
    return None


def _output_bytes(op: Mapping[str, Any]) -> int:
    """The size of what an op would store, as Inngest measures an op's output."""
    kind = op.get("op")
    if kind in _STEP_OPS:
        return json_bytes({"data": op.get("data")})
    if kind in _ERROR_OPS:
        return json_bytes({"error": op.get("error")})
    return json_bytes(op["data"]) if op.get("data") is not None else 0
