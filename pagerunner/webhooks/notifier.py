"""The webhook step bodies of execute-query: build the body, claim the delivery, send it.

A query's webhook is called for each completion, failure or pause of one of its
runs: the delivery id is `<query id>.<run id>`, the same on every attempt and
after a restart, so a receiver dedupes by it. A combo's webhook is called once
the whole combo has finished (none of its queries pending or running), by the
run of whichever query finished last; its delivery id is `<combo id>.<runs>`,
where `runs` counts the runs of all its queries, so two queries finishing at
once send it once, and a combo that finishes again after a resume is a new call.

A failed attempt raises `DeliveryFailed`, so the engine retries the step with
backoff; the last attempt records `failed`. A refused address or a redirect is
recorded `failed` at once and not retried.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from ..queries.batches import BatchStore
from ..queries.deliveries import DELIVERED, Delivery, DeliveryStore
from ..queries.model import Query
from ..queries.store import QueryStore
from ..settings import Settings
from .address import WebhookError, WebhookRefused
from .sender import DeliveryFailed, WebhookSender
from .signature import SIGNATURE_HEADER, sign

__all__ = ["DELIVERY_HEADER", "EVENT_HEADER", "WebhookNotifier", "combo_body", "query_body"]

log = structlog.get_logger("pagerunner.webhooks")

DELIVERY_HEADER = "X-Pagerunner-Delivery"
EVENT_HEADER = "X-Pagerunner-Event"
USER_AGENT = "pagerunner-webhooks/0.1"

_QUERY_FIELDS = (
    "id",
    "source",
    "params",
    "status",
    "pages_fetched",
    "records_fetched",
    "records_inserted",
    "max_pages",
    "note",
    "error_code",
    "error_message",
    "pause_reason",
    "resume_hint",
    "runs",
    "run_id",
    "created_at",
    "started_at",
    "finished_at",
)
_COMBO_FIELDS = (
    "id",
    "source",
    "params",
    "status",
    "by_status",
    "query_count",
    "pages_fetched",
    "records_fetched",
    "records_inserted",
    "distinct_records",
    "created_at",
)
_MEMBER_FIELDS = ("id", "status", "records_inserted", "error_message", "pause_reason")


def query_body(delivery_id: str, event: str, query: Query, origin: str) -> dict[str, Any]:
    """What a query's webhook receives: the event, the query now, links to its results."""
    data = query.to_json()
    api = f"{origin}/api/queries/{query.id}"
    return {
        "id": delivery_id,
        "type": event,
        "query": {k: data[k] for k in _QUERY_FIELDS},
        "links": {
            "page": f"{origin}/queries/{query.id}",
            "api": api,
            "results": f"{api}/results",
            "csv": f"{api}/results?format=csv",
            "ndjson": f"{api}/results?format=ndjson",
        },
    }


def combo_body(delivery_id: str, summary: dict[str, Any], origin: str) -> dict[str, Any]:
    """What a combo's webhook receives: the combo's totals, each query's outcome, links."""
    api = f"{origin}/api/combos/{summary['id']}"
    return {
        "id": delivery_id,
        "type": "combo.finished",
        "combo": {
            **{k: summary[k] for k in _COMBO_FIELDS},
            "queries": [{k: q[k] for k in _MEMBER_FIELDS} for q in summary["queries"]],
        },
        "links": {
            "page": f"{origin}/combos/{summary['id']}",
            "api": api,
            "results": f"{api}/results",
        },
    }


