"""Persistence of combos: a batch row and its queries, created in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from ..sqlstore import Database
from .combos import Batch
from .model import Query, QueryError
from .schema import batches, queries, query_records, records
from .store import QUERY_ROWS
from .tablemap import TableMap

__all__ = ["BatchNotFound", "BatchStore", "insert_batch", "new_combo"]

_BATCH_ROWS = TableMap(Batch, batches, to_row={"params": dict})


class BatchNotFound(QueryError):
    """No combo with this id."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"combo '{batch_id}' not found")


def new_combo(
    source: str,
    params: Mapping[str, Any],
    combos: Sequence[Mapping[str, Any]],
    *,
    max_pages: int | None = None,
    webhook: str | None = None,
    deliver: str | None = None,
) -> tuple[Batch, list[Query]]:
    """A batch and one pending query per combination (not yet stored).

    The combo's `webhook` stays on the batch: its queries do not call it one by one.
    Its `deliver` goes to each query: each is loaded when it completes.
    """
    batch = Batch.new(source, params, max_pages, len(combos), webhook, deliver)
    new = [Query.new(source, combo, max_pages=max_pages, deliver=deliver) for combo in combos]
    return batch, new


def insert_batch(conn: Connection, batch: Batch, new: Sequence[Query]) -> None:
    """Write a batch and its queries inside the caller's transaction (a tick's, say)."""
    conn.execute(batches.insert(), _BATCH_ROWS.values(batch))
    conn.execute(queries.insert(), [{**QUERY_ROWS.values(q), "batch_id": batch.id} for q in new])


def _batch(conn: Connection, batch_id: str) -> Batch:
    row = conn.execute(_BATCH_ROWS.select.where(batches.c.id == batch_id)).first()
    if row is None:
        raise BatchNotFound(batch_id)
    return _BATCH_ROWS.load(row)


def _summary(conn: Connection, batch_id: str) -> dict[str, Any]:
    batch = _batch(conn, batch_id)
    members = [
        QUERY_ROWS.load(r)
        for r in conn.execute(
            QUERY_ROWS.select.where(queries.c.batch_id == batch_id).order_by(queries.c.id)
        )
    ]
    by_status: dict[str, int] = {}
    for q in members:
        by_status[str(q.status)] = by_status.get(str(q.status), 0) + 1
    distinct_records = conn.execute(
        select(func.count(distinct(query_records.c.record_id))).where(
            query_records.c.query_id.in_(select(queries.c.id).where(queries.c.batch_id == batch_id))
        )
    ).scalar_one()
    return {
        **batch.to_json(),
        "status": _overall(by_status, len(members)),
        "by_status": by_status,
        "pages_fetched": sum(q.pages_fetched for q in members),
        "records_fetched": sum(q.records_fetched for q in members),
        "records_inserted": sum(q.records_inserted for q in members),
        "distinct_records": distinct_records,
        # Grows with every resume of a query: a combo that finishes again is a new finish.
        "runs": sum(q.runs for q in members),
        "queries": [
            {
                k: q.to_json()[k]
                for k in (
                    "id",
                    "params",
                    "status",
                    "pages_fetched",
                    "records_fetched",
                    "records_inserted",
                    "error_message",
                    "pause_reason",
                )
            }
            for q in members
        ],
    }


def _overall(by_status: Mapping[str, int], total: int) -> str:
    """One word for the batch: running while any query may still move."""
    if any(by_status.get(s) for s in ("pending", "running")):
        return "running"
    if by_status.get("completed") == total:
        return "completed"
    return "stopped"  # some failed, paused or cancelled: see by_status


def _results(conn: Connection, batch_id: str, limit: int, offset: int) -> tuple[list[Any], int]:
    _batch(conn, batch_id)
    member_ids = select(queries.c.id).where(queries.c.batch_id == batch_id)
    seen = (
        select(query_records.c.record_id)
        .where(query_records.c.query_id.in_(member_ids))
        .distinct()
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(seen)).scalar_one()
    rows = conn.execute(
        select(records.c.record_key, records.c.data)
        .where(records.c.id.in_(select(seen.c.record_id)))
        .order_by(records.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [{"key": r.record_key, "data": r.data} for r in rows], int(total)


def _recent(conn: Connection, limit: int) -> list[Batch]:
    rows = conn.execute(
        _BATCH_ROWS.select.order_by(batches.c.created_at.desc(), batches.c.id.desc()).limit(limit)
    )
    return [_BATCH_ROWS.load(r) for r in rows]


def _unfinished(conn: Connection, batch_id: str) -> int:
    busy = queries.c.status.in_(("pending", "running"))
    return int(
        conn.execute(select(func.count()).where(queries.c.batch_id == batch_id, busy)).scalar_one()
    )


def _batch_of(conn: Connection, query_id: str) -> str | None:
    value = conn.execute(select(queries.c.batch_id).where(queries.c.id == query_id)).scalar()
    return None if value is None else str(value)


class BatchStore:
    """Combos in the query store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        source: str,
        params: Mapping[str, Any],
        combos: Sequence[Mapping[str, Any]],
        *,
        max_pages: int | None = None,
        webhook: str | None = None,
        deliver: str | None = None,
    ) -> tuple[Batch, list[Query]]:
        """The batch and one pending query per combination (`new_combo`), in one transaction."""
        batch, new = new_combo(
            source, params, combos, max_pages=max_pages, webhook=webhook, deliver=deliver
        )
        await self._db.write(insert_batch, batch, new)
        return batch, new

    async def summary(self, batch_id: str) -> dict[str, Any]:
        """The batch, its progress summed over its queries, and each query's state."""
        return await self._db.read(_summary, batch_id)

    async def results(
        self, batch_id: str, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """Every distinct record any of the batch's queries saw, once."""
        return await self._db.read(_results, batch_id, limit, offset)

    async def recent(self, limit: int = 10) -> list[Batch]:
        """The latest combos, newest first."""
        return await self._db.read(_recent, limit)

    async def get(self, batch_id: str) -> Batch:
        """The batch itself; raises `BatchNotFound`."""
        return await self._db.read(_batch, batch_id)

    async def unfinished(self, batch_id: str) -> int:
        """How many of the combo's queries are pending or running (0: it has finished)."""
        return await self._db.read(_unfinished, batch_id)

    async def batch_of(self, query_id: str) -> str | None:
        """The combo a query belongs to, if any (None too for an unknown query)."""
        return await self._db.read(_batch_of, query_id)
