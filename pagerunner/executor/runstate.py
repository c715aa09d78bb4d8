"""A run as loaded inside a write transaction, and the step rows around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

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

    async def save(self, conn: AsyncConnection) -> None:
        await conn.execute(
            runs.update()
            .where(runs.c.id == self.id)
            .values(
                force_plan=self.force_plan,
                pending=self.pending,
                stack=self.stack,
                started_at=self.started_at,
            )
        )


async def load_run(conn: AsyncConnection, run_id: str, *, lock: bool = True) -> RunState | None:
    query = select(runs).where(runs.c.id == run_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
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


async def upsert_step(
    conn: AsyncConnection, run_id: str, step_id: str, now: float, **values: Any
) -> None:
    """Create or update one step row; `name`/`op` are only set when given."""
    existing = (
        await conn.execute(
            select(steps.c.step_id).where(steps.c.run_id == run_id, steps.c.step_id == step_id)
        )
    ).first()
    if existing is None:
        values.setdefault("name", step_id)
        values.setdefault("op", "Step")
        values.setdefault("status", "planned")
        await conn.execute(
            steps.insert().values(run_id=run_id, step_id=step_id, created_at=now, **values)
        )
    elif values:
        await conn.execute(
            steps.update()
            .where(steps.c.run_id == run_id, steps.c.step_id == step_id)
            .values(**values)
        )