class WebhookNotifier:
    """Delivers the webhooks of queries and combos from execute-query's steps."""

    def __init__(
        self, store: QueryStore, settings: Settings, sender: WebhookSender | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.deliveries = DeliveryStore(store.database)
        self.batches = BatchStore(store.database)
        self.sender = sender or WebhookSender(
            timeout_s=settings.webhook_timeout_s, allow_private=settings.webhook_allow_private
        )

    async def targets(self, query: Query) -> dict[str, bool]:
        """Which webhooks a run of `query` may call: its own, its combo's."""
        batch_id = await self.batches.batch_of(query.id)
        combo = batch_id is not None and bool((await self.batches.get(batch_id)).webhook)
        return {"webhook": bool(query.webhook), "comboWebhook": combo}

    async def query_event(
        self, query_id: str, status: str, run_id: str, last_attempt: bool
    ) -> dict[str, Any]:
        """Call the query's webhook for `status` (completed, failed, paused) of run `run_id`."""
        query = await self.store.get(query_id)
        if not query.webhook:
            return {"sent": False}
        delivery_id = f"{query_id}.{run_id}"
        event = f"query.{status}"
        body = query_body(delivery_id, event, query, self.settings.public_origin)
        target = {"query_id": query_id}
        return await self._deliver(
            query.webhook, delivery_id, event, body, run_id, last_attempt, target
        )

    async def combo_event_after_cancel(
        self, query_id: str, run_id: str, last_attempt: bool
    ) -> dict[str, Any]:
        """`combo_event` for a query just cancelled, which may have been the last of its
        combo to end. A combo whose queries were all cancelled (the user cancelled the
        combo) calls no webhook, as a cancelled query calls none."""
        return await self.combo_event(query_id, run_id, last_attempt, cancelled=True)

    async def combo_event(
        self, query_id: str, run_id: str, last_attempt: bool, *, cancelled: bool = False
    ) -> dict[str, Any]:
        """Call the combo's webhook if the combo of `query_id` has just finished."""
        batch_id = await self.batches.batch_of(query_id)
        if batch_id is None:
            return {"sent": False}
        batch = await self.batches.get(batch_id)
        if not batch.webhook or await self.batches.unfinished(batch_id):
            return {"sent": False}
        summary = await self.batches.summary(batch_id)
        if cancelled and set(summary["by_status"]) == {"cancelled"}:
            return {"sent": False}
        delivery_id = f"{batch_id}.{summary['runs']}"
        body = combo_body(delivery_id, summary, self.settings.public_origin)
        target = {"batch_id": batch_id}
        return await self._deliver(
            batch.webhook, delivery_id, "combo.finished", body, run_id, last_attempt, target
        )

    async def _deliver(
        self,
        url: str,
        delivery_id: str,
        event: str,
        body: dict[str, Any],
        run_id: str,
        last_attempt: bool,
        target: dict[str, str],
    ) -> dict[str, Any]:
        secret = self.settings.webhook_signing_secret
        delivery = await self.deliveries.claim(
            delivery_id, run_id=run_id, event=event, signed=secret is not None, **target
        )
        if delivery is None:  # another query's run finished the combo at the same time
            return {"sent": False, "deliveryId": delivery_id, "sentBy": "another run"}
        if delivery.finished:  # this step ran before, up to the outcome: not again
            return _result(delivery)
        await self.deliveries.attempt(delivery_id)
        data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: event,
        }
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, data)
        try:
            status = await self.sender.send(url, data, headers)
        except WebhookRefused as exc:
            return _result(await self._failed(delivery_id, str(exc), None, final=True))
        except DeliveryFailed as exc:
            final = last_attempt or not exc.retriable
            recorded = await self._failed(delivery_id, str(exc), exc.response_status, final=final)
            if not exc.retriable:
                return _result(recorded)
            raise  # the engine retries the step with backoff; the last attempt ends it
        except WebhookError as exc:  # the name did not resolve: maybe later
            await self._failed(delivery_id, str(exc), None, final=last_attempt)
            raise DeliveryFailed(str(exc)) from exc
        log.info("webhook_delivered", deliveryId=delivery_id, webhookEvent=event, status=status)
        return _result(await self.deliveries.delivered(delivery_id, status))

    async def _failed(
        self, delivery_id: str, error: str, response_status: int | None, *, final: bool
    ) -> Delivery:
        log.warning("webhook_attempt_failed", deliveryId=delivery_id, error=error, final=final)
        return await self.deliveries.attempt_failed(
            delivery_id, error, response_status, final=final
        )


def _result(delivery: Delivery) -> dict[str, Any]:
    """The step's output: small, and without the URL (it may hold a token in its path)."""
    return {
        "sent": delivery.status == DELIVERED,
        "deliveryId": delivery.id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "responseStatus": delivery.response_status,
        "error": delivery.last_error,
    }
