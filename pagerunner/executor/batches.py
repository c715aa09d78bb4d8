"""Event batches (`batchEvents`): the open batches and their events, kept in the database.

As Inngest's server does it (inngest/inngest `pkg/execution/batch`, `runner.initialize`,
`executor.AppendAndScheduleBatch` and `RetrieveAndScheduleBatch`):

- An event for which the batch's `if` is not true (false, not a boolean, an error) is
  not batched: it starts a run of its own at once, through the usual flow control.
- The others go to the open batch of their function and `key` (the key's value; one
  batch per function without a key). The first event opens it and schedules its start
  `timeout` later (a `BATCH` job); the event that makes it `maxSize` events, or
  `max_batch_bytes` of them as JSON, starts it at once. A started batch is gone: the
  next event opens a new one.

Each change is made in the transaction that ingests the event or fires the job, so
after a crash or a restart the open batches and their jobs are as they were: no event
is lost, and none is in two batches (a resent event has the same id and is not stored
twice). Here live the rows; `StateMachine` decides when a batch starts and creates its run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ..sqlprepared import insert_for
from . import jobs
from .flow import evaluate_key
from .functions import EventBatch
from .ids import new_ulid
from .limits import json_bytes
from .store.schema import batch_events, batches, events

__all__ = ["Added", "Taken", "add", "eligible", "take", "waiting"]


@dataclass(frozen=True)
class Added:
    """Where an event went, and whether its batch is now full (to start at once)."""

    batch_id: str
    full: bool


@dataclass(frozen=True)
class Taken:
    """A batch removed from the open ones to start: its events, in the order they came."""

    batch_id: str
    function_id: str
    event_ids: list[str]
    events: list[dict[str, Any]]


def eligible(batch: EventBatch, event: Mapping[str, Any]) -> bool:
    """Whether the event is batched: `if` is absent or evaluates to true (a boolean)."""
    return batch.condition is None or batch.condition.evaluate({"event": event}) is True


def add(
    conn: Connection,
    function_id: str,
    batch: EventBatch,
    event_id: str,
    event: Mapping[str, Any],
    *,
    now: float,
    max_bytes: int,
) -> Added:
    """Append an event to its open batch (opening one, with its timeout job, if none)."""
    key_hash = hashlib.sha256(evaluate_key(batch.key, event).encode()).hexdigest()
    batch_id, size, total = _open_batch(conn, function_id, key_hash, now, batch.timeout_s)
    conn.execute(batch_events.insert().values(batch_id=batch_id, position=size, event_id=event_id))
    size, total = size + 1, total + json_bytes(event)
    conn.execute(batches.update().where(batches.c.id == batch_id).values(size=size, bytes=total))
    return Added(batch_id=batch_id, full=size >= batch.max_size or total >= max_bytes)


def _open_batch(
    conn: Connection, function_id: str, key_hash: str, now: float, timeout_s: float
) -> tuple[str, int, int]:
    """The open batch of a function and key, locked: (id, size, bytes)."""
    where = (batches.c.function_id == function_id, batches.c.key_hash == key_hash)
    while True:
        row = conn.execute(
            select(batches.c.id, batches.c.size, batches.c.bytes).where(*where).with_for_update()
        ).first()
        if row is not None:
            return row.id, row.size, row.bytes
        batch_id = new_ulid()
        created = conn.execute(
            insert_for(conn.dialect.name, batches)
            .values(
                id=batch_id,
                function_id=function_id,
                key_hash=key_hash,
                size=0,
                bytes=0,
                opened_at=now,
                fire_at=now + timeout_s,
            )
            .on_conflict_do_nothing(index_elements=["function_id", "key_hash"])
            .returning(batches.c.id)
        ).scalar_one_or_none()
        if created is not None:
            jobs.enqueue(
                conn,
                kind=jobs.BATCH,
                run_id=None,
                available_at=now + timeout_s,
                dedupe_key=_job_key(batch_id),
                data={"batch_id": batch_id},
            )
            return batch_id, 0, 0
        # Another transaction opened it meanwhile (PostgreSQL): lock that one.


def take(conn: Connection, batch_id: str) -> Taken | None:
    """Remove an open batch (its rows and its timeout job) to start it; None when it is
    not open any more (it started when it became full)."""
    row = conn.execute(
        select(batches.c.function_id).where(batches.c.id == batch_id).with_for_update()
    ).first()
    if row is None:
        return None
    items = conn.execute(
        select(batch_events.c.event_id, events.c.payload)
        .join(events, events.c.id == batch_events.c.event_id)
        .where(batch_events.c.batch_id == batch_id)
        .order_by(batch_events.c.position)
    ).all()
    conn.execute(delete(batch_events).where(batch_events.c.batch_id == batch_id))
    conn.execute(delete(batches).where(batches.c.id == batch_id))
    jobs.delete_by_key(conn, _job_key(batch_id))
    return Taken(
        batch_id=batch_id,
        function_id=row.function_id,
        event_ids=[i.event_id for i in items],
        events=[dict(i.payload) for i in items],
    )


def waiting(conn: Connection) -> dict[str, tuple[int, int]]:
    """Per function: (open batches, events waiting in them)."""
    rows = conn.execute(
        select(batches.c.function_id, func.count(), func.sum(batches.c.size)).group_by(
            batches.c.function_id
        )
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def _job_key(batch_id: str) -> str:
    return f"batch:{batch_id}"
