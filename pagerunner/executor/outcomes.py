"""What to persist after a call: the run's output, each op, or a retry.

`apply_outcome` runs inside the write transaction that also deletes (or
reschedules) the job that made the call, so a call's effects are recorded
exactly once. Op handling follows the protocol reference §3.5-3.7.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection

from ..sqlprepared import Prepared
from . import jobs
from .backoff import Backoff
from .calls import CallOutcome
from .errors import InvalidDurationError
from .functions import FunctionDef
from .lifecycle import INVOKE_TIMEOUT_ERROR, invoked_event
from .limits import check_answer
from .machine import FINISHED, YEAR_S, StateMachine
from .runstate import COMPLETED, FAILED, RunState, load_memos, stored_json, upsert_step
from .store.schema import attempts, waits
from .timeparse import now_utc, parse_duration, parse_sleep_until

__all__ = [
    "WOKE",
    "CallRecord",
    "apply_outcome",
    "plan_pending",
    "races",
    "record_woken",
    "send_woken",
]

log = structlog.get_logger("pagerunner.executor")

# Ops whose result comes later (Inngest's `hasPlanOp`); an `AIGateway` op arrives here
# with its request made already (`gateway.make_ai_requests`).
ASYNC_OPS = ("StepPlanned", "Sleep", "WaitForEvent", "InvokeFunction", "AIGateway")
# In a call's job data: the id of the sleep that ends with this call (see `_OpHandler._sleep`).
WOKE = "woke"


def plan_pending(run: RunState, ops: Sequence[Mapping[str, Any]]) -> None:
    """The steps the function waits for before it resumes, as Inngest keeps them
    (`HandleGeneratorResponse`, `SavePending`): from execution version 2 on, an answer
    with more than one op, one of them outstanding, makes its ops the pending set (each
    result removes its own, see `StateMachine.record_memo`). Below version 2, and for a
    single op, the set is left as it is: each result then resumes the function.
    """
    if run.request_version < 2 or len(ops) < 2:
        return
    if any(op.get("op") in ASYNC_OPS for op in ops):
        run.pending = [str(op.get("id")) for op in ops if str(op.get("id")) not in run.stack]


def races(op: Mapping[str, Any]) -> bool:
    """Whether the op's result resumes the function at once (`opts.parallelMode`:
    Python's `ParallelMode.RACE`, the JS SDK's `group.parallel({mode: "race"})`)."""
    opts = op.get("opts")
    return isinstance(opts, Mapping) and str(opts.get("parallelMode", "")).lower() == "race"


@dataclass(frozen=True)
class CallRecord:
    """The call that produced an outcome: which job, when."""

    job: jobs.Job
    started_at: float
    ended_at: float


def apply_outcome(
    conn: Connection,
    machine: StateMachine,
    backoff: Backoff,
    run: RunState,
    fn: FunctionDef,
    call: CallRecord,
    outcome: CallOutcome,
) -> None:
    """Record one call's result and queue what follows."""
    if run.started_at is None:
        run.started_at = call.started_at
        if fn.finish_timeout_s is not None:
            jobs.enqueue(
                conn,
                kind=jobs.TIMEOUT,
                run_id=run.id,
                available_at=call.started_at + fn.finish_timeout_s,
                data={"which": "finish"},
            )
    if outcome.kind == "completed":
        _attempt(conn, call, None, "completed", outcome)
        jobs.delete_job(conn, call.job.id)
        machine.finalize(conn, run, COMPLETED, output=outcome.output)
        return
    if outcome.kind == "ops":
        outcome = _within_limits(conn, machine, run, call, outcome)
        if run.status != "Running":
            return
    if outcome.kind == "error":
        _on_error(conn, machine, backoff, run, fn, call, outcome)
        return
    jobs.delete_job(conn, call.job.id)
    handler = _OpHandler(conn, machine, backoff, run, fn, call, outcome)
    handler.handle_all()
    if run.status == "Running":
        run.save(conn)


