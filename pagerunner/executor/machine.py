"""The run state machine: events in, runs created, memos recorded, runs finished.

Every method works inside a write transaction handed in by the caller, so one
transaction holds a whole transition (an event and the runs it starts; a call's
result, its memo and the next job). Nothing here does I/O besides the database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, delete, select

from ..sqlprepared import Prepared
from . import batches, jobs
from .config import Limits
from .errors import InvalidEventError
from .expressions import compile_expression
from .flow import evaluate_key, gcra_admit, priority_factor
from .functions import FunctionDef
from .ids import new_ulid, ulid_from_seed
from .lifecycle import CANCELLED_EVT, FAILED_EVT, FINISHED, INVOKED, invoke_memo, run_end_events
from .limits import EventSizes, check_events, too_many_steps
from .registry import Registry
from .runstate import CANCELLED, FAILED, RUNNING, RunState, load_run, stored_json, upsert_step
from .store.schema import debounces, events, runs, steps, waits

__all__ = ["CANCELLED_EVT", "FAILED_EVT", "FINISHED", "INVOKED", "Skipped", "StateMachine"]

log = structlog.get_logger("pagerunner.executor")

YEAR_S = 366 * 86400
EVENT_ID_WINDOW_S = 86400
TS_MIN, TS_MAX = 315532800000, 4102444800000  # 1980 .. 2100, in ms


def validate_event(raw: Any, index: int, *, internal: bool) -> dict[str, Any]:
    """Check one incoming event; the error says which one and what is wrong."""
    where = f"event {index}"
    if not isinstance(raw, dict):
        raise InvalidEventError(f"{where}: must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEventError(f"{where}: 'name' must be a non-empty string")
    if not internal and name.lower().startswith("inngest/"):
        raise InvalidEventError(f"event name is reserved for internal use: {name}")
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise InvalidEventError(f"{where} ({name}): 'data' must be an object")
    ts = raw.get("ts")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
        raise InvalidEventError(f"{where} ({name}): 'ts' must be a number of milliseconds")
    if ts and not TS_MIN <= ts <= TS_MAX:
        raise InvalidEventError(f"{where} ({name}): 'ts' must be in milliseconds (1980-2100)")
    if raw.get("id") is not None and not isinstance(raw.get("id"), str):
        raise InvalidEventError(f"{where} ({name}): 'id' must be a string")
    return raw


@dataclass(frozen=True)
class Skipped:
    """A run that flow control did not start, and why."""

    reason: str


class StateMachine:
    """Transitions of runs, persisted through the connection each method receives."""

    def __init__(self, registry: Registry, limits: Limits | None = None) -> None:
        self.registry = registry
        self.limits = limits or Limits()
        self.event_sizes = EventSizes()

    # -- events -------------------------------------------------------------------------

    def ingest(
        self,
        conn: Connection,
        raw_events: Sequence[Any],
        *,
        seed: str | None = None,
        internal: bool = False,
    ) -> list[str]:
        """Store events and act on them; returns internal ids in input order."""
        checked = [validate_event(r, i, internal=internal) for i, r in enumerate(raw_events)]
        if not internal:  # as on Inngest, the executor's own events are not bounded
            check_events(checked, self.limits)
        now = time.time()
        ids = []
        for index, raw in enumerate(checked, start=1):
            event_id = (ulid_from_seed(seed, index) if seed else None) or new_ulid()
            ids.append(event_id)
            if _EVENT_SEEN.run(conn, {"b_event": event_id}).first() is not None:
                continue  # an SDK retry of a send we already processed
            payload = self._normalize(raw, event_id, now, internal=internal)
            _INSERT_EVENT.run(
                conn,
                {
                    "id": event_id,
                    "name": payload["name"],
                    "payload": payload,
                    "ts": payload["ts"],
                    "received_at": now,
                },
            )
            self._on_event(conn, event_id, payload, now, user_id=raw.get("id"))
        return ids

    @staticmethod
    def _normalize(
        raw: Mapping[str, Any], event_id: str, now: float, *, internal: bool
    ) -> dict[str, Any]:
        data = dict(raw.get("data") or {})
        if not internal:
            data.pop("_inngest", None)
        payload = {
            "name": raw["name"],
            "data": data,
            "id": raw.get("id") or event_id,
            "ts": int(raw.get("ts") or now * 1000),
            "user": raw.get("user") or {},
        }
        if raw.get("v") is not None:
            payload["v"] = raw["v"]
        return payload

    def _on_event(
        self,
        conn: Connection,
        event_id: str,
        payload: dict[str, Any],
        now: float,
        *,
        user_id: str | None,
    ) -> None:
        self._match_waits(conn, payload, now)
        skipped: dict[str, str] = {}
        for fn in self._targets(payload):
            created = self.trigger(conn, fn, payload, event_id, now=now, dedupe_id=user_id)
            if isinstance(created, Skipped):
                skipped[fn.id] = created.reason
        if skipped:
            conn.execute(events.update().where(events.c.id == event_id).values(skipped=skipped))

    def _targets(self, payload: Mapping[str, Any]) -> list[FunctionDef]:
        if payload["name"] == INVOKED:  # invoked runs are matched by id, not by triggers
            fn = self.registry.get(str(payload["data"].get("_inngest", {}).get("fn_id", "")))
            return [fn] if fn else []
        return list(self.registry.matching(payload))

    def _match_waits(self, conn: Connection, payload: dict[str, Any], now: float) -> None:
        for wait in _WAITS_FOR.run(conn, {"b_name": payload["name"], "b_now": now}):
            run = load_run(conn, wait.run_id)
            if run is None or run.status != RUNNING or not self._wait_matches(wait, run, payload):
                continue
            if wait.kind == "cancel":
                self.finalize(conn, run, CANCELLED, error=_cancel_error("cancel event"))
                continue
            conn.execute(delete(waits).where(waits.c.id == wait.id))
            # The wait's timeout job keeps how the step resumes the function (`race`).
            timeout = jobs.delete_by_key(conn, f"{run.id}:{wait.step_id}:timeout") or {}
            memo = invoke_memo(payload) if wait.kind == "invoke" else payload
            race = bool(timeout.get("race"))
            self.record_memo(conn, run, wait.step_id, memo, now, status="completed", race=race)
            run.save(conn)

    @staticmethod
    def _wait_matches(wait: Any, run: RunState, payload: Mapping[str, Any]) -> bool:
        if wait.kind == "invoke":
            return bool(payload["data"].get("correlation_id") == wait.correlation_id)
        if wait.expression is None:
            return True
        variables = {"event": run.event, "async": payload}
        return compile_expression(wait.expression).matches(variables)

    # -- runs ---------------------------------------------------------------------------

    def trigger(
        self,
        conn: Connection,
        fn: FunctionDef,
        event: dict[str, Any],
        event_id: str,
        *,
        now: float,
        dedupe_id: str | None = None,
    ) -> str | Skipped:
        """What an event that `fn` matches does: start a run, or join `fn`'s batch (and
        start it when full); returns the run's id, or why there is none (yet)."""
        if fn.batch is None or not batches.eligible(fn.batch, event):
            return self.create_run(conn, fn, [event], event_id, now=now, dedupe_id=dedupe_id)
        added = batches.add(
            conn, fn.id, fn.batch, event_id, event, now=now, max_bytes=self.limits.max_batch_bytes
        )
        if added.full:
            self.start_batch(conn, added.batch_id, now, reason="full")
        return Skipped(f"batched ({added.batch_id})")

    def start_batch(self, conn: Connection, batch_id: str, now: float, *, reason: str) -> None:
        """Start the run of an open batch (full, or its timeout passed); nothing when it
        started already."""
        taken = batches.take(conn, batch_id)
        if taken is None:
            return
        fn = self.registry.get(taken.function_id)
        if fn is None or not taken.events:
            log.warning("batch_dropped", batch_id=batch_id, function_id=taken.function_id)
            return
        log.info("batch_started", batch_id=batch_id, events=len(taken.events), reason=reason)
        self.create_run(conn, fn, taken.events, taken.event_ids[0], now=now, batch_id=batch_id)

    def create_run(
        self,
        conn: Connection,
        fn: FunctionDef,
        run_events: list[dict[str, Any]],
        event_id: str,
        *,
        now: float,
        dedupe_id: str | None = None,
        original_run_id: str | None = None,
        debounced: bool = False,
        batch_id: str | None = None,
    ) -> str | Skipped:
        """Start a run unless flow control says otherwise; returns its id, or why not.

        A batch's run (`batch_id`) is not rate limited or deduplicated, starts now whatever
        its events' `ts`, and has no cancel listeners or start timeout, as on Inngest.
        """
        event = run_events[0]
        if original_run_id is None and batch_id is None:
            reason = self._admission(conn, fn, event, event_id, now, dedupe_id, debounced)
            if reason is not None:
                log.info("run_skipped", function_id=fn.id, event_id=event_id, reason=reason)
                return Skipped(reason)
        singleton_key = None
        if fn.singleton is not None:
            singleton_key = f"{fn.id}:{evaluate_key(fn.singleton.key, event)}"
            if self._singleton_blocks(conn, fn, singleton_key, now):
                return Skipped("singleton: a run is already active")
        run_id = new_ulid()
        correlation = event["data"].get("_inngest", {}).get("correlation_id")
        priority = priority_factor(fn.priority, event)
        _INSERT_RUN.run(
            conn,
            {
                "id": run_id,
                "function_id": fn.id,
                "event_id": event_id,
                "events": run_events,
                "status": RUNNING,
                "queued_at": now,
                "force_plan": False,
                "pending": [],
                "stack": [],
                "concurrency_keys": _concurrency_keys(fn, event),
                "singleton_key": singleton_key,
                "original_run_id": original_run_id,
                "correlation_id": correlation if event["name"] == INVOKED else None,
                "priority": priority,
                "batch_id": batch_id,
            },
        )
        start_at = now if batch_id else max(now, event["ts"] / 1000)
        jobs.enqueue(
            conn,
            kind=jobs.CALL,
            run_id=run_id,
            # A negative priority delays the start, as on Inngest.
            available_at=start_at + max(0, -priority),
            dedupe_key=f"{run_id}:discovery",
            priority=priority,
        )
        if batch_id is None:
            self._start_limits(conn, fn, run_id, now, start_at)
        log.info("run_created", run_id=run_id, function_id=fn.id, event_id=event_id)
        return run_id

    def _start_limits(
        self, conn: Connection, fn: FunctionDef, run_id: str, now: float, start_at: float
    ) -> None:
        """A new run's cancel listeners and start timeout."""
        self._listen_for_cancel(conn, fn, run_id, now)
        if fn.start_timeout_s is not None:
            jobs.enqueue(
                conn,
                kind=jobs.TIMEOUT,
                run_id=run_id,
                available_at=start_at + fn.start_timeout_s,
                dedupe_key=f"{run_id}:start-timeout",
                data={"which": "start"},
            )

    def _admission(
        self,
        conn: Connection,
        fn: FunctionDef,
        event: dict[str, Any],
        event_id: str,
        now: float,
        dedupe_id: str | None,
        debounced: bool,
    ) -> str | None:
        if dedupe_id and not gcra_admit(
            conn, f"evtid:{fn.id}:{dedupe_id}", limit=1, period_s=EVENT_ID_WINDOW_S, now=now
        ):
            return f"duplicate event id '{dedupe_id}' within 24h"
        limit = fn.rate_limit
        if limit is not None:
            key = evaluate_key(limit.key, event)
            if key != "false" and not gcra_admit(
                conn, f"rate:{fn.id}:{key}", limit=limit.limit, period_s=limit.period_s, now=now
            ):
                return "rate limited" if fn.config.get("idempotency") is None else "idempotency"
        if fn.debounce is not None and not debounced:
            self._debounce(conn, fn, event, event_id, now)
            return "debounced"
        return None

    def _debounce(
        self,
        conn: Connection,
        fn: FunctionDef,
        event: dict[str, Any],
        event_id: str,
        now: float,
    ) -> None:
        assert fn.debounce is not None
        key = f"{fn.id}:{evaluate_key(fn.debounce.key, event)}"
        row = (conn.execute(select(debounces).where(debounces.c.key == key))).first()
        first_at = row.first_at if row else now
        fire_at = now + fn.debounce.period_s
        if fn.debounce.timeout_s is not None:
            fire_at = min(fire_at, first_at + fn.debounce.timeout_s)
        values = {
            "function_id": fn.id,
            "event_id": event_id,
            "first_at": first_at,
            "fire_at": fire_at,
        }
        if row is None:
            conn.execute(debounces.insert().values(key=key, **values))
        else:
            conn.execute(debounces.update().where(debounces.c.key == key).values(**values))
        jobs.delete_by_key(conn, f"debounce:{key}")
        jobs.enqueue(
            conn,
            kind=jobs.DEBOUNCE,
            run_id=None,
            available_at=fire_at,
            dedupe_key=f"debounce:{key}",
            data={"key": key},
        )

    def fire_debounce(self, conn: Connection, key: str, now: float) -> None:
        row = (conn.execute(select(debounces).where(debounces.c.key == key))).first()
        if row is None:
            return
        conn.execute(delete(debounces).where(debounces.c.key == key))
        fn = self.registry.get(row.function_id)
        event = (
            conn.execute(select(events.c.payload).where(events.c.id == row.event_id))
        ).scalar_one_or_none()
        if fn is not None and event is not None:
            self.create_run(conn, fn, [event], row.event_id, now=now, debounced=True)

    def _singleton_blocks(self, conn: Connection, fn: FunctionDef, key: str, now: float) -> bool:
        assert fn.singleton is not None
        active = (
            (
                conn.execute(
                    select(runs.c.id).where(runs.c.singleton_key == key, runs.c.status == RUNNING)
                )
            )
            .scalars()
            .all()
        )
        if not active:
            return False
        if fn.singleton.mode == "skip":
            return True
        for run_id in active:
            run = load_run(conn, run_id)
            if run is not None:
                self.finalize(conn, run, CANCELLED, error=_cancel_error("singleton"))
        return False

    def _listen_for_cancel(
        self, conn: Connection, fn: FunctionDef, run_id: str, now: float
    ) -> None:
        for rule in fn.cancel:
            conn.execute(
                waits.insert().values(
                    run_id=run_id,
                    kind="cancel",
                    event_name=rule.event,
                    expression=rule.expression.source if rule.expression else None,
                    created_at=now,
                    expires_at=now + (rule.timeout_s or YEAR_S),
                )
            )

    def record_memo(
        self,
        conn: Connection,
        run: RunState,
        step_id: str,
        memo: Any,
        now: float,
        *,
        status: str,
        race: bool = False,
        resume: bool = True,
        **step: Any,
    ) -> None:
        """Persist a step's result once, and ask for discovery as Inngest does: when no
        step of the run is pending (see `outcomes.plan_pending`), or at once when the step
        races (`parallelMode: "race"`). Below execution version 2 nothing is ever pending,
        so each result resumes the function. Not with `resume=False`: the call that
        resumes it is made already (see `outcomes.record_woken`).

        `step` may carry the step's `name` and `op` when this is the first time it is seen.
        """
        text = stored_json(memo)
        recorded = upsert_step(
            conn,
            run.id,
            step_id,
            now,
            only_if_no_memo=True,
            memo=text,
            has_memo=True,
            position=len(run.stack),
            status=status,
            ended_at=now,
            **step,
        )
        if not recorded:
            return  # recorded already: a step never gets two results
        run.stack.append(step_id)
        run.memos[step_id] = text
        if step_id in run.pending:
            run.pending.remove(step_id)
        if len(run.stack) >= self.limits.max_steps:
            # Inngest refuses the next call of a run at its step limit: fail it now.
            self.finalize(conn, run, FAILED, error=too_many_steps(self.limits))
            return
        if resume and (not run.pending or race):
            if run.request_version >= 2:
                run.force_plan = False  # parallelism ended (version 1 keeps planning)
            job_id = jobs.enqueue(
                conn,
                kind=jobs.CALL,
                run_id=run.id,
                available_at=now,
                # One per step: a discovery still in flight did not see this result.
                dedupe_key=f"{run.id}:{step_id}:discovery",
                priority=run.priority,
            )
            if job_id is not None:
                run.next_call = jobs.Job(job_id, run.id, jobs.CALL, "step", 0, now, None)

    def finalize(
        self,
        conn: Connection,
        run: RunState,
        status: str,
        *,
        output: Any = None,
        error: Mapping[str, Any] | None = None,
        cause: str | None = None,
    ) -> None:
        """End a run, clear its queue and waits, and emit the lifecycle events.

        `cause` is given when `error` is the app's own error body: the server's reason,
        as Inngest reports it (see `lifecycle.standard_error`).
        """
        now = time.time()
        run.status = status
        _END_RUN.run(
            conn,
            {
                "b_run": run.id,
                "status": status,
                "output": output,
                "error": dict(error) if error else None,
                "ended_at": now,
                "started_at": run.started_at,
            },
        )
        jobs.delete_for_run(conn, run.id)
        _DELETE_WAITS.run(conn, {"b_run": run.id})
        _END_STEPS.run(
            conn,
            {
                "b_run": run.id,
                "status": "cancelled" if status == CANCELLED else "abandoned",
                "ended_at": now,
            },
        )
        log.info("run_finished", run_id=run.id, function_id=run.function_id, status=status)
        emitted = run_end_events(
            function_id=run.function_id,
            run_id=run.id,
            events=run.events,
            status=status,
            output=output,
            error=error,
            cause=cause,
        )
        if emitted:
            self.ingest(conn, emitted, internal=True)


