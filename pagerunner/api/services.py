"""What the routes need, built once per app: store, sources, the Inngest client, metrics."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import inngest
import structlog

from ..destinations import DestinationError
from ..destinations.delivery import QueryDelivery
from ..functions import CANCEL_EVENT, PRIORITY_SINGLE_S, execute_event
from ..metrics import QueryMetrics
from ..queries.credentials import CredentialLimiter
from ..queries.loads import Load
from ..queries.model import Query
from ..queries.store import QueryStore
from ..settings import Settings
from ..sources.base import BadRequestError
from ..sources.registry import SourceRegistry
from ..webhooks import WebhookRefused, check_url

__all__ = ["SchedulingError", "Services"]

log = structlog.get_logger("pagerunner.api")

#: Tries of a background send to the engine before the query is left for the next start.
SCHEDULE_ATTEMPTS = 5
#: Events per request when many queries are scheduled at once (a combo): one request
#: each would put a thousand requests in the HTTP client's pool at once.
SCHEDULE_CHUNK = 100


class SchedulingError(Exception):
    """The engine did not accept the event; the query stays as it is."""


@dataclass
class Services:
    settings: Settings
    store: QueryStore
    sources: SourceRegistry
    client: inngest.Inngest
    metrics: QueryMetrics
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def check_webhook(self, url: str | None) -> str | None:
        """The webhook URL of a new query or combo, or None; `BadRequestError` naming
        `webhook` when it may not be called (the address is checked again at send time)."""
        if url is None or not url.strip():
            return None
        try:
            return check_url(url.strip(), allow_private=self.settings.webhook_allow_private)
        except WebhookRefused as exc:
            raise BadRequestError(f"webhook: {exc}") from exc

    @functools.cached_property
    def delivery(self) -> QueryDelivery:
        """Destinations of queries and combos: checked here, loaded by deliver-query."""
        return QueryDelivery(self.store, self.settings)

    def check_deliver(self, destination: str | None) -> str | None:
        """The destination spec of a new query or combo, or None; `BadRequestError` naming
        `deliver.destination` when it is malformed, not allowed, or dlt is missing."""
        if destination is None or not destination.strip():
            return None
        try:
            return self.delivery.spec(destination).text
        except DestinationError as exc:
            raise BadRequestError(f"deliver.destination: {exc}") from exc

    async def deliver(self, query_id: str) -> Load:
        """Load a query's stored records into its destination again (nothing is fetched)."""
        load, event = await self.delivery.again(query_id)
        try:
            await self.client.send(event)
        except Exception as exc:  # the SDK raises its own error types for transport failures
            await self.delivery.failed_to_send(load.id, str(exc))
            raise SchedulingError(
                f"the load of query {query_id} was not accepted by the engine ({exc}); try again"
            ) from exc
        return load

    def schedule_soon(self, queries: Sequence[Query], priority: int = PRIORITY_SINGLE_S) -> None:
        """Hand saved queries to the engine without making the caller wait for it.

        The send is retried a few times (what the engine got already, it ignores); a
        query the engine never got stays pending and is scheduled again when pagerunner
        starts.
        """
        task = asyncio.create_task(self._schedule_with_retries(queries, priority))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _schedule_with_retries(self, queries: Sequence[Query], priority: int) -> None:
        for attempt in range(SCHEDULE_ATTEMPTS):
            try:
                await self.schedule(*queries, priority=priority)
                return
            except SchedulingError:
                await asyncio.sleep(0.5 * 2**attempt)
        ids = [query.id for query in queries]
        log.error("queries_left_pending", queryIds=ids, attempts=SCHEDULE_ATTEMPTS)

    async def drain(self) -> None:
        """Wait for the sends still in flight (at shutdown)."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def schedule(self, *queries: Query, priority: int = PRIORITY_SINGLE_S) -> None:
        """Ask the engine to run the queries, `SCHEDULE_CHUNK` per request; the event ids
        make a re-send harmless.

        `priority` is the runs' priority factor: `PRIORITY_COMBO_S` for a combo's queries.
        """
        for start in range(0, len(queries), SCHEDULE_CHUNK):
            await self._send_execute(queries[start : start + SCHEDULE_CHUNK], priority)

    async def _send_execute(self, queries: Sequence[Query], priority: int) -> None:
        try:
            await self.client.send([execute_event(q.id, q.runs, priority) for q in queries])
        except Exception as exc:  # the SDK raises its own error types for transport failures
            ids = [q.id for q in queries]
            log.error("schedule_failed", queryIds=", ".join(ids), error=str(exc))
            named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            what = f"query {named} is" if len(ids) == 1 else f"queries {named} are"
            raise SchedulingError(
                f"{what} saved but the engine did not accept it ({exc}); "
                "it will be scheduled again when pagerunner restarts"
            ) from exc

    async def resume(self, query_id: str) -> Query:
        """Continue a query from its checkpoint, now: a back-off on its credential is lifted.

        A run still waiting to resume the query by itself (after a rate limit) is
        cancelled first, or the new run would queue behind it.
        """
        query = await self.store.resume(query_id)
        source = self.sources.get(query.source)
        await CredentialLimiter(self.store.database).unblock(source.credential_id)
        await self.stop_run(query, cancelled=False)
        await self.schedule(query)
        return query

    async def stop_run(self, query: Query, *, cancelled: bool = True) -> None:
        """Cancel the query's run; `cancelled`: the query itself was cancelled (which
        may end its combo: the `query-cancelled` function then calls the combo's webhook)."""
        data: dict[str, str | bool] = {"queryId": query.id, "cancelled": cancelled}
        try:
            await self.client.send(inngest.Event(name=CANCEL_EVENT, data=data))
        except Exception as exc:
            log.warning("cancel_event_failed", queryId=query.id, error=str(exc))

    async def reschedule_pending(self) -> int:
        """Re-send the event of every pending query (after a crash between save and send)."""
        count = 0
        offset = 0
        while True:
            queries, _ = await self.store.list(status="pending", limit=200, offset=offset)
            for query in queries:
                try:
                    await self.schedule(query)
                    count += 1
                except SchedulingError:
                    return count
            if len(queries) < 200:
                return count
            offset += 200