def _on_error(
    conn: Connection,
    machine: StateMachine,
    backoff: Backoff,
    run: RunState,
    fn: FunctionDef,
    call: CallRecord,
    outcome: CallOutcome,
    step_id: str | None = None,
) -> None:
    """A failed call: retry the same job later, or fail the run when the budget is spent."""
    attempt = call.job.attempt
    delay = retry_delay(backoff, fn, outcome, attempt)
    if delay is not None:
        _attempt(conn, call, step_id, "failed", outcome)
        jobs.reschedule(conn, call.job.id, available_at=call.ended_at + delay, attempt=attempt + 1)
        log.info(
            "call_retrying",
            run_id=run.id,
            target=call.job.target,
            attempt=attempt,
            delay_s=round(delay, 3),
            error=(outcome.error or {}).get("message"),
        )
        return
    _attempt(conn, call, step_id, "failed", outcome)
    jobs.delete_job(conn, call.job.id)
    machine.finalize(conn, run, FAILED, error=outcome.error, cause=_cause(outcome))


def _cause(outcome: CallOutcome) -> str | None:
    """Inngest's reason for a failure the app answered (see `lifecycle.standard_error`)."""
    if not outcome.from_sdk:
        return None
    return (
        "NonRetriableError" if outcome.no_retry else f"invalid status code: {outcome.http_status}"
    )


def _within_limits(
    conn: Connection, machine: StateMachine, run: RunState, call: CallRecord, outcome: CallOutcome
) -> CallOutcome:
    """The answer, or what it is under Inngest's limits: a failed call (retried as any),
    or, when a limit fails the run at once, the answer after failing the run."""
    if len(run.memos) < len(run.stack):
        load_memos(conn, run)  # steps that finished while this call was in flight
    checked = check_answer(run, machine.event_sizes.of(run), outcome, machine.limits)
    if checked is None:
        return outcome
    if isinstance(checked, CallOutcome):
        return checked
    _attempt(conn, call, None, "failed", outcome, checked)
    jobs.delete_job(conn, call.job.id)
    machine.finalize(conn, run, FAILED, error=checked)
    return outcome


def retry_delay(
    backoff: Backoff, fn: FunctionDef, outcome: CallOutcome, attempt: int
) -> float | None:
    """Seconds before retrying a failed attempt, or None when it must not be retried."""
    if outcome.no_retry or attempt + 1 >= fn.max_attempts:
        return None
    if outcome.retry_after is not None:
        return outcome.retry_after.total_seconds()
    return backoff.delay(attempt)


def _attempt(
    conn: Connection,
    call: CallRecord,
    step_id: str | None,
    status: str,
    outcome: CallOutcome,
    error: Mapping[str, Any] | None = None,
) -> None:
    err = error if error is not None else outcome.error
    _INSERT_ATTEMPT.run(
        conn,
        {
            "run_id": call.job.run_id,
            "step_id": step_id,
            "target": call.job.target,
            "attempt": call.job.attempt,
            "status": status,
            "http_status": outcome.http_status,
            "error": dict(err) if err else None,
            "started_at": call.started_at,
            "ended_at": call.ended_at,
        },
    )


_INSERT_ATTEMPT = Prepared(attempts.insert())  # built once (see `runstate`)


