"""A run as loaded inside a write transaction, and the step rows around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .store.schema import runs, steps

__all__ = ["CANCELLED", "COMPLETED", "FAILED", "RUNNING", "RunState", "load_run", "upsert_step"]

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
    dirty: bool = field(default=False, compare=False)

    @property
    def event(self) -> dict[str, Any]:
        return self.events[0]

    def save(self, conn: Connection) -> None:
        conn.execute(
            runs.update()
            .where(runs.c.id == self.id)
            .values(
                force_plan=self.force_plan,
                pending=self.pending,
                stack=self.stack,
                started_at=self.started_at,
            )
        )


def load_run(conn: Connection, run_id: str, *, lock: bool = True) -> RunState | None:
    query = select(runs).where(runs.c.id == run_id)
    row = (conn.execute(query.with_for_update() if lock else query)).first()
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
    )


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
    """
    row = {"name": step_id, "op": "Step", "status": "planned", **values}
    insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    stmt = insert(steps).values(run_id=run_id, step_id=step_id, created_at=now, **row)
    if not values:
        conn.execute(stmt.on_conflict_do_nothing())
        return True
    stmt = stmt.on_conflict_do_update(
        index_elements=[steps.c.run_id, steps.c.step_id],
        set_={name: stmt.excluded[name] for name in values},
        where=steps.c.has_memo.is_(False) if only_if_no_memo else None,
    )
    return bool(conn.execute(stmt).rowcount)
