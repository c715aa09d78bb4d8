"""Read-only views of executor state, in the shapes of Inngest's v1 REST API.

The REST routes and the dashboard read through these functions, so both show
the same thing. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from .crons import next_fires
from .errors import NotFoundError
from .store.schema import apps, attempts, events, functions, runs, steps

__all__ = [
    "event_names",
    "get_run",
    "list_apps",
    "list_events",
    "list_functions",
    "list_runs",
    "run_detail",
    "run_steps",
    "runs_by_event",
    "runs_for_event",
]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration_ms(start: float | None, end: float | None) -> int | None:
    return None if start is None or end is None else round((end - start) * 1000)


def function_run(row: Any) -> dict[str, Any]:
    """A run as Inngest's v1 `FunctionRun`, plus pagerunner's extra fields."""
    data: dict[str, Any] = {
        "run_id": row.id,
        "function_id": row.function_id,
        "event_id": row.event_id,
        "status": row.status,
        "queued_at": iso(row.queued_at),
        "run_started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "duration_ms": _duration_ms(row.started_at, row.ended_at),
        "output": row.output,
    }
    if row.error is not None:
        data["error"] = row.error
    if row.original_run_id:
        data["original_run_id"] = row.original_run_id
    if row.batch_id:
        data["batch_id"] = row.batch_id
    return data


def get_run(conn: Connection, run_id: str) -> dict[str, Any]:
    row = (conn.execute(select(runs).where(runs.c.id == run_id))).first()
    if row is None:
        raise NotFoundError(f"run '{run_id}' not found")
    return function_run(row)


def runs_for_event(conn: Connection, event_id: str) -> list[dict[str, Any]]:
    exists = (conn.execute(select(events.c.id).where(events.c.id == event_id))).first()
    if exists is None:
        raise NotFoundError(f"event '{event_id}' not found")
    rows = conn.execute(select(runs).where(runs.c.event_id == event_id).order_by(runs.c.id))
    return [function_run(r) for r in rows]


def list_runs(
    conn: Connection,
    *,
    status: Sequence[str] = (),
    function_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; `cursor` is the last run id of the previous page."""
    query = select(runs)
    if status:
        query = query.where(runs.c.status.in_(list(status)))
    if function_id:
        query = query.where(runs.c.function_id == function_id)
    if since is not None:
        query = query.where(runs.c.queued_at >= since)
    if until is not None:
        query = query.where(runs.c.queued_at < until)
    if cursor:
        query = query.where(runs.c.id < cursor)
    rows = (conn.execute(query.order_by(runs.c.id.desc()).limit(limit + 1))).all()
    page = [function_run(r) for r in rows[:limit]]
    return page, (rows[limit - 1].id if len(rows) > limit else None)


def run_detail(conn: Connection, run_id: str) -> dict[str, Any]:
    """A run with its trigger event(s), its steps and its function-level calls."""
    row = (conn.execute(select(runs).where(runs.c.id == run_id))).first()
    if row is None:
        raise NotFoundError(f"run '{run_id}' not found")
    data = function_run(row)
    trigger_events: list[Any] = list(row.events or [])
    first = trigger_events[0] if trigger_events and isinstance(trigger_events[0], dict) else {}
    data["event_name"] = first.get("name")
    data["events"] = trigger_events
    data["steps"] = run_steps(conn, run_id)
    # Calls that were not a step's (discovery, the final call, a function-level error).
    call_rows = conn.execute(
        select(attempts)
        .where(attempts.c.run_id == run_id, attempts.c.step_id.is_(None))
        .order_by(attempts.c.id)
    ).all()
    data["calls"] = [_attempt(a) for a in call_rows]
    return data


def event_names(conn: Connection, event_ids: Sequence[str]) -> dict[str, str]:
    """The name of each of these events (ids of deleted events are left out)."""
    if not event_ids:
        return {}
    rows = conn.execute(
        select(events.c.id, events.c.name).where(events.c.id.in_(list(set(event_ids))))
    )
    return {r.id: r.name for r in rows}


