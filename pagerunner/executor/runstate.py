"""A run as loaded inside a write transaction, and the step rows around it.

The statements of a transition are built once and run with their parameters on
the driver's cursor (`Prepared`): building a statement per call, and SQLAlchemy's
execution of it, cost more than SQLite took to run it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Text,
    bindparam,
    cast,
    select,
    type_coerce,
)

from ..sqlprepared import Prepared, insert_for
from .calls import RawJSON
from .jobs import Job
from .signing import canonical_json
from .store.schema import runs, steps

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "RUNNING",
    "RunState",
    "has_all_memos",
    "load_memos",
    "load_run",
    "refresh_run",
    "stored_json",
    "upsert_step",
]

RUNNING, COMPLETED, FAILED, CANCELLED = "Running", "Completed", "Failed", "Cancelled"


@dataclass
class RunState:
    """The mutable part of a run; saved back with `save`."""

    id: str
    function_id: str
    event_id: str
    events: list[dict[str, Any]]
    status: str
    started_at: float | None
    force_plan: bool
    pending: list[str]
    stack: list[str]
    concurrency_keys: list[list[Any]]
    correlation_id: str | None
    priority: int  # `priority.run`'s factor, seconds
    # The execution version the app chose with its first answer of ops (-1 until then):
    # from 2 on, parallel steps resume the function together (see `StateMachine.record_memo`).
    request_version: int
    # Memos by step id, in stack order, as the canonical JSON text they are stored as
    # (filled by `load_memos` and `StateMachine.record_memo`; may lag the stack).
    memos: dict[str, RawJSON] = field(default_factory=dict, compare=False)
    # The call this transition queued for the run and may hand over (see `apply_call`).
    next_call: Job | None = field(default=None, compare=False)

    @property
    def event(self) -> dict[str, Any]:
        return self.events[0]

    def save(self, conn: Connection) -> None:
        _SAVE_RUN.run(
            conn,
            {
                "b_run": self.id,
                "force_plan": self.force_plan,
                "pending": self.pending,
                "stack": self.stack,
                "started_at": self.started_at,
                "request_version": self.request_version,
            },
        )


_SAVE_RUN = Prepared(runs.update().where(runs.c.id == bindparam("b_run")))
_LOAD_RUN_QUERY = select(runs).where(runs.c.id == bindparam("b_run"))
_LOAD_RUN = Prepared(_LOAD_RUN_QUERY)
_LOAD_RUN_LOCKED = Prepared(_LOAD_RUN_QUERY.with_for_update())


def load_run(conn: Connection, run_id: str, *, lock: bool = True) -> RunState | None:
    row = (_LOAD_RUN_LOCKED if lock else _LOAD_RUN).run(conn, {"b_run": run_id}).first()
    if row is None:
        return None
    return RunState(
        id=row.id,
        function_id=row.function_id,
        event_id=row.event_id,
        events=list(row.events),
        status=row.status,
        started_at=row.started_at,
        force_plan=bool(row.force_plan),
        pending=list(row.pending or []),
        stack=list(row.stack or []),
        concurrency_keys=list(row.concurrency_keys or []),
        correlation_id=row.correlation_id,
        priority=row.priority,
        request_version=row.request_version,
    )


_MUTABLE = (
    runs.c.status,
    runs.c.started_at,
    runs.c.force_plan,
    runs.c.pending,
    runs.c.stack,
    runs.c.request_version,
)
# FOR UPDATE: two calls of one run (parallel steps) may finish at once on PostgreSQL.
_REFRESH_RUN = Prepared(select(*_MUTABLE).where(runs.c.id == bindparam("b_run")).with_for_update())


def refresh_run(conn: Connection, run: RunState) -> bool:
    """Re-read what other transitions may have changed since `run` was loaded (its status,
    stack, pending set, execution version); the rest of a run never changes. False when
    the run is gone.
    """
    row = _REFRESH_RUN.run(conn, {"b_run": run.id}).first()
    if row is None:
        return False
    run.status, run.started_at = row.status, row.started_at
    run.force_plan = bool(row.force_plan)
    run.pending, run.stack = list(row.pending or []), list(row.stack or [])
    run.request_version = row.request_version
    return True


def has_all_memos(run: RunState) -> bool:
    return len(run.memos) == len(run.stack) and all(s in run.memos for s in run.stack)


def load_memos(conn: Connection, run: RunState) -> None:
    """Complete `run.memos` from the database (only the steps it does not hold yet)."""
    if has_all_memos(run):
        return
    known = run.memos
    run.memos = {
        step_id: known.get(step_id) or RawJSON(text)
        for step_id, text in _LOAD_MEMOS.run(conn, {"b_run": run.id})
    }


_LOAD_MEMOS = Prepared(
    select(steps.c.step_id, cast(steps.c.memo, Text))
    .where(steps.c.run_id == bindparam("b_run"), steps.c.has_memo.is_(True))
    .order_by(steps.c.position)
)


def stored_json(value: Any) -> RawJSON:
    """`value` as the canonical JSON text a memo is stored (and sent) as."""
    return RawJSON(canonical_json(value).decode())


def upsert_step(
    conn: Connection,
    run_id: str,
    step_id: str,
    now: float,
    *,
    only_if_no_memo: bool = False,
    **values: Any,
) -> bool:
    """Create or update one step row in one statement; returns False when
    `only_if_no_memo` found a memo already (the row is then left as it was).

    A `memo` is the `stored_json` text, stored as it is (not encoded again).
    """
    statement = _upsert_statement(conn.dialect.name, tuple(sorted(values)), only_if_no_memo)
    params = {"run_id": run_id, "step_id": step_id, "created_at": now, "name": step_id}
    result = statement.run(conn, {**params, "op": "Step", "status": "planned", **values})
    return bool(result.rowcount) or not values


@functools.cache
def _upsert_statement(dialect: str, updated: tuple[str, ...], only_if_no_memo: bool) -> Prepared:
    columns = dict.fromkeys(("run_id", "step_id", "created_at", "name", "op", "status", *updated))
    binds: dict[str, ColumnElement[Any]] = {name: bindparam(name) for name in columns}
    if "memo" in binds:  # the text as it is: no second encoding by the JSON type
        text = type_coerce(bindparam("memo"), Text)
        binds["memo"] = text if dialect == "sqlite" else cast(text, JSON)
    insert = insert_for(dialect, steps).values(binds)
    if not updated:
        return Prepared(insert.on_conflict_do_nothing())
    return Prepared(
        insert.on_conflict_do_update(
            index_elements=[steps.c.run_id, steps.c.step_id],
            set_={name: insert.excluded[name] for name in updated},
            where=steps.c.has_memo.is_(False) if only_if_no_memo else None,
        )
    )