# The statements of a run's start and end, built once (see `sqlprepared`).
_EVENT_SEEN = Prepared(select(events.c.id).where(events.c.id == bindparam("b_event")))
_INSERT_EVENT = Prepared(events.insert())
_WAITS_FOR = Prepared(
    select(waits).where(
        waits.c.event_name == bindparam("b_name"), waits.c.expires_at > bindparam("b_now")
    )
)
_INSERT_RUN = Prepared(runs.insert())
_END_RUN = Prepared(runs.update().where(runs.c.id == bindparam("b_run")))
_DELETE_WAITS = Prepared(delete(waits).where(waits.c.run_id == bindparam("b_run")))
_END_STEPS = Prepared(
    steps.update().where(steps.c.run_id == bindparam("b_run"), steps.c.has_memo.is_(False))
)


def _concurrency_keys(fn: FunctionDef, event: Mapping[str, Any]) -> list[list[Any]]:
    keys = []
    for c in fn.concurrency:
        value = evaluate_key(c.key, event)
        owner = fn.id if c.scope == "fn" else c.scope
        keys.append([f"{owner}:{c.key.source if c.key else ''}:{value}", c.limit])
    return keys


def _cancel_error(reason: str) -> dict[str, Any]:
    return {"name": "FunctionCancelledError", "message": f"function cancelled ({reason})"}