def runs_by_event(conn: Connection, event_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The runs each of these events started, oldest first."""
    if not event_ids:
        return {}
    rows = conn.execute(
        select(runs).where(runs.c.event_id.in_(list(set(event_ids)))).order_by(runs.c.id)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault(r.event_id, []).append(function_run(r))
    return found


def run_steps(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Each step of a run in execution order, with every attempt."""
    get_run(conn, run_id)
    step_rows = (
        conn.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.created_at))
    ).all()
    attempt_rows = (
        conn.execute(select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.id))
    ).all()
    by_step: dict[str | None, list[dict[str, Any]]] = {}
    for a in attempt_rows:
        by_step.setdefault(a.step_id, []).append(_attempt(a))
    ordered = sorted(step_rows, key=lambda s: (s.position is None, s.position, s.created_at))
    return [_step(s, by_step.get(s.step_id, [])) for s in ordered]


def _attempt(a: Any) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "status": a.status,
        "target": a.target,
        "http_status": a.http_status,
        "error": a.error,
        "started_at": iso(a.started_at),
        "ended_at": iso(a.ended_at),
        "duration_ms": _duration_ms(a.started_at, a.ended_at),
    }


def _step(s: Any, step_attempts: list[dict[str, Any]]) -> dict[str, Any]:
    memo: Mapping[str, Any] | None = s.memo if isinstance(s.memo, dict) else None
    data: dict[str, Any] = {
        "id": s.step_id,
        "name": s.name,
        "op": s.op,
        "status": s.status,
        "opts": s.opts,
        "started_at": iso(s.created_at),
        "ended_at": iso(s.ended_at),
        "duration_ms": _duration_ms(s.created_at, s.ended_at),
        "attempts": step_attempts,
    }
    if memo is not None and "error" in memo:
        data["error"] = memo["error"]
    elif s.has_memo:
        data["output"] = memo.get("data") if memo is not None and "data" in memo else s.memo
    return data


def list_events(
    conn: Connection, *, name: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(events)
    if name:
        query = query.where(events.c.name == name)
    if cursor:
        query = query.where(events.c.id < cursor)
    rows = (conn.execute(query.order_by(events.c.id.desc()).limit(limit + 1))).all()
    run_counts: dict[str, int] = dict(
        (
            conn.execute(
                select(runs.c.event_id, func.count())
                .where(runs.c.event_id.in_([r.id for r in rows[:limit]]))
                .group_by(runs.c.event_id)
            )
        ).all()
    )
    page = [
        {
            "internal_id": r.id,
            "name": r.name,
            "data": r.payload.get("data"),
            "id": r.payload.get("id"),
            "ts": r.ts,
            "received_at": iso(r.received_at),
            "run_count": run_counts.get(r.id, 0),
            "skipped": r.skipped,
        }
        for r in rows[:limit]
    ]
    return page, (rows[limit - 1].id if len(rows) > limit else None)


def list_functions(conn: Connection) -> list[dict[str, Any]]:
    """The synced functions; `crons` maps each cron trigger to its next tick (None: never)."""
    rows = conn.execute(select(functions).order_by(functions.c.id))
    fires = next_fires(conn)
    return [
        {
            "id": r.id,
            "app": r.app_name,
            "name": r.name,
            "config": r.config,
            "crons": {cron: iso(at) for cron, at in fires.get(r.id, {}).items()},
        }
        for r in rows
    ]


def list_apps(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(apps).order_by(apps.c.name))
    return [
        {
            "name": r.name,
            "url": r.url,
            "sdk": r.sdk,
            "framework": r.framework,
            "function_count": r.function_count,
            # An app not reached yet has never synced: its row only stands for its URL.
            "synced_at": iso(r.synced_at) if r.reached else None,
            "error": r.error,
            "reached": r.reached,
        }
        for r in rows
    ]
