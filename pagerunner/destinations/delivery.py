"""Deliveries: a query's records loaded into its destination from a durable function.

When a query that names a destination (`deliver`) completes, execute-query sends
`query/deliver.requested` from a step; the `deliver-query` function then loads
the query's records in its `load` step, which the engine retries with backoff
like any step (3 retries). A load is idempotent (databases merge on the record
key, files skip the keys they hold), so a retry, a re-run after a crash or a load
asked for again by hand (`again`: nothing is fetched from the provider) never
leaves a record twice. Loads into one destination run one at a time
(concurrency 1 keyed by the destination), as dlt's merge through a staging table
needs. Every load and attempt is a row of `pr_destination_loads`, shown on the
query's page.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import inngest
import structlog

from ..queries.loads import Load, LoadStore
from ..queries.model import Query, QueryError, QueryStatus, new_id
from ..queries.store import QueryStore
from ..settings import Settings
from .errors import DestinationError, LoadFailed
from .loader import DltLoader, Record
from .spec import DestinationSpec, parse

__all__ = [
    "DELIVER_EVENT",
    "DELIVER_FUNCTION_ID",
    "LoadConflict",
    "QueryDelivery",
    "create_deliver_function",
    "deliver_event",
]

log = structlog.get_logger("pagerunner.destinations")

DELIVER_EVENT = "query/deliver.requested"
DELIVER_FUNCTION_ID = "deliver-query"
#: Records per batch pulled from the store into dlt.
BATCH = 1000


class LoadConflict(QueryError):
    """The query cannot be loaded now."""


def deliver_event(query_id: str, load_id: str, destination_key: str) -> inngest.Event:
    """The event of one load; its id is the load's, so a re-sent event is the same load."""
    data = {"queryId": query_id, "loadId": load_id, "destinationKey": destination_key}
    return inngest.Event(name=DELIVER_EVENT, data=data, id=load_id)


class QueryDelivery:
    """Checks destinations of requests and loads queries into them (the step body)."""

    def __init__(self, store: QueryStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.loads = LoadStore(store.database)
        self.loader = DltLoader(
            pipelines_dir=settings.data_dir / "dlt",
            role="deliver",
            max_nesting=settings.max_table_nesting,
            environment=settings.environment,
        )

    def spec(self, text: str) -> DestinationSpec:
        """A destination of a request or a stored query: confined, checked with dlt.

        Raises `DestinationRefused` or `DltMissing`.
        """
        spec = parse(text, base_dir=self.settings.delivery_dir, confined=True)
        self.loader.check(spec)
        return spec

    def destination_key(self, query: Query) -> str:
        """What loads of this query's destination are serialised by."""
        assert query.deliver is not None
        try:
            return parse(query.deliver, base_dir=self.settings.delivery_dir, confined=True).key
        except DestinationError:  # refused now: the load step records why
            return hashlib.sha256(query.deliver.encode()).hexdigest()[:16]

    async def again(self, query_id: str) -> tuple[Load, inngest.Event]:
        """A new load of a query that is not running, and its event (for the caller to send)."""
        query = await self.store.get(query_id)
        if not query.deliver:
            raise LoadConflict(f"query {query_id} has no destination (deliver)")
        if query.status in (QueryStatus.PENDING, QueryStatus.RUNNING):
            raise LoadConflict(f"the query is {query.status}: it is loaded when it completes")
        load = await self.loads.queue(
            f"{query_id}.{new_id()}", query_id=query_id, destination=query.deliver
        )
        return load, deliver_event(query_id, load.id, self.destination_key(query))

    async def failed_to_send(self, load_id: str, error: str) -> None:
        """The load's event did not reach the engine: nothing will attempt it."""
        await self.loads.attempt_failed(load_id, f"not scheduled: {error}", final=True)

    async def load(self, load_id: str, query_id: str, last_attempt: bool) -> dict[str, Any]:
        """Load the query's records into its destination (the `load` step).

        A failed attempt is recorded and raised, so the engine retries the step; the
        last one records `failed`. A destination refused now (the settings changed)
        fails at once.
        """
        query = await self.store.get(query_id)
        load = await self.loads.queue(load_id, query_id=query_id, destination=query.deliver or "")
        if load.finished:  # this step ran before, up to the outcome: not again
            return _result(load)
        try:
            spec = self.spec(query.deliver or "")
        except DestinationError as exc:
            return _result(await self._failed(load_id, str(exc), final=True))
        await self.loads.attempt(load_id)
        log.info("load_starting", loadId=load_id, queryId=query_id, destination=spec.text)
        try:
            loaded = await self.loader.load(
                spec, query.source, _batches(self.store.iter_results(query_id, batch=BATCH))
            )
        except LoadFailed as exc:
            await self._failed(load_id, str(exc), final=last_attempt)
            raise
        log.info("load_done", loadId=load_id, queryId=query_id, records=loaded.records)
        return _result(await self.loads.loaded(load_id, loaded.records))

    async def _failed(self, load_id: str, error: str, *, final: bool) -> Load:
        log.warning("load_attempt_failed", loadId=load_id, error=error, final=final)
        return await self.loads.attempt_failed(load_id, error, final=final)


async def _batches(results: AsyncIterator[dict[str, Any]]) -> AsyncIterator[list[Record]]:
    batch: list[Record] = []
    async for result in results:
        batch.append(result)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _result(load: Load) -> dict[str, Any]:
    """The step's output: small, the destination as written (it holds no secret)."""
    return {
        "loadId": load.id,
        "status": load.status,
        "attempts": load.attempts,
        "records": load.records,
        "error": load.last_error,
    }


def create_deliver_function(
    client: inngest.Inngest, delivery: QueryDelivery, retries: int
) -> inngest.Function[Any]:
    """`deliver-query`: one `load` step, retried `retries` times, one load per destination."""

    @client.create_function(
        fn_id=DELIVER_FUNCTION_ID,
        name="Deliver query",
        trigger=inngest.TriggerEvent(event=DELIVER_EVENT),
        retries=retries,
        concurrency=[inngest.Concurrency(limit=1, key="event.data.destinationKey")],
    )
    async def deliver_query(ctx: inngest.Context) -> dict[str, Any]:
        data = ctx.event.data
        last = ctx.attempt >= retries
        try:
            return await ctx.step.run(
                "load", delivery.load, str(data["loadId"]), str(data["queryId"]), last
            )
        except inngest.StepError as err:  # retries spent: recorded failed by the last attempt
            return {"loadId": data["loadId"], "status": "failed", "error": err.message}

    return deliver_query
