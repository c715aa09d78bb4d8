"""A run as loaded inside a write transaction, and the step rows around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

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
    """Create or update one step row; returns False when `only_if_no_memo` found a memo."""
    existing = conn.execute(
        select(steps.c.has_memo).where(steps.c.run_id == run_id, steps.c.step_id == step_id)
    ).first()
    if existing is None:
        values.setdefault("name", step_id)
        values.setdefault("op", "Step")
        values.setdefault("status", "planned")
        conn.execute(
            steps.insert().values(run_id=run_id, step_id=step_id, created_at=now, **values)
        )
        return True
    if only_if_no_memo and existing.has_memo:
        return False
    if values:
        conn.execute(
            steps.update()
            .where(steps.c.run_id == run_id, steps.c.step_id == step_id)
            .values(**values)
        )
    return True