class _OpHandler:
    """Dispatches the ops of one 206 response."""

    def __init__(
        self,
        conn: Connection,
        machine: StateMachine,
        backoff: Backoff,
        run: RunState,
        fn: FunctionDef,
        call: CallRecord,
        outcome: CallOutcome,
    ) -> None:
        self.conn, self.machine, self.backoff = conn, machine, backoff
        self.run, self.fn, self.call, self.outcome = run, fn, call, outcome
        self.now = call.ended_at

    def handle_all(self) -> None:
        ops = list(self.outcome.ops)
        if not ops:
            self._fail_run("the app answered 206 with no ops")
            return
        if self.run.request_version == -1:  # the app's first ops choose the version
            self.run.request_version = self.outcome.request_version
        if len(ops) > 1:
            self.run.force_plan = True
        # Before any op is handled, so a synchronous result in the same response does
        # not resume the function too early.
        plan_pending(self.run, ops)
        for op in ops:
            if self.run.status != "Running":
                return
            self._handle(op)

    def _handle(self, op: Mapping[str, Any]) -> None:
        kind = op.get("op")
        if kind in ASYNC_OPS and str(op.get("id")) in self.run.stack:
            # Planned again by a call made before its result was in (a discovery while
            # other steps were outstanding): it never runs or waits twice.
            return
        handler = {
            "StepRun": self._step_run,
            "Step": self._step_run,
            "StepError": self._step_error,
            "StepFailed": self._step_failed,
            "StepPlanned": self._planned,
            "Sleep": self._sleep,
            "WaitForEvent": self._wait,
            "InvokeFunction": self._invoke,
            "AIGateway": self._ai,
        }.get(str(kind))
        if handler is None:
            self._fail_run(f"unsupported op '{kind}' from step '{_name(op)}'")
            return
        try:
            handler(op)
        except (InvalidDurationError, KeyError, TypeError, ValueError) as exc:
            self._fail_run(f"invalid {kind} op for step '{_name(op)}': {exc}")

    def _step(self, op: Mapping[str, Any], **values: Any) -> None:
        upsert_step(
            self.conn,
            self.run.id,
            str(op["id"]),
            self.now,
            name=_name(op),
            op=str(op["op"]),
            **values,
        )

    def _step_run(self, op: Mapping[str, Any]) -> None:
        _attempt(self.conn, self.call, str(op["id"]), "completed", self.outcome)
        self._record(op, {"data": op.get("data")}, "completed", name=_name(op), op=str(op["op"]))

    def _step_failed(self, op: Mapping[str, Any]) -> None:
        error = dict(op.get("error") or {"name": "Error", "message": "step failed"})
        _attempt(self.conn, self.call, str(op["id"]), "failed", self.outcome, error)
        self._record(op, {"error": error}, "failed", name=_name(op), op=str(op["op"]))

    def _record(self, op: Mapping[str, Any], memo: Any, status: str, /, **step: Any) -> None:
        """The op's result, memoized (`race`: it resumes the function at once)."""
        run, race = self.run, races(op)
        self.machine.record_memo(
            self.conn, run, str(op["id"]), memo, self.now, status=status, race=race, **step
        )

    def _ai(self, op: Mapping[str, Any]) -> None:
        """`step.ai.infer`, its request made: the model's answer, or its final error."""
        if op.get("error") is not None:
            self._step_failed(op)
        else:
            self._step_run(op)

    def _step_error(self, op: Mapping[str, Any]) -> None:
        job = self.call.job
        error = dict(op.get("error") or {"name": "Error", "message": "step errored"})
        delay = retry_delay(self.backoff, self.fn, self.outcome, job.attempt)
        if delay is None:
            self._step_failed({**op, "error": error})
            return
        self._step(op, status="retrying")
        # Retry the same request: re-add the job (it was deleted before dispatch).
        _attempt(self.conn, self.call, str(op["id"]), "failed", self.outcome, error)
        jobs.enqueue(
            self.conn,
            kind=jobs.CALL,
            run_id=self.run.id,
            target=job.target,
            attempt=job.attempt + 1,
            available_at=self.now + delay,
            # A planned step keeps its key, so planning it again does not run it twice.
            dedupe_key=f"{self.run.id}:{job.target}" if job.target != "step" else None,
        )
        log.info(
            "step_retrying",
            run_id=self.run.id,
            step=_name(op),
            attempt=job.attempt,
            delay_s=round(delay, 3),
            error=error.get("message"),
        )

    def _planned(self, op: Mapping[str, Any]) -> None:
        planned = jobs.enqueue(
            self.conn,
            kind=jobs.CALL,
            run_id=self.run.id,
            target=str(op["id"]),
            available_at=self.now,
            dedupe_key=f"{self.run.id}:{op['id']}",
            priority=self.run.priority,
        )
        if planned is not None:  # else queued or in flight already
            self._step(op, status="planned")

    def _sleep(self, op: Mapping[str, Any]) -> None:
        wake = parse_sleep_until(op.get("name"), op.get("opts"), now_utc()).timestamp()
        queued = self._call_at(op, wake) if self._alone(op) else self._resume_at(op, wake, None)
        if queued:
            self._step(op, status="sleeping", opts={"until": wake})

    def _alone(self, op: Mapping[str, Any]) -> bool:
        """Whether `op` is all the function waits for: its result resumes the function,
        and recording it cannot reach the run's step limit."""
        run = self.run
        return (
            len(self.outcome.ops) == 1
            and not run.pending
            and len(run.stack) + 1 < self.machine.limits.max_steps
        )

    def _call_at(self, op: Mapping[str, Any], wake: float) -> bool:
        """Queue the call that resumes the function when a sleep it waits for alone ends:
        that call sends the sleep's memo (`send_woken`) and its transaction records it
        (`record_woken`), so a sleep costs no wake-up transaction of its own. False when
        queued already."""
        step_id = str(op["id"])
        job_id = jobs.enqueue(
            self.conn,
            kind=jobs.CALL,
            run_id=self.run.id,
            available_at=wake,
            # The key the wake-up's own call would have: one call per sleep.
            dedupe_key=f"{self.run.id}:{step_id}:discovery",
            data={WOKE: step_id},
            priority=self.run.priority,
        )
        return job_id is not None

    def _wait(self, op: Mapping[str, Any]) -> None:
        opts = op.get("opts") or {}
        expires = self.now + _timeout_s(opts.get("timeout"))
        event_name = str(opts.get("event") or op.get("name"))
        if not self._resume_at(op, expires, None):
            return  # waiting already
        self._step(op, status="waiting", opts=dict(opts))
        self.conn.execute(
            waits.insert().values(
                run_id=self.run.id,
                kind="wait",
                step_id=str(op["id"]),
                event_name=event_name,
                expression=opts.get("if") or None,
                created_at=self.now,
                expires_at=expires,
            )
        )

    def _invoke(self, op: Mapping[str, Any]) -> None:
        opts = op.get("opts") or {}
        target = str(opts.get("function_id", ""))
        if self.machine.registry.get(target) is None:
            self._step(op, status="waiting", opts={"function_id": target})
            error = {"name": "Error", "message": f"invoked function '{target}' is not registered"}
            self._record(op, {"error": error}, "failed")
            return
        expires = self.now + _timeout_s(opts.get("timeout"))
        if not self._resume_at(op, expires, {"error": INVOKE_TIMEOUT_ERROR}):
            return  # invoked already: the child runs once
        self._step(op, status="waiting", opts={"function_id": target})
        correlation = f"{self.run.id}.{op['id']}"
        self.conn.execute(
            waits.insert().values(
                run_id=self.run.id,
                kind="invoke",
                step_id=str(op["id"]),
                event_name=FINISHED,
                correlation_id=correlation,
                created_at=self.now,
                expires_at=expires,
            )
        )
        event = invoked_event(
            opts.get("payload") or {},
            function_id=target,
            correlation_id=correlation,
            expires_ms=int(expires * 1000),
            step_name=_name(op),
            source_app_id=self.fn.app_name,
            source_fn_id=self.fn.id,
        )
        self.machine.ingest(self.conn, [event], internal=True)

    def _resume_at(self, op: Mapping[str, Any], at: float, memo: Any) -> bool:
        """Queue the step's wake-up or timeout; False when the step has one already (the
        op was planned again while outstanding). The job keeps whether the step races."""
        job_id = jobs.enqueue(
            self.conn,
            kind=jobs.RESUME,
            run_id=self.run.id,
            available_at=at,
            dedupe_key=f"{self.run.id}:{op['id']}:timeout",
            data={"step_id": str(op["id"]), "memo": memo, "race": races(op)},
        )
        return job_id is not None

    def _fail_run(self, message: str) -> None:
        _attempt(
            self.conn,
            self.call,
            None,
            "failed",
            self.outcome,
            {"name": "InvalidResponseError", "message": message},
        )
        self.machine.finalize(
            self.conn, self.run, FAILED, error={"name": "InvalidResponseError", "message": message}
        )


def send_woken(job: jobs.Job, run: RunState) -> None:
    """The memo of the sleep `job` ends, added to what its call sends (the sleep returns
    null) unless it is recorded already."""
    step_id = (job.data or {}).get(WOKE)
    if step_id is not None and step_id not in run.memos:
        run.memos[str(step_id)] = NULL_MEMO


def record_woken(conn: Connection, machine: StateMachine, run: RunState, job: jobs.Job) -> None:
    """Record the memo of the sleep `job` ended, as of when it ended, once: before what
    the call returned, and whatever that was (a retry sends it from the store)."""
    step_id = (job.data or {}).get(WOKE)
    if step_id is not None:
        machine.record_memo(
            conn, run, str(step_id), None, job.available_at, status="completed", resume=False
        )


NULL_MEMO = stored_json(None)


def _name(op: Mapping[str, Any]) -> str:
    return str(op.get("displayName") or op.get("name") or op.get("id"))


def _timeout_s(value: Any) -> float:
    return parse_duration(str(value)).total_seconds() if value else float(YEAR_S)
