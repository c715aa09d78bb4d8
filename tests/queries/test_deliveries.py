"""Webhook deliveries on SQLite and PostgreSQL: one claim per delivery, attempts counted."""

from __future__ import annotations

import asyncio

from pagerunner.queries.batches import BatchStore
from pagerunner.queries.deliveries import DeliveryStore
from pagerunner.queries.store import QueryStore


async def test_a_delivery_is_claimed_by_one_run_and_counts_its_attempts(store: QueryStore) -> None:
    deliveries = DeliveryStore(store.database)
    query = await store.create("demo", {"q": "x"}, webhook="https://example.com/h")
    assert (await store.get(query.id)).webhook == "https://example.com/h"
    claims = await asyncio.gather(
        *(
            deliveries.claim("d1", run_id=run, event="combo.finished", signed=True, batch_id="b")
            for run in ("run-a", "run-b", "run-c")
        )
    )
    owners = [c for c in claims if c is not None]
    assert len(owners) == 1  # the others leave it to the run that claimed it
    owner = owners[0].run_id
    again = await deliveries.claim(
        "d1", run_id=owner, event="combo.finished", signed=True, batch_id="b"
    )
    assert again is not None and again.attempts == 0  # a retry of the claiming step
    await deliveries.attempt("d1")
    failed = await deliveries.attempt_failed("d1", "answered 500", 500, final=False)
    assert (failed.status, failed.attempts, failed.finished) == ("retrying", 1, False)
    await deliveries.attempt("d1")
    done = await deliveries.delivered("d1", 204)
    assert (done.status, done.attempts, done.response_status, done.last_error) == (
        "delivered",
        2,
        204,
        None,
    )
    assert done.finished
    assert [d.id for d in await deliveries.for_batch("b")] == ["d1"]
    assert await deliveries.for_query(query.id) == []


async def test_a_combo_keeps_its_webhook_and_counts_its_unfinished_queries(
    store: QueryStore,
) -> None:
    batches = BatchStore(store.database)
    batch, created = await batches.create(
        "demo", {"q": ["a", "b"]}, [{"q": "a"}, {"q": "b"}], webhook="https://example.com/c"
    )
    assert (await batches.get(batch.id)).webhook == "https://example.com/c"
    assert all(q.webhook is None for q in created)  # the combo calls it, not each query
    assert await batches.unfinished(batch.id) == 2
    for query in created:
        await store.start(query.id, "run")
        await store.complete(query.id)
    assert await batches.unfinished(batch.id) == 0
    summary = await batches.summary(batch.id)
    assert summary["webhook"] == "https://example.com/c" and summary["runs"] == 2
