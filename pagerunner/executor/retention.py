"""Retention: forget finished runs, their steps and attempts, and old events."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from .store.schema import attempts, batch_events, events, flow_keys, runs, steps, waits

__all__ = ["purge"]


def purge(conn: Connection, *, older_than: float) -> int:
    """Delete runs that ended before `older_than` and events no live run or open batch needs."""
    old_runs = select(runs.c.id).where(runs.c.ended_at.is_not(None), runs.c.ended_at < older_than)
    conn.execute(delete(attempts).where(attempts.c.run_id.in_(old_runs)))
    conn.execute(delete(steps).where(steps.c.run_id.in_(old_runs)))
    result = conn.execute(
        delete(runs).where(runs.c.ended_at.is_not(None), runs.c.ended_at < older_than)
    )
    live_events = select(runs.c.event_id)
    conn.execute(
        delete(events).where(
            events.c.received_at < older_than,
            events.c.id.not_in(live_events),
            events.c.id.not_in(select(batch_events.c.event_id)),
        )
    )
    conn.execute(delete(flow_keys).where(flow_keys.c.expires_at < older_than))
    conn.execute(delete(waits).where(waits.c.expires_at < older_than))
    return int(result.rowcount or 0)
