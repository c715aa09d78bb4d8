"""`QueryStore`: queries, their pages and their de-duplicated records in SQLite or PostgreSQL.

Every state change reads the query row (locked with `FOR UPDATE` on PostgreSQL;
SQLite writers are serialised by `BEGIN IMMEDIATE`), applies one of the
transition methods of `Query` and writes the result back, in one transaction.
Transaction bodies are plain functions of a connection, run whole in a database
thread by `Database` (one event-loop hop per transaction, not per statement).
The tables must exist: run `pagerunner.queries.migrate.migrate(url)` first.

SQLAlchemy errors never leave this module's methods: they become `StoreError`.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select

from pagerunner.sources.base import Checkpoint, Page

from ..safetext import scrub
from ..sqlprepared import Prepared
from ..sqlstore import Database
from . import records as rows
from .model import (
    PageLog,
    PageSaved,
    Query,
    QueryNotFound,
    QueryStatus,
    StoreError,
    utcnow,
)
from .schema import queries
from .tablemap import TableMap

__all__ = ["QUERY_ROWS", "QueryStore"]


#: A query is one `pr_queries` row. Provider text may hold lone surrogates, which a
#: text column cannot store: they are scrubbed on the way in.
QUERY_ROWS = TableMap(
    Query,
    queries,
    to_row={"params": dict, "status": str, "checkpoint": Checkpoint.to_json},
    from_row={"status": QueryStatus, "checkpoint": Checkpoint.from_json},
    text=scrub,
)

# What a page changes; the rest of the row (params above all) is left as it is.
_progress_values = QUERY_ROWS.writer(
    "pages_fetched",
    "records_fetched",
    "records_inserted",
    "checkpoint",
    "exhausted",
    "note",
    "updated_at",
)


def _load(conn: Connection, query_id: str, *, lock: bool = False) -> Query:
    row = (_LOAD_LOCKED if lock else _LOAD).run(conn, {"b_id": query_id}).first()
    if row is None:
        raise QueryNotFound(query_id)
    return QUERY_ROWS.load(row)


# Built once; values come as parameters, so the SQL is compiled once per set of columns.
_LOAD_QUERY = QUERY_ROWS.select.where(queries.c.id == bindparam("b_id"))
_LOAD = Prepared(_LOAD_QUERY)
_LOAD_LOCKED = Prepared(_LOAD_QUERY.with_for_update())
_UPDATE_QUERY = Prepared(queries.update().where(queries.c.id == bindparam("b_id")))


def _save(conn: Connection, query: Query) -> None:
    values = QUERY_ROWS.values(query)
    _UPDATE_QUERY.run(conn, {"b_id": values.pop("id"), **values})


def _save_progress(conn: Connection, query: Query) -> None:
    _UPDATE_QUERY.run(conn, {"b_id": query.id, **_progress_values(query)})


def _replayed(query: Query, log: PageLog) -> PageSaved:
    next_checkpoint = (
        Checkpoint(page=log.page_number + 1, cursor=log.cursor_out) if log.has_more else None
    )
    return PageSaved(
        page_number=log.page_number,
        records=log.records,
        inserted=log.inserted,
        has_more=log.has_more,
        next_checkpoint=next_checkpoint,
        query=query,
        replayed=True,
    )


def _save_page(
    conn: Connection,
    query_id: str,
    page_number: int,
    page: Page,
    cursor_in: str | None,
    duration_ms: int,
) -> PageSaved:
    query = _load(conn, query_id, lock=True)
    if page_number != query.checkpoint.page or query.exhausted:
        stored = rows.stored_page(conn, query_id, page_number)
        if stored is not None:
            return _replayed(query, stored)
    query.check_next_page(page_number, page.next_checkpoint)
    now = utcnow()
    inserted = rows.write_records(
        conn,
        source=query.source,
        query_id=query_id,
        page_number=page_number,
        page_records=page.records,
        now=now,
    )
    updated = query.after_page(
        page_number,
        records=len(page.records),
        inserted=inserted,
        next_checkpoint=page.next_checkpoint,
        now=now,
    )
    log = PageLog(
        page_number=page_number,
        cursor_in=cursor_in,
        cursor_out=page.next_checkpoint.cursor if page.next_checkpoint else None,
        records=len(page.records),
        inserted=inserted,
        has_more=updated.has_more,
        http_status=page.http_status,
        duration_ms=duration_ms,
        fetched_at=now,
        run_id=query.run_id,  # the run that owns the query stores its pages
    )
    rows.insert_page_log(conn, query_id, log)
    _save_progress(conn, updated)
    return PageSaved(
        page_number=page_number,
        records=log.records,
        inserted=inserted,
        has_more=updated.has_more,
        next_checkpoint=updated.checkpoint if updated.has_more else None,
        query=updated,
    )


def _list(
    conn: Connection, conditions: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[list[Query], int]:
    total = conn.scalar(select(func.count()).select_from(queries).where(*conditions))
    result = conn.execute(
        QUERY_ROWS.select.where(*conditions)
        .order_by(queries.c.created_at.desc(), queries.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [QUERY_ROWS.load(row) for row in result], int(total or 0)


def _count_by_status(conn: Connection) -> dict[str, int]:
    counted = select(queries.c.status, func.count()).group_by(queries.c.status)
    return {status: int(count) for status, count in conn.execute(counted)}


def _change(conn: Connection, query_id: str, change: Callable[[Query, datetime], Query]) -> Query:
    query = _load(conn, query_id, lock=True)
    changed = change(query, utcnow())
    if changed is not query:
        _save(conn, changed)
    return changed


def _pages(conn: Connection, query_id: str) -> list[PageLog]:
    _load(conn, query_id)
    return rows.page_logs(conn, query_id)


def _results(
    conn: Connection, query_id: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    _load(conn, query_id)
    total = rows.count_results(conn, query_id)
    return rows.result_rows(conn, query_id, limit=limit, offset=offset), total


class QueryStore:
    """Queries, pages and records in the database at `url` (a SQLAlchemy URL or a file path)."""

    def __init__(self, url: str) -> None:
        self._db = Database(url, error=StoreError)

    @property
    def database(self) -> Database:
        """The store's database, for other parts of the domain that keep state beside it."""
        return self._db

    async def close(self) -> None:
        """Finish the transactions in flight and close every database connection."""
        await self._db.close()

    # -- queries ---------------------------------------------------------------------------

    async def create(
        self,
        source: str,
        params: Mapping[str, Any],
        *,
        max_pages: int | None = None,
        webhook: str | None = None,
        deliver: str | None = None,
    ) -> Query:
        """A new pending query (one run requested) that starts at page 1."""
        query = Query.new(source, params, max_pages=max_pages, webhook=webhook, deliver=deliver)
        await self._db.write(lambda conn: conn.execute(queries.insert(), QUERY_ROWS.values(query)))
        return query

    async def get(self, query_id: str) -> Query:
        """The query with this id; raises `QueryNotFound`."""
        return await self._db.read(lambda conn: _load(conn, query_id))

    async def list(
        self,
        *,
        status: QueryStatus | str | None = None,
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[builtins.list[Query], int]:
        """Queries newest first, filtered by status and/or source, and how many match in all.

        Raises `ValueError` for a status that does not exist.
        """
        conditions = []
        if status is not None:
            conditions.append(queries.c.status == str(QueryStatus(status)))
        if source is not None:
            conditions.append(queries.c.source == source)
        return await self._db.read(lambda conn: _list(conn, conditions, limit, offset))

    async def count_by_status(self) -> dict[QueryStatus, int]:
        """How many queries are in each status (every status, zero when none)."""
        counted = await self._db.read(_count_by_status)
        return {status: counted.get(status.value, 0) for status in QueryStatus}

    async def _change(self, query_id: str, change: Callable[[Query, datetime], Query]) -> Query:
        return await self._db.write(lambda conn: _change(conn, query_id, change))

    async def start(
        self, query_id: str, run_id: str | None = None, *, page_cap: int | None = None
    ) -> Query:
        """pending -> running, owned by `run_id` (the durable run's id).

        Already running: returned unchanged (the start step may re-run); compare
        `query.run_id` to tell whether this run owns it. A query without `max_pages`
        (saved before page caps existed) gets `page_cap`.
        """
        return await self._change(
            query_id, lambda q, now: q.started(now, run_id, page_cap=page_cap)
        )

    async def continue_run(self, query_id: str, previous_run_id: str, run_id: str) -> Query:
        """Hand a running query from run `previous_run_id` over to run `run_id`.

        Returned unchanged unless it is running and owned by `previous_run_id`
        (compare `query.run_id`); paused instead when a pause was requested
        meanwhile. See `Query.continued`.
        """
        return await self._change(
            query_id, lambda q, now: q.continued(run_id, previous_run_id, now)
        )

    async def complete(self, query_id: str) -> Query:
        """running -> completed."""
        return await self._change(query_id, lambda q, now: q.completed(now))

    async def fail(self, query_id: str, code: str, message: str) -> Query:
        """running -> failed, keeping the error's code and message."""
        return await self._change(query_id, lambda q, now: q.failed(code, message, now))

    async def pause(self, query_id: str, reason: str, hint: str | None = None) -> Query:
        """running (or pending) -> paused, saying why and how to resume."""
        return await self._change(query_id, lambda q, now: q.paused(reason, hint, now))

    async def cancel(self, query_id: str) -> Query:
        """pending, running or paused -> cancelled."""
        return await self._change(query_id, lambda q, now: q.cancelled(now))

    async def request_pause(self, query_id: str) -> Query:
        """Pause a pending query now; ask a running one to pause after its current page.

        Any other status raises `InvalidTransition`.
        """
        return await self._change(query_id, lambda q, now: q.asked_to_pause(now))

    async def note_retry(self, query_id: str, error: str) -> Query:
        """Count a page attempt that failed transiently (it is retried by the engine)."""
        return await self._change(query_id, lambda q, now: q.retried(error, now))

    async def resume(self, query_id: str) -> Query:
        """paused, failed or cancelled -> pending, one more run; progress and checkpoint kept."""
        return await self._change(query_id, lambda q, now: q.resumed(now))

    # -- pages -----------------------------------------------------------------------------

    async def save_page(
        self,
        query_id: str,
        page_number: int,
        page: Page,
        *,
        cursor_in: str | None,
        duration_ms: int,
    ) -> PageSaved:
        """Store a fetched page: its records, the page log, progress and checkpoint, atomically.

        Idempotent: if page `page_number` was stored already (the step re-ran after
        committing), its stored outcome is returned with `replayed=True` and nothing
        changes. Raises `QueryNotRunning` if the query was paused or cancelled
        meanwhile (the page is dropped; the checkpoint still points at it), and
        `PageOutOfOrder` if the page is not the one the checkpoint points at.
        """
        return await self._db.write(
            lambda conn: _save_page(conn, query_id, page_number, page, cursor_in, duration_ms)
        )

    async def pages(self, query_id: str) -> builtins.list[PageLog]:
        """Every stored page of the query, in order; raises `QueryNotFound`."""
        return await self._db.read(lambda conn: _pages(conn, query_id))

    # -- results ---------------------------------------------------------------------------

    async def results(
        self, query_id: str, *, limit: int = 100, offset: int = 0
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """A page of the query's records (`{"key", "data", "page"}`, by page then position)
        and how many it has in all. Raises `QueryNotFound`."""
        return await self._db.read(lambda conn: _results(conn, query_id, limit, offset))

    async def iter_results(self, query_id: str, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every record of the query in result order, read `batch` at a time in constant memory.

        Keyset pagination (no OFFSET), one short read transaction per batch: pages
        stored while iterating come after the ones already read and are included.
        Raises `QueryNotFound` on the first iteration.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        await self.get(query_id)
        after: rows.ResultKey | None = None
        while True:
            found, after = await self._db.read(
                functools.partial(rows.result_batch, query_id=query_id, after=after, limit=batch)
            )
            for result in found:
                yield result
            if len(found) < batch:
                return
