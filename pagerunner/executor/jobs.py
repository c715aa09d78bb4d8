"""The durable queue of work: calls to make, sleeps to wake, timeouts to fire, debounces
and event batches to start.

A job is deleted in the same transaction that records its effect, so after a
crash every job still in the table is work that has not been done.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ..sqlprepared import Prepared, insert_for, not_among
from .store.schema import jobs as jobs_table

__all__ = [
    "BATCH",
    "CALL",
    "DEBOUNCE",
    "RESUME",
    "TIMEOUT",
    "Job",
    "delete_by_key",
    "delete_job",
    "due_jobs",
    "enqueue",
    "jobs_table",
    "next_due_at",
    "reschedule",
    "take_earliest_queued",
]

CALL, RESUME, TIMEOUT, DEBOUNCE, BATCH = "call", "resume", "timeout", "debounce", "batch"

# `conn.info` key: the earliest `available_at` queued (or rescheduled) by the transaction
# on that connection, so that the engine wakes its loop only for work due before it
# would have looked anyway.
_EARLIEST = "pagerunner.jobs.earliest"


@dataclass(frozen=True)
class Job:
    id: int
    run_id: str | None
    kind: str
    target: str
    attempt: int
    available_at: float
    data: Mapping[str, Any] | None


def enqueue(
    conn: Connection,
    *,
    kind: str,
    run_id: str | None,
    available_at: float,
    target: str = "step",
    attempt: int = 0,
    dedupe_key: str | None = None,
    data: Mapping[str, Any] | None = None,
    priority: int = 0,
) -> int | None:
    """Add a job and return its id; with a `dedupe_key`, an existing job with that key is
    kept instead (and None returned).

    `priority` is the run's `priority.run` factor in seconds: a call's first attempt
    ranks among due jobs as if it had become due that much earlier (later when
    negative; it never runs before `available_at`). Retries, wake-ups and timeouts
    rank by their due time, as on Inngest.
    """
    promoted = kind == CALL and attempt == 0
    values = {
        "run_id": run_id,
        "kind": kind,
        "target": target,
        "attempt": attempt,
        "available_at": available_at,
        "score": available_at - priority if promoted else available_at,
        "dedupe_key": dedupe_key,
        "data": dict(data) if data is not None else None,
    }
    statement = _INSERT if dedupe_key is None else _insert_once(conn.dialect.name)
    new_id = statement.run(conn, values).scalar_one_or_none()
    if new_id is None:
        return None
    _note_queued(conn, available_at)
    return int(new_id)


# Built once, run with their parameters (see `runstate`).
_INSERT = Prepared(jobs_table.insert().returning(jobs_table.c.id))
_DELETE = Prepared(delete(jobs_table).where(jobs_table.c.id == bindparam("b_job")))


@functools.cache
def _insert_once(dialect: str) -> Prepared:
    return Prepared(
        insert_for(dialect, jobs_table)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(jobs_table.c.id)
    )


def reschedule(
    conn: Connection,
    job_id: int,
    *,
    available_at: float,
    attempt: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    # A retry ranks by its due time; otherwise the score keeps its offset (the priority).
    values: dict[str, Any] = {
        "available_at": available_at,
        "score": available_at
        if attempt
        else jobs_table.c.score - jobs_table.c.available_at + available_at,
    }
    if attempt is not None:
        values["attempt"] = attempt
    if data is not None:
        values["data"] = dict(data)
    conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(**values))
    _note_queued(conn, available_at)


def _note_queued(conn: Connection, available_at: float) -> None:
    earliest = conn.info.get(_EARLIEST)
    if earliest is None or available_at < earliest:
        conn.info[_EARLIEST] = available_at


def take_earliest_queued(conn: Connection) -> float | None:
    """When the first job queued on this connection since the last take is due (None:
    none was). Taken before and after a transaction, it covers that transaction."""
    value: float | None = conn.info.pop(_EARLIEST, None)
    return value


def delete_job(conn: Connection, job_id: int) -> bool:
    """Delete one job; False when it was gone already (deleted since it was claimed)."""
    result = _DELETE.run(conn, {"b_job": job_id})
    return bool(result.rowcount)


def delete_for_run(conn: Connection, run_id: str) -> None:
    """Delete every job of a run (it ended)."""
    _DELETE_FOR_RUN.run(conn, {"b_run": run_id})


_DELETE_FOR_RUN = Prepared(delete(jobs_table).where(jobs_table.c.run_id == bindparam("b_run")))


def delete_by_key(conn: Connection, dedupe_key: str) -> dict[str, Any] | None:
    """Delete the job with this key; returns its data ({} without), None when there was none."""
    deleted = conn.execute(
        delete(jobs_table).where(jobs_table.c.dedupe_key == dedupe_key).returning(jobs_table.c.data)
    ).first()
    return None if deleted is None else dict(deleted.data or {})


def _due(calls: bool) -> Prepared:
    kind = jobs_table.c.kind
    return Prepared(
        select(jobs_table)
        .where(
            jobs_table.c.available_at <= bindparam("b_now"),
            kind == CALL if calls else kind != CALL,
            not_among(jobs_table.c.id, "b_exclude"),
        )
        .order_by(jobs_table.c.score, jobs_table.c.id)
        .limit(bindparam("b_limit"))
    )


_DUE_CALLS, _DUE_OTHERS = _due(calls=True), _due(calls=False)
# ORDER BY + LIMIT walks the `available_at` index and stops at the first match
# (a MIN() with a WHERE clause reads every row).
_NEXT_DUE = Prepared(
    select(jobs_table.c.available_at)
    .where(not_among(jobs_table.c.id, "b_exclude"))
    .order_by(jobs_table.c.available_at)
    .limit(1)
)


def due_jobs(
    conn: Connection, *, now: float, exclude: Collection[int], limit: int, calls: bool
) -> list[Job]:
    """Due jobs, best score first: calls, or (`calls` False) the jobs that need none."""
    rows = (_DUE_CALLS if calls else _DUE_OTHERS).run(
        conn, {"b_now": now, "b_exclude": list(exclude), "b_limit": limit}
    )
    return [
        Job(
            id=r.id,
            run_id=r.run_id,
            kind=r.kind,
            target=r.target,
            attempt=r.attempt,
            available_at=r.available_at,
            data=r.data,
        )
        for r in rows
    ]


def next_due_at(conn: Connection, *, exclude: Collection[int]) -> float | None:
    value = _NEXT_DUE.run(conn, {"b_exclude": list(exclude)}).scalar()
    return float(value) if value is not None else None
