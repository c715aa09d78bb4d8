"""Record and page rows: the de-duplicating bulk write of a page, and reading results back.

Functions here take an open (synchronous) connection and do one job inside the
caller's transaction; `QueryStore` decides when and in which transaction, and
runs it in a database thread (see `database.py`). A page's records are written
with a few statements, not one per record:

1. one `SELECT` for the ids of the page's keys that are already stored;
2. a multi-row `INSERT .. ON CONFLICT (source, record_key) DO NOTHING RETURNING id`
   of the others (one per `_ROWS_PER_INSERT` records): the rows returned are the
   records new to the store (a key a concurrent transaction stored first is not
   returned, and is looked up again);
3. a multi-row `INSERT .. ON CONFLICT DO NOTHING` of the query-record links (one per
   `_ROWS_PER_INSERT`; a record the query saw on an earlier page keeps its first
   link); a link's `is_new` says the record was new to the store (step 2 returned it).

Keys are sorted before the insert, so two transactions writing overlapping pages
on PostgreSQL take row locks in the same order and cannot deadlock.

The statements are `Prepared` (run on the driver's cursor): the keys go in one
list parameter, and each insert is compiled once per dialect and number of rows
(up to `_ROWS_PER_INSERT`; more rows take more statements). SQLAlchemy's own
multi-row insert built and processed every row's parameters on every run, which
cost more than SQLite took to store them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Row, bindparam, func, select, tuple_
from sqlalchemy.sql.schema import Table

from pagerunner.sources.base import Record

from ..sqlprepared import Prepared, among, insert_for
from .model import PageLog
from .schema import pages, query_records, records
from .tablemap import TableMap

__all__ = [
    "ResultKey",
    "count_results",
    "insert_page_log",
    "page_logs",
    "result_batch",
    "result_rows",
    "stored_page",
    "write_records",
]

#: Where a result sits in its query: (page number, position in the page).
ResultKey = tuple[int, int]

#: A page log is one `pr_pages` row (with its query's id beside it).
_PAGE_ROWS = TableMap(PageLog, pages)

#: Rows per insert statement (5 parameters each: far below SQLite's limit on bound
#: parameters); a page with more records takes more statements.
_ROWS_PER_INSERT = 100

_RECORD_COLUMNS = ("source", "record_key", "data", "first_seen_at")
_LINK_COLUMNS = ("query_id", "record_id", "page_number", "position", "is_new")

#: The ids of the keys (one list parameter) already stored for a source.
_SELECT_IDS = Prepared(
    select(records.c.record_key, records.c.id).where(
        records.c.source == bindparam("source"), among(records.c.record_key, "keys")
    )
)


def _rows(table: Table, columns: Sequence[str], n: int) -> list[dict[str, BindParameter[Any]]]:
    """n rows of parameters `<column>_<row>`, typed like their columns."""
    return [{c: bindparam(f"{c}_{i}", type_=table.c[c].type) for c in columns} for i in range(n)]


@functools.cache  # at most _ROWS_PER_INSERT statements per dialect
def _insert_records(dialect: str, n: int) -> Prepared:
    """`INSERT .. ON CONFLICT (source, record_key) DO NOTHING RETURNING` of n records."""
    return Prepared(
        insert_for(dialect, records)
        .values(_rows(records, _RECORD_COLUMNS, n))
        .on_conflict_do_nothing(index_elements=["source", "record_key"])
        .returning(records.c.record_key, records.c.id)
    )


@functools.cache
def _insert_links(dialect: str, n: int) -> Prepared:
    """`INSERT .. ON CONFLICT DO NOTHING` of n query-record links."""
    return Prepared(
        insert_for(dialect, query_records)
        .values(_rows(query_records, _LINK_COLUMNS, n))
        .on_conflict_do_nothing()
    )


def _insert_rows(
    conn: Connection,
    statement: Callable[[str, int], Prepared],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> list[Any]:
    """Insert `rows` (values in `columns`' order), `_ROWS_PER_INSERT` per statement;
    returns the rows the statements returned."""
    returned: list[Any] = []
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        params = {
            f"{c}_{i}": v for i, row in enumerate(chunk) for c, v in zip(columns, row, strict=True)
        }
        returned += statement(conn.dialect.name, len(chunk)).run(conn, params)
    return returned


def _first_by_key(page_records: Sequence[Record]) -> dict[str, tuple[int, Record]]:
    # A key repeated within a page is one record, at its first position.
    first: dict[str, tuple[int, Record]] = {}
    for position, record in enumerate(page_records):
        first.setdefault(record.key, (position, record))
    return first


def _existing_ids(conn: Connection, source: str, keys: Sequence[str]) -> dict[str, int]:
    rows = _SELECT_IDS.run(conn, {"source": source, "keys": list(keys)})
    return {row.record_key: row.id for row in rows}


def write_records(
    conn: Connection,
    *,
    source: str,
    query_id: str,
    page_number: int,
    page_records: Sequence[Record],
    now: datetime,
) -> int:
    """Store a page's records once per `(source, key)` and link them to the query.

    Returns how many records were new to the store (not seen before by any query
    of this source). A record the query had already seen on an earlier page keeps
    its first link.
    """
    first = _first_by_key(page_records)
    if not first:
        return 0
    keys = sorted(first)
    ids = _existing_ids(conn, source, keys)
    new_keys = [key for key in keys if key not in ids]
    stored: set[str] = set()
    if new_keys:
        returned = _insert_rows(
            conn,
            _insert_records,
            _RECORD_COLUMNS,
            [(source, key, dict(first[key][1].data), now) for key in new_keys],
        )
        ids.update((row.record_key, row.id) for row in returned)
        stored = {row.record_key for row in returned}
        if len(stored) < len(new_keys):  # another transaction stored some meanwhile
            ids.update(_existing_ids(conn, source, [key for key in new_keys if key not in ids]))
    _insert_rows(
        conn,
        _insert_links,
        _LINK_COLUMNS,
        [(query_id, ids[key], page_number, first[key][0], key in stored) for key in keys],
    )
    return len(stored)


def insert_page_log(conn: Connection, query_id: str, log: PageLog) -> None:
    """Write the `pr_pages` row of a stored page."""
    _INSERT_PAGE.run(conn, {"query_id": query_id, **_PAGE_ROWS.values(log)})


_INSERT_PAGE = Prepared(pages.insert())


def stored_page(conn: Connection, query_id: str, page_number: int) -> PageLog | None:
    """The log of page `page_number` of the query, if it was stored."""
    row = conn.execute(
        _PAGE_ROWS.select.where(pages.c.query_id == query_id, pages.c.page_number == page_number)
    ).first()
    return _PAGE_ROWS.load(row) if row is not None else None


def page_logs(conn: Connection, query_id: str) -> list[PageLog]:
    """Every stored page of the query, in page order."""
    rows = conn.execute(
        _PAGE_ROWS.select.where(pages.c.query_id == query_id).order_by(pages.c.page_number)
    )
    return [_PAGE_ROWS.load(row) for row in rows]


def _results_select() -> Any:
    return select(
        records.c.record_key,
        records.c.data,
        query_records.c.page_number,
        query_records.c.position,
    ).join_from(query_records, records, query_records.c.record_id == records.c.id)


def _result(row: Row[Any]) -> dict[str, Any]:
    return {"key": row.record_key, "data": row.data, "page": row.page_number}


def count_results(conn: Connection, query_id: str) -> int:
    """How many distinct records the query has seen."""
    total = conn.scalar(
        select(func.count()).select_from(query_records).where(query_records.c.query_id == query_id)
    )
    return int(total or 0)


def result_rows(
    conn: Connection, query_id: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of the query's results, ordered by page then position."""
    rows = conn.execute(
        _results_select()
        .where(query_records.c.query_id == query_id)
        .order_by(query_records.c.page_number, query_records.c.position)
        .limit(limit)
        .offset(offset)
    )
    return [_result(row) for row in rows]


def result_batch(
    conn: Connection, query_id: str, *, after: ResultKey | None, limit: int
) -> tuple[list[dict[str, Any]], ResultKey | None]:
    """Up to `limit` results after `after` (keyset pagination); returns them and the last key."""
    stmt = _results_select().where(query_records.c.query_id == query_id)
    if after is not None:
        stmt = stmt.where(
            tuple_(query_records.c.page_number, query_records.c.position) > tuple_(*after)
        )
    rows = (
        conn.execute(
            stmt.order_by(query_records.c.page_number, query_records.c.position).limit(limit)
        )
    ).all()
    if not rows:
        return [], None
    last = rows[-1]
    return [_result(row) for row in rows], (last.page_number, last.position)
