"""Destination loads: one row per load of a query's records into its destination.

A load is queued when its event is sent (a query completed, or someone asked to
load it again), counted before each attempt and given its outcome after, so the
query's page shows a load in flight, one that is being retried and one that
failed, and a crash in the middle of an attempt still shows. Nothing here talks
to a destination: `pagerunner.destinations` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..safetext import scrub
from ..sqlprepared import insert_for
from ..sqlstore import Database
from .model import utcnow
from .schema import destination_loads as table
from .tablemap import TableMap

__all__ = ["FAILED", "IN_FLIGHT", "LOADED", "Load", "LoadStore"]

QUEUED = "queued"
LOADING = "loading"
RETRYING = "retrying"
LOADED = "loaded"
FAILED = "failed"
#: A load with one of these statuses will still be attempted.
IN_FLIGHT = frozenset({QUEUED, LOADING, RETRYING})


@dataclass(frozen=True)
class Load:
    """One load of a query's records into `destination` (a spec, never a credential).

    `status` is `queued` (its event is sent), `loading` (an attempt is in flight,
    or was when the process stopped), `retrying` (the last attempt failed; the step
    will try again), `loaded` or `failed` (no attempt is left). `records` counts
    the records the successful attempt sent.
    """

    id: str
    query_id: str
    destination: str
    status: str
    attempts: int
    records: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status not in IN_FLIGHT

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "destination": self.destination,
            "status": self.status,
            "attempts": self.attempts,
            "records": self.records,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_ROWS = TableMap(Load, table, text=scrub)


def _get(conn: Connection, load_id: str) -> Load:
    row = conn.execute(_ROWS.select.where(table.c.id == load_id)).first()
    assert row is not None  # queued before any attempt
    return _ROWS.load(row)


def _queue(conn: Connection, load: Load) -> Load:
    insert = insert_for(conn.dialect.name, table)
    conn.execute(insert.values(_ROWS.values(load)).on_conflict_do_nothing())
    return _get(conn, load.id)


def _update(conn: Connection, load_id: str, **values: Any) -> Load:
    values = {k: scrub(v) if isinstance(v, str) else v for k, v in values.items()}
    conn.execute(table.update().where(table.c.id == load_id).values(updated_at=utcnow(), **values))
    return _get(conn, load_id)


def _attempt(conn: Connection, load_id: str) -> Load:
    return _update(conn, load_id, status=LOADING, attempts=_get(conn, load_id).attempts + 1)


def _for_query(conn: Connection, query_id: str, limit: int) -> list[Load]:
    rows = conn.execute(
        _ROWS.select.where(table.c.query_id == query_id)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    return [_ROWS.load(r) for r in rows]


class LoadStore:
    """Destination loads in the query store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def queue(self, load_id: str, *, query_id: str, destination: str) -> Load:
        """The load `load_id`, created `queued` unless it exists (then returned as it is)."""
        now = utcnow()
        new = Load(load_id, query_id, destination, QUEUED, 0, None, None, now, now)
        return await self._db.write(_queue, new)

    async def attempt(self, load_id: str) -> Load:
        """Count an attempt about to start (before it starts: a crash still shows it)."""
        return await self._db.write(_attempt, load_id)

    async def loaded(self, load_id: str, records: int) -> Load:
        return await self._db.write(
            _update, load_id, status=LOADED, records=records, last_error=None
        )

    async def attempt_failed(self, load_id: str, error: str, *, final: bool) -> Load:
        """Record a failed attempt: `retrying`, or `failed` when no attempt is left."""
        status = FAILED if final else RETRYING
        return await self._db.write(_update, load_id, status=status, last_error=error)

    async def for_query(self, query_id: str, limit: int = 20) -> list[Load]:
        """The query's loads, newest first."""
        return await self._db.read(_for_query, query_id, limit)
