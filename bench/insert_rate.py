"""Record insertion: how fast `QueryStore.save_page` stores de-duplicated records in SQLite.

N pages of 100 records go through `save_page` into a fresh SQLite file (WAL, the
store's own settings); from page 2 on, half of each page's records repeat records
of earlier pages (already stored: linked to the query, not inserted again). In the
same run, the same pages go through:

* "same via aiosqlite": the store's transaction body unchanged, but run through
  SQLAlchemy's async engine on aiosqlite (the executor's way), where every
  statement costs several hops to the driver's thread;
* "naive baseline": the same database, thread and tables, one record at a time:
  a `SELECT` for the key, an `INSERT` when it is new, an `INSERT` of the link
  (one transaction per page).

The clock covers the page writes only. Prints records/s, inserted/s and the ratios.

    uv run python bench/insert_rate.py [--pages N] [--repeat R] [--json PATH]
    uv run python bench/insert_rate.py --database postgresql://user@host/db   # save_page only

It reports PASS/FAIL against the target (20,000 records/s) but always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pagerunner.queries.migrate import migrate
from pagerunner.queries.model import StoreError, new_id
from pagerunner.queries.schema import query_records, records
from pagerunner.queries.store import QueryStore, _save_page
from pagerunner.sources.base import Checkpoint, Page, Record
from pagerunner.sqlstore import Database, sqlite_pragmas

TARGET_RECORDS_PER_S = 20_000
PAGE_SIZE = 100


def build_pages(count: int, seed: int = 7) -> list[Page]:
    """`count` pages of 100 records; from page 2 on, half of them were seen on earlier pages."""
    rng = random.Random(seed)
    pages: list[Page] = []
    next_key = 0
    for n in range(1, count + 1):
        fresh = PAGE_SIZE if n == 1 else PAGE_SIZE // 2
        keys = [f"place-{next_key + i:08}" for i in range(fresh)]
        next_key += fresh
        keys += [f"place-{rng.randrange(next_key - fresh):08}" for _ in range(PAGE_SIZE - fresh)]
        rng.shuffle(keys)
        records = [
            Record(
                key=k,
                data={
                    "id": k,
                    "name": f"Pizzeria {k[-5:]}",
                    "address": f"{rng.randrange(1, 999)} Main St, Springfield",
                    "rating": round(rng.uniform(1, 5), 1),
                    "reviews": rng.randrange(5000),
                    "types": ["restaurant", "food"],
                },
            )
            for k in keys
        ]
        nxt = Checkpoint(page=n + 1, cursor=f"c{n + 1}") if n < count else None
        pages.append(Page(records=records, next_checkpoint=nxt))
    return pages


async def run_store(path: Path | str, pages: list[Page], source: str = "bench") -> dict[str, float]:
    """Every page through `save_page`; the clock covers the page writes only."""
    await migrate(str(path))
    store = QueryStore(str(path))
    try:
        query = await store.create(source, {"q": "pizza"})
        await store.start(query.id)
        started = time.perf_counter()
        for n, page in enumerate(pages, start=1):
            await store.save_page(query.id, n, page, cursor_in=None, duration_ms=0)
        elapsed = time.perf_counter() - started
        final = await store.get(query.id)
    finally:
        await store.close()
    return {
        "seconds": elapsed,
        "records": final.records_fetched,
        "inserted": final.records_inserted,
    }


def _naive_page(conn: Connection, page: Page, query_id: str, n: int) -> int:
    """Per record: SELECT the key, INSERT it when new, INSERT the link (one transaction)."""
    inserted = 0
    now = datetime.datetime.now(datetime.UTC)
    for position, record in enumerate(page.records):
        record_id = conn.scalar(
            select(records.c.id).where(
                records.c.source == "bench", records.c.record_key == record.key
            )
        )
        if record_id is None:
            result = conn.execute(
                records.insert(),
                {
                    "source": "bench",
                    "record_key": record.key,
                    "data": dict(record.data),
                    "first_seen_at": now,
                },
            )
            assert result.inserted_primary_key is not None
            record_id, inserted = result.inserted_primary_key[0], inserted + 1
        conn.execute(
            sqlite_insert(query_records).on_conflict_do_nothing(),
            {"query_id": query_id, "record_id": record_id, "page_number": n, "position": position},
        )
    return inserted


async def run_naive(path: Path, pages: list[Page]) -> dict[str, float]:
    """The baseline: the same database, threads and tables, one record at a time."""
    await migrate(str(path))
    db = Database(str(path), error=StoreError)
    store = QueryStore(str(path))
    try:
        query = await store.create("bench", {"q": "pizza"})
        started = time.perf_counter()
        inserted = 0
        for n, page in enumerate(pages, start=1):
            inserted += await db.write(
                functools.partial(_naive_page, page=page, query_id=query.id, n=n)
            )
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
        await db.close()
    return {"seconds": elapsed, "records": sum(len(p.records) for p in pages), "inserted": inserted}


async def run_aiosqlite(path: Path, pages: list[Page]) -> dict[str, float]:
    """The store's own page write, but through SQLAlchemy's async engine and aiosqlite
    (the executor's way: every statement is several hops to the driver's thread)."""
    await migrate(str(path))
    store = QueryStore(str(path))
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0)
    sqlite_pragmas(engine.sync_engine, immediate=True)
    try:
        query = await store.create("bench", {"q": "pizza"})
        await store.start(query.id)
        started = time.perf_counter()
        for n, page in enumerate(pages, start=1):
            async with engine.begin() as conn:
                # The store's transaction body (private: this is a benchmark).
                await conn.run_sync(_save_page, query.id, n, page, None, 0)
        elapsed = time.perf_counter() - started
        final = await store.get(query.id)
    finally:
        await engine.dispose()
        await store.close()
    return {
        "seconds": elapsed,
        "records": final.records_fetched,
        "inserted": final.records_inserted,
    }


VARIANTS = {
    "save_page": run_store,
    "same via aiosqlite": run_aiosqlite,
    "naive baseline": run_naive,
}


def _rates(result: dict[str, float]) -> tuple[float, float]:
    return result["records"] / result["seconds"], result["inserted"] / result["seconds"]


async def bench_database(url: str, pages: list[Page], repeat: int) -> None:
    """`save_page` alone on another database (PostgreSQL): one source per run, so every
    run de-duplicates the same way."""
    runs = [await run_store(url, pages, source=f"bench-{new_id()}") for _ in range(repeat)]
    rate = statistics.median(_rates(r)[0] for r in runs)
    inserted = statistics.median(_rates(r)[1] for r in runs)
    print(
        f"{len(pages)} pages x {PAGE_SIZE} records on {make_url(url).get_backend_name()} "
        f"(median of {repeat} runs)"
    )
    print(f"  save_page {rate:>9,.0f} records/s {inserted:>9,.0f} inserted/s")


async def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=500, help="pages per run (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median kept)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="measure save_page alone on this database instead (it gets the pr_* tables)",
    )
    args = parser.parse_args(argv)
    pages = build_pages(args.pages)
    if args.database:
        await bench_database(args.database, pages, args.repeat)
        return None
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="pagerunner-bench-") as tmp:
        for i in range(args.repeat):  # interleaved, so drift hits every variant alike
            for v, (name, run) in enumerate(VARIANTS.items()):
                runs[name].append(await run(Path(tmp) / f"{v}-{i}.db", pages))
    inserted = {r["inserted"] for rs in runs.values() for r in rs}
    assert len(inserted) == 1, f"the variants disagree on what is new: {inserted}"
    rates = {
        name: (
            statistics.median(_rates(r)[0] for r in rs),
            statistics.median(_rates(r)[1] for r in rs),
        )
        for name, rs in runs.items()
    }
    store_rate = rates["save_page"][0]
    report = {
        "pages": args.pages,
        "page_size": PAGE_SIZE,
        "records": args.pages * PAGE_SIZE,
        "inserted": inserted.pop(),
        "variants": {
            name: {"records_per_s": round(rec), "inserted_per_s": round(ins)}
            for name, (rec, ins) in rates.items()
        },
        "ratio_to_naive": round(store_rate / rates["naive baseline"][0], 2),
        "ratio_to_aiosqlite": round(store_rate / rates["same via aiosqlite"][0], 2),
        "target_records_per_s": TARGET_RECORDS_PER_S,
        "pass": store_rate >= TARGET_RECORDS_PER_S,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": f"{platform.system()} {platform.machine()}",
    }
    print(
        f"{args.pages} pages x {PAGE_SIZE} records, {report['inserted']} new "
        f"(median of {args.repeat} runs, SQLite {sqlite3.sqlite_version}, "
        f"Python {platform.python_version()})"
    )
    for name, (rec, ins) in rates.items():
        print(f"  {name:<20}{rec:>9,.0f} records/s {ins:>9,.0f} inserted/s")
    print(f"  save_page / naive baseline : {report['ratio_to_naive']}x")
    print(f"  save_page / via aiosqlite  : {report['ratio_to_aiosqlite']}x")
    verdict = "PASS" if report["pass"] else "FAIL"
    print(f"  target: >= {TARGET_RECORDS_PER_S:,} records/s through save_page: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
