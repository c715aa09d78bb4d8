"""The executor's transactions: each function is one database transaction.

They run in a worker thread through `Database.read`/`Database.write`, so each
is plain synchronous code over a SQLAlchemy `Connection`. The engine decides
when to run them; the state machine and `apply_outcome` decide what changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from ..sqlprepared import Prepared
from . import jobs
from .backoff import Backoff
from .calls import CallOutcome
from .errors import ConflictError, NotFoundError
from .flow import evaluate_key, gcra_reserve
from .functions import FunctionDef
from .machine import INVOKED, Skipped, StateMachine
from .outcomes import CallRecord, apply_outcome, record_woken
from .registry import Registry
from .runstate import (
    CANCELLED,
    FAILED,
    RUNNING,
    RunState,
    has_all_memos,
    load_memos,
    load_run,
    refresh_run,
)
from .store.schema import events, runs, waits

__all__ = [
    "Handoff",
    "apply_call",
    "cancel",
    "catch_up",
    "claim_due",
    "fail_unregistered",
    "load_call_state",
    "rerun",
    "reserve_throttle",
    "run_ids_for_event",
    "run_row",
    "run_timer",
]


#: At most this many due jobs that need no call (wake-ups, timeouts, ...) per look at the queue.
TIMERS_PER_CLAIM = 256


def claim_due(
    conn: Connection, now: float, exclude: Collection[int], limit: int
) -> tuple[list[tuple[jobs.Job, RunState | None]], float | None]:
    """Due jobs not already claimed, best first: up to `limit` calls, each with its run's
    state and memos (so that the calls reach their concurrency slots in that order, with
    no read between), the jobs that need no call whatever `limit` (a sleep's wake-up is
    one short write: it does not wait for a call's slot), and when the next unclaimed
    job is due."""
    due = jobs.due_jobs(conn, now=now, exclude=exclude, limit=TIMERS_PER_CLAIM, calls=False)
    if limit > 0:
        due += jobs.due_jobs(conn, now=now, exclude=exclude, limit=limit, calls=True)
    next_at = jobs.next_due_at(conn, exclude={*exclude, *(j.id for j in due)})
    calls = [
        (job, load_call_state(conn, str(job.run_id)) if job.kind == jobs.CALL else None)
        for job in due
    ]
    return calls, next_at


def load_call_state(conn: Connection, run_id: str) -> RunState | None:
    """The run with its memos (`run.memos`, in stack order), as the next call sends them."""
    run = load_run(conn, run_id, lock=False)
    if run is not None:
        load_memos(conn, run)
    return run


def fail_unregistered(conn: Connection, machine: StateMachine, run_id: str, fn_id: str) -> None:
    run = load_run(conn, run_id)
    if run is not None and run.status == RUNNING:
        machine.finalize(
            conn,
            run,
            FAILED,
            error={
                "name": "FunctionNotFoundError",
                "message": f"function '{fn_id}' is not registered (re-sync the app?)",
            },
        )


def reserve_throttle(
    conn: Connection, job: jobs.Job, event: Mapping[str, Any], fn: FunctionDef, now: float
) -> bool:
    """Reserve the run's start slot; returns True when the start was postponed."""
    throttle = fn.throttle
    assert throttle is not None
    start_at = gcra_reserve(
        conn,
        f"throttle:{fn.id}:{evaluate_key(throttle.key, event)}",
        limit=throttle.limit,
        period_s=throttle.period_s,
        burst=throttle.burst,
        now=now,
    )
    jobs.reschedule(conn, job.id, available_at=max(now, start_at), data={"throttled": True})
    return start_at > now


#: Ops after which a running run has queued nothing but its next call (or nothing).
_QUIET_OPS = frozenset({"StepRun", "Step", "StepFailed"})


@dataclass(frozen=True)
class Handoff:
    """The next call of a run, queued by the transaction that recorded the previous one
    and already claimed for the task that made it (`run` holds its state and memos).

    `wake` says whether that transaction may have queued other work for the poll.
    """

    job: jobs.Job
    run: RunState | None  # None: the call reads it (outside the write transaction)
    wake: bool


def apply_call(
    conn: Connection,
    machine: StateMachine,
    backoff: Backoff,
    fn: FunctionDef,
    run: RunState,
    record: CallRecord,
    outcome: CallOutcome,
    claim: Callable[[int], None],
) -> Handoff | None:
    """Record what a call of `run` returned, unless the run ended while it was in flight.

    `run` is the state the call was made from: only what other transitions may have
    changed meanwhile is read again. When the transaction queues the run's next call
    and it is due, `claim(job_id)` is called before the commit (so the queue poll, which
    can only see the job after the commit, leaves it alone) and the call is returned,
    with the run's state and memos as of this transaction, for the caller to make at
    once. The job row is committed all the same: after a crash it runs again.
    """
    if not refresh_run(conn, run) or run.status != RUNNING:
        jobs.delete_job(conn, record.job.id)
        return None
    started_before = run.started_at is not None
    run.next_call = None
    record_woken(conn, machine, run, record.job)
    apply_outcome(conn, machine, backoff, run, fn, record, outcome)
    quiet = (
        started_before
        and outcome.kind == "ops"
        and all(op.get("op") in _QUIET_OPS for op in outcome.ops)
    )
    return _hand_on(conn, run, claim, wake=not quiet)


def _hand_on(
    conn: Connection, run: RunState, claim: Callable[[int], None], *, wake: bool
) -> Handoff | None:
    """The run's next call, if this transaction queued it: claimed, with the run's state
    when `run` holds its memos (loading them would lengthen the write transaction)."""
    job, run.next_call = run.next_call, None
    if job is None or run.status != RUNNING:
        return None
    claim(job.id)
    return Handoff(job=job, run=run if has_all_memos(run) else None, wake=wake)


def run_timer(
    conn: Connection, machine: StateMachine, job: jobs.Job, claim: Callable[[int], None]
) -> Handoff | None:
    """Jobs that need no call: wake-ups, timeouts, debounce firings and batch starts.

    A wake-up that queues its run's next call hands it on as `apply_call` does, so
    a sleep's end goes to the call without a trip through the queue poll.
    """
    if not jobs.delete_job(conn, job.id):
        return None  # cancelled since it was claimed (a debounce re-armed, a run started)
    data = job.data or {}
    now = time.time()
    if job.kind == jobs.DEBOUNCE:
        machine.fire_debounce(conn, str(data["key"]), now)
        return None
    if job.kind == jobs.BATCH:
        machine.start_batch(conn, str(data["batch_id"]), now, reason="timeout")
        return None
    run = load_run(conn, str(job.run_id))
    if run is None or run.status != RUNNING:
        return None
    if job.kind == jobs.RESUME:
        step_id = str(data["step_id"])
        _DELETE_WAIT.run(conn, {"b_run": run.id, "b_step": step_id})
        memo, race = data.get("memo"), bool(data.get("race"))
        machine.record_memo(conn, run, step_id, memo, now, status="completed", race=race)
        run.save(conn)
        return _hand_on(conn, run, claim, wake=False)
    if job.kind == jobs.TIMEOUT:
        which = data.get("which")
        if which == "finish" or run.started_at is None:
            machine.finalize(
                conn,
                run,
                CANCELLED,
                error={
                    "name": "FunctionCancelledError",
                    "message": f"function cancelled ({which} timeout)",
                },
            )
    return None


_DELETE_WAIT = Prepared(
    waits.delete().where(
        waits.c.run_id == bindparam("b_run"), waits.c.step_id == bindparam("b_step")
    )
)


def cancel(conn: Connection, machine: StateMachine, run_id: str) -> None:
    run = load_run(conn, run_id)
    if run is None:
        raise NotFoundError(f"run '{run_id}' not found")
    if run.status == RUNNING:
        machine.finalize(
            conn,
            run,
            CANCELLED,
            error={
                "name": "FunctionCancelledError",
                "message": "function cancelled (API)",
            },
        )


def rerun(conn: Connection, machine: StateMachine, registry: Registry, run_id: str) -> str:
    """A new run of the same function from the same event(s); returns its id."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"run '{run_id}' not found")
    fn = registry.get(row.function_id)
    if fn is None:
        raise NotFoundError(f"function '{row.function_id}' is no longer registered")
    created = machine.create_run(
        conn, fn, list(row.events), row.event_id, now=time.time(), original_run_id=run_id
    )
    if isinstance(created, Skipped):  # only a singleton can refuse a rerun
        raise ConflictError(f"rerun of '{run_id}' refused: {created.reason}")
    return created


def run_row(conn: Connection, run_id: str) -> Mapping[str, Any] | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return dict(row._mapping) if row is not None else None


def run_ids_for_event(conn: Connection, event_id: str) -> Sequence[str]:
    rows = conn.execute(select(runs.c.id).where(runs.c.event_id == event_id).order_by(runs.c.id))
    return list(rows.scalars().all())


def catch_up(conn: Connection, machine: StateMachine, url: str, app_name: str, now: float) -> int:
    """Runs for the events that arrived while the app at `url` was awaited; how many.

    Called when an app given to the executor answers its first sync: each event
    received since the executor began waiting for it gets the runs of that app's
    functions it would have started had the app been reached, in arrival order
    and through the same flow control. An event that has such a run (or was
    skipped by it) already gets nothing, so calling this twice changes nothing.
    """
    since = machine.registry.take_placeholder(conn, url)
    if since is None:
        return 0
    rows = conn.execute(
        select(events.c.id, events.c.payload, events.c.skipped)
        .where(events.c.received_at >= since, events.c.name != INVOKED)
        .order_by(events.c.received_at, events.c.id)
    ).all()
    created = 0
    for row in rows:
        skipped = dict(row.skipped or {})
        for fn in machine.registry.matching(row.payload):
            if fn.app_name != app_name or fn.id in skipped or _has_run(conn, row.id, fn.id):
                continue
            user_id = row.payload["id"] if row.payload["id"] != row.id else None
            result = machine.trigger(conn, fn, row.payload, row.id, now=now, dedupe_id=user_id)
            if isinstance(result, Skipped):
                skipped[fn.id] = result.reason
                conn.execute(events.update().where(events.c.id == row.id).values(skipped=skipped))
            else:
                created += 1
    return created


def _has_run(conn: Connection, event_id: str, fn_id: str) -> bool:
    found = conn.execute(
        select(runs.c.id).where(runs.c.event_id == event_id, runs.c.function_id == fn_id).limit(1)
    ).first()
    return found is not None
