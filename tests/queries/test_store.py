"""QueryStore on a real database (SQLite file; PostgreSQL when a server is available)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pagerunner.queries.model import (
    InvalidTransition,
    PageOutOfOrder,
    QueryNotFound,
    QueryNotRunning,
    QueryStatus,
    StoreError,
)
from pagerunner.queries.store import QueryStore
from pagerunner.sources.base import Checkpoint

from .conftest import make_page

S = QueryStatus


async def _running(store: QueryStore, source: str = "demo", **kwargs: int) -> str:
    query = await store.create(source, {"q": "pizza"}, **kwargs)
    await store.start(query.id, "run-1")
    return query.id


async def test_create_get_and_round_trip(store: QueryStore) -> None:
    created = await store.create("demo", {"q": "pizza", "nested": {"a": [1, 2]}}, max_pages=5)
    assert created.status is S.PENDING and created.runs == 1
    fetched = await store.get(created.id)
    assert fetched == created
    assert fetched.created_at.tzinfo is not None


async def test_get_unknown_query(store: QueryStore) -> None:
    with pytest.raises(QueryNotFound, match="query nope does not exist"):
        await store.get("nope")
    with pytest.raises(QueryNotFound):
        await store.start("nope")
    with pytest.raises(QueryNotFound):
        await store.results("nope")


async def test_list_newest_first_with_filters_and_paging(store: QueryStore) -> None:
    made = [await store.create("a" if i % 2 else "b", {"i": i}) for i in range(7)]
    await store.start(made[0].id)
    await store.cancel(made[1].id)
    items, total = await store.list()
    assert total == 7 and [q.id for q in items] == [q.id for q in reversed(made)]
    page, total = await store.list(limit=3, offset=3)
    assert total == 7 and [q.id for q in page] == [made[3].id, made[2].id, made[1].id]
    only_a, total_a = await store.list(source="a")
    assert total_a == 3 and {q.source for q in only_a} == {"a"}
    pending, total_pending = await store.list(status=S.PENDING)
    assert total_pending == 5 and all(q.status is S.PENDING for q in pending)
    running, _ = await store.list(status="running", source="b")
    assert [q.id for q in running] == [made[0].id]
    assert await store.list(status=S.RUNNING, source="a") == ([], 0)


async def test_lifecycle_through_the_store(store: QueryStore) -> None:
    query_id = await _running(store)
    query = await store.get(query_id)
    assert query.status is S.RUNNING and query.run_id == "run-1" and query.started_at
    assert await store.start(query_id, "run-1") == query  # the step re-ran
    assert (await store.start(query_id, "run-2")).run_id == "run-1"  # not its run
    paused = await store.pause(query_id, "rate limited", "retry after 3600 s")
    assert (paused.status, paused.pause_reason, paused.resume_hint) == (
        S.PAUSED,
        "rate limited",
        "retry after 3600 s",
    )
    resumed = await store.resume(query_id)
    assert resumed.status is S.PENDING and resumed.runs == 2 and resumed.pause_reason is None
    await store.start(query_id, "run-2")
    failed = await store.fail(query_id, "invalid_credentials", "bad key")
    assert failed.status is S.FAILED and failed.finished_at is not None
    assert (await store.get(query_id)).error_message == "bad key"
    await store.resume(query_id)
    await store.start(query_id)
    done = await store.complete(query_id)
    assert done.status is S.COMPLETED and done.runs == 3
    with pytest.raises(InvalidTransition, match="cannot resume a completed query"):
        await store.resume(query_id)
    with pytest.raises(InvalidTransition, match="cannot cancel a completed query"):
        await store.cancel(query_id)
    assert (await store.get(query_id)).status is S.COMPLETED


async def test_a_hand_over_moves_the_query_and_its_pages_to_the_next_run(
    store: QueryStore,
) -> None:
    query_id = await _running(store)  # owned by run-1
    await store.save_page(query_id, 1, make_page(["a"], next_page=2), cursor_in=None, duration_ms=1)
    assert (await store.continue_run(query_id, "run-0", "run-9")).run_id == "run-1"  # stray
    taken = await store.continue_run(query_id, "run-1", "run-2")
    assert taken.status is S.RUNNING and taken.run_id == "run-2"
    assert await store.continue_run(query_id, "run-1", "run-2") == taken  # the step re-ran
    await store.save_page(query_id, 2, make_page(["b"], next_page=3), cursor_in=None, duration_ms=1)
    assert [(p.page_number, p.run_id) for p in await store.pages(query_id)] == [
        (1, "run-1"),
        (2, "run-2"),
    ]
    await store.request_pause(query_id)
    paused = await store.continue_run(query_id, "run-2", "run-3")
    assert paused.status is S.PAUSED and paused.run_id == "run-2"


async def test_request_pause(store: QueryStore) -> None:
    pending = await store.create("demo", {})
    paused_now = await store.request_pause(pending.id)
    assert paused_now.status is S.PAUSED and paused_now.pause_reason == "requested"
    with pytest.raises(InvalidTransition, match="cannot pause a paused query"):
        await store.request_pause(pending.id)

    query_id = await _running(store)
    asked = await store.request_pause(query_id)
    assert asked.status is S.RUNNING and asked.pause_requested
    saved = await store.save_page(
        query_id, 1, make_page(["a"], next_page=2), cursor_in=None, duration_ms=3
    )
    assert saved.query.pause_requested  # the loop sees it after the page
    paused = await store.pause(query_id, "requested")
    assert paused.status is S.PAUSED and not paused.pause_requested
    resumed = await store.resume(query_id)
    assert not resumed.pause_requested and resumed.checkpoint == Checkpoint(page=2)
    await store.cancel(query_id)
    with pytest.raises(InvalidTransition, match="cannot pause a cancelled query"):
        await store.request_pause(query_id)


async def test_save_page_counts_and_moves_the_checkpoint(store: QueryStore) -> None:
    query_id = await _running(store)
    first = await store.save_page(
        query_id,
        1,
        make_page(["a", "b", "c"], next_page=2, cursor="c2"),
        cursor_in=None,
        duration_ms=12,
    )
    assert (first.page_number, first.records, first.inserted, first.has_more) == (1, 3, 3, True)
    assert first.next_checkpoint == Checkpoint(page=2, cursor="c2") and not first.replayed
    assert first.query.checkpoint == Checkpoint(page=2, cursor="c2")
    last = await store.save_page(
        query_id, 2, make_page(["c", "d"], next_page=None), cursor_in="c2", duration_ms=8
    )
    assert (last.records, last.inserted, last.has_more, last.next_checkpoint) == (2, 1, False, None)
    query = await store.get(query_id)
    assert (query.pages_fetched, query.records_fetched, query.records_inserted) == (2, 5, 4)
    assert query.exhausted and query.checkpoint == Checkpoint(page=3)
    logs = await store.pages(query_id)
    assert [
        (p.page_number, p.cursor_in, p.cursor_out, p.records, p.inserted, p.has_more) for p in logs
    ] == [(1, None, "c2", 3, 3, True), (2, "c2", None, 2, 1, False)]
    assert logs[0].duration_ms == 12 and logs[0].http_status == 200
    assert logs[0].fetched_at.tzinfo is not None
    results, total = await store.results(query_id, limit=10, offset=0)
    assert total == 4  # "c" is one record, linked once, at its first page
    assert [(r["key"], r["page"]) for r in results] == [("a", 1), ("b", 1), ("c", 1), ("d", 2)]
    assert results[0]["data"] == {"key": "a", "tag": "", "n": 0}


async def test_a_page_larger_than_one_insert_statement_keeps_every_record_in_order(
    store: QueryStore,
) -> None:
    """250 records (one repeated) take three statements per table; a second query seeing
    some of them again links them without storing them twice."""
    first, second = await _running(store), await _running(store)
    keys = [f"k{i:03d}" for i in range(250)]
    saved = await store.save_page(
        first, 1, make_page([*keys, "k007"], next_page=None), cursor_in=None, duration_ms=1
    )
    assert (saved.records, saved.inserted) == (251, 250)
    results, total = await store.results(first, limit=1000)
    assert total == 250
    assert [(r["key"], r["data"]["n"]) for r in results] == [(k, i) for i, k in enumerate(keys)]
    again = await store.save_page(
        second, 1, make_page([*keys[120:], "new"], next_page=None), cursor_in=None, duration_ms=1
    )
    assert (again.records, again.inserted) == (131, 1)
    assert [r["key"] for r in (await store.results(second, limit=1000))[0]] == [*keys[120:], "new"]


async def test_save_page_twice_is_a_no_op(store: QueryStore) -> None:
    query_id = await _running(store)
    page = make_page(["a", "b"], next_page=2, cursor="x")
    first = await store.save_page(query_id, 1, page, cursor_in=None, duration_ms=5)
    again = await store.save_page(query_id, 1, page, cursor_in=None, duration_ms=99)
    assert again.replayed and not first.replayed
    assert (again.records, again.inserted, again.has_more, again.next_checkpoint) == (
        first.records,
        first.inserted,
        first.has_more,
        first.next_checkpoint,
    )
    assert again.query == first.query == await store.get(query_id)
    assert [p.duration_ms for p in await store.pages(query_id)] == [5]
    # The last page replays too, and a replay is answered even after the query stopped.
    await store.save_page(
        query_id, 2, make_page(["c"], next_page=None), cursor_in="x", duration_ms=1
    )
    await store.complete(query_id)
    replay = await store.save_page(
        query_id, 2, make_page(["c"], next_page=None), cursor_in="x", duration_ms=1
    )
    assert replay.replayed and not replay.has_more and replay.next_checkpoint is None
    query = await store.get(query_id)
    assert (query.pages_fetched, query.records_fetched, query.records_inserted) == (2, 3, 3)


async def test_pages_out_of_order_or_for_stopped_queries_are_refused(store: QueryStore) -> None:
    query_id = await _running(store)
    with pytest.raises(PageOutOfOrder):
        await store.save_page(
            query_id, 2, make_page(["a"], next_page=3), cursor_in=None, duration_ms=1
        )
    await store.cancel(query_id)
    with pytest.raises(QueryNotRunning):
        await store.save_page(
            query_id, 1, make_page(["a"], next_page=2), cursor_in=None, duration_ms=1
        )
    query = await store.get(query_id)
    assert query.pages_fetched == 0 and query.checkpoint == Checkpoint(page=1)
    assert await store.results(query_id) == ([], 0)


async def test_max_pages_ends_the_query(store: QueryStore) -> None:
    query_id = await _running(store, max_pages=1)
    saved = await store.save_page(
        query_id, 1, make_page(["a"], next_page=2, cursor="n"), cursor_in=None, duration_ms=1
    )
    assert not saved.has_more and saved.next_checkpoint is None
    assert saved.query.exhausted and saved.query.checkpoint == Checkpoint(page=2, cursor="n")
    stored = await store.get(query_id)
    assert stored.note == "stopped at the page cap of 1; the source had more pages"
    assert (await store.complete(query_id)).note == stored.note


async def test_start_caps_a_query_saved_without_a_cap(store: QueryStore) -> None:
    legacy = await store.create("demo", {"q": "pizza"})
    assert (await store.start(legacy.id, "run-1", page_cap=40)).max_pages == 40
    assert (await store.get(legacy.id)).max_pages == 40
    capped = await store.create("demo", {"q": "pizza"}, max_pages=2)
    assert (await store.start(capped.id, "run-2", page_cap=40)).max_pages == 2


async def test_records_dedupe_across_queries_of_a_source(store: QueryStore) -> None:
    one = await _running(store, "places")
    two = await _running(store, "places")
    other = await _running(store, "github")
    a = await store.save_page(
        one,
        1,
        make_page(["k1", "k2", "k3"], next_page=None, tag="one"),
        cursor_in=None,
        duration_ms=1,
    )
    b = await store.save_page(
        two,
        1,
        make_page(["k2", "k3", "k4"], next_page=None, tag="two"),
        cursor_in=None,
        duration_ms=1,
    )
    c = await store.save_page(
        other, 1, make_page(["k1", "k2"], next_page=None, tag="gh"), cursor_in=None, duration_ms=1
    )
    assert (a.inserted, b.inserted, c.inserted) == (3, 1, 2)
    assert (await store.get(two)).records_inserted == 1
    assert (await store.get(two)).records_fetched == 3
    two_results, total = await store.results(two)
    assert total == 3 and [r["key"] for r in two_results] == ["k2", "k3", "k4"]
    # A record is stored once, with the data of the first query that saw it.
    assert [r["data"]["tag"] for r in two_results] == ["one", "one", "two"]
    github, _ = await store.results(other)
    assert [r["data"]["tag"] for r in github] == ["gh", "gh"]


async def test_duplicate_keys_within_a_page(store: QueryStore) -> None:
    query_id = await _running(store)
    saved = await store.save_page(
        query_id, 1, make_page(["a", "b", "a"], next_page=None), cursor_in=None, duration_ms=1
    )
    assert (saved.records, saved.inserted) == (3, 2)
    results, total = await store.results(query_id)
    assert total == 2 and [r["key"] for r in results] == ["a", "b"]


async def test_resume_continues_where_it_stopped(store: QueryStore) -> None:
    query_id = await _running(store)
    await store.save_page(
        query_id, 1, make_page(["a", "b"], next_page=2, cursor="p2"), cursor_in=None, duration_ms=1
    )
    await store.fail(query_id, "transient_error", "timed out")
    resumed = await store.resume(query_id)
    assert resumed.checkpoint == Checkpoint(page=2, cursor="p2")
    assert (resumed.pages_fetched, resumed.records_fetched, resumed.records_inserted) == (1, 2, 2)
    restarted = await store.start(query_id, "run-2")
    assert restarted.checkpoint.page == 2 and restarted.run_id == "run-2"
    saved = await store.save_page(
        query_id, 2, make_page(["b", "c"], next_page=None), cursor_in="p2", duration_ms=1
    )
    assert saved.query.pages_fetched == 2 and saved.query.records_inserted == 3
    results, total = await store.results(query_id)
    assert total == 3 and [(r["key"], r["page"]) for r in results] == [
        ("a", 1),
        ("b", 1),
        ("c", 2),
    ]


async def test_results_paging(store: QueryStore) -> None:
    query_id = await _running(store)
    await store.save_page(
        query_id,
        1,
        make_page([f"k{i:02}" for i in range(30)], next_page=None),
        cursor_in=None,
        duration_ms=1,
    )
    middle, total = await store.results(query_id, limit=5, offset=10)
    assert total == 30 and [r["key"] for r in middle] == [f"k{i:02}" for i in range(10, 15)]


async def test_iter_results_streams_every_record_in_order(store: QueryStore) -> None:
    query_id = await _running(store)
    pages = 5
    for n in range(1, pages + 1):
        # Keys that do not sort like their positions: order must come from page/position.
        keys = [f"{(n * 7919 + i * 104729) % 1000003:07}" for i in range(60)]
        await store.save_page(
            query_id,
            n,
            make_page(keys, next_page=n + 1 if n < pages else None),
            cursor_in=None,
            duration_ms=1,
        )
    expected, total = await store.results(query_id, limit=1000)
    assert total == 300
    streamed = [r async for r in store.iter_results(query_id, batch=7)]
    assert streamed == expected
    assert [r async for r in store.iter_results(query_id, batch=300)] == expected
    assert [r async for r in store.iter_results(query_id, batch=1000)] == expected
    empty = await store.create("demo", {})
    assert [r async for r in store.iter_results(empty.id)] == []
    with pytest.raises(QueryNotFound):
        async for _ in store.iter_results("nope"):
            pass


async def test_concurrent_pages_of_one_source_do_not_lose_records(store: QueryStore) -> None:
    ids = [await _running(store, "shared") for _ in range(4)]
    keys = [f"r{i}" for i in range(200)]

    async def run(query_id: str, offset: int) -> int:
        total = 0
        for n in range(1, 5):
            chunk = keys[(offset + n * 37) % 150 :][:50]
            saved = await store.save_page(
                query_id, n, make_page(chunk, next_page=n + 1), cursor_in=None, duration_ms=1
            )
            total += saved.inserted
        return total

    inserted = await asyncio.gather(*(run(q, i * 11) for i, q in enumerate(ids)))
    seen = set()
    for query_id in ids:
        seen |= {r["key"] async for r in store.iter_results(query_id)}
    assert sum(inserted) == len(seen)


async def test_database_errors_become_store_errors() -> None:
    store = QueryStore("sqlite:////nonexistent-dir/x/queries.db")
    try:
        with pytest.raises(StoreError, match="database error"):
            await store.create("demo", {})
    finally:
        await store.close()


async def test_missing_tables_are_a_store_error(tmp_path: Path) -> None:
    store = QueryStore(str(tmp_path / "empty.db"))
    try:
        with pytest.raises(StoreError, match="no such table"):
            await store.get("x")
    finally:
        await store.close()
