"""Webhook deliveries: one row per call of a query's or a combo's webhook, with its attempts.

A delivery is claimed by the durable run that sends it before the first attempt,
so that two runs that both saw a combo finish send it once, and a step that runs
again (a retry, or a re-run after a crash) finds its own delivery and carries on.
Each attempt is counted before it leaves and its outcome written after, so a
crash in the middle of one still shows on the query's page. Nothing here sends
anything: `pagerunner.webhooks` does.
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
from .schema import webhook_deliveries as table
from .tablemap import TableMap

__all__ = ["Delivery", "DeliveryStore"]

SENDING = "sending"
RETRYING = "retrying"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One webhook call: which event of which query or combo, how its attempts went.

    `status` is `sending` (an attempt is in flight, or was when the process
    stopped), `retrying` (the last attempt failed; the step will try again),
    `delivered` (the receiver answered 2xx) or `failed` (no attempt is left, or the
    URL is refused). `id` is the body's `id`, the same on every attempt.
    """

    id: str
    query_id: str | None
    batch_id: str | None
    event: str
    run_id: str
    status: str
    attempts: int
    signed: bool
    response_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status in (DELIVERED, FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "signed": self.signed,
            "response_status": self.response_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_ROWS = TableMap(Delivery, table, text=scrub)


def _get(conn: Connection, delivery_id: str) -> Delivery | None:
    row = conn.execute(_ROWS.select.where(table.c.id == delivery_id)).first()
    return None if row is None else _ROWS.load(row)


def _claim(conn: Connection, delivery: Delivery) -> Delivery | None:
    insert = insert_for(conn.dialect.name, table)
    conn.execute(insert.values(_ROWS.values(delivery)).on_conflict_do_nothing())
    found = _get(conn, delivery.id)
    return found if found is not None and found.run_id == delivery.run_id else None


def _update(conn: Connection, delivery_id: str, **values: Any) -> Delivery:
    values = {k: scrub(v) if isinstance(v, str) else v for k, v in values.items()}
    conn.execute(table.update().where(table.c.id == delivery_id).values(**values))
    found = _get(conn, delivery_id)
    assert found is not None  # claimed before any attempt
    return found


def _attempt(conn: Connection, delivery_id: str) -> Delivery:
    current = _get(conn, delivery_id)
    assert current is not None
    return _update(
        conn, delivery_id, status=SENDING, attempts=current.attempts + 1, updated_at=utcnow()
    )


def _list(conn: Connection, column: str, owner_id: str, limit: int) -> list[Delivery]:
    rows = conn.execute(
        _ROWS.select.where(table.c[column] == owner_id)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    return [_ROWS.load(r) for r in rows]


class DeliveryStore:
    """Webhook deliveries in the query store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self,
        delivery_id: str,
        *,
        run_id: str,
        event: str,
        signed: bool,
        query_id: str | None = None,
        batch_id: str | None = None,
    ) -> Delivery | None:
        """The delivery `delivery_id`, created for run `run_id` unless it exists.

        None when another run claimed it first: that run sends it.
        """
        now = utcnow()
        new = Delivery(
            delivery_id, query_id, batch_id, event, run_id, SENDING, 0, signed, None, None, now, now
        )
        return await self._db.write(_claim, new)

    async def attempt(self, delivery_id: str) -> Delivery:
        """Count an attempt about to leave (before it leaves: a crash still shows it)."""
        return await self._db.write(_attempt, delivery_id)

    async def delivered(self, delivery_id: str, response_status: int) -> Delivery:
        return await self._db.write(
            _update,
            delivery_id,
            status=DELIVERED,
            response_status=response_status,
            last_error=None,
            updated_at=utcnow(),
        )

    async def attempt_failed(
        self, delivery_id: str, error: str, response_status: int | None, *, final: bool
    ) -> Delivery:
        """Record a failed attempt: `retrying`, or `failed` when no attempt is left."""
        return await self._db.write(
            _update,
            delivery_id,
            status=FAILED if final else RETRYING,
            response_status=response_status,
            last_error=error,
            updated_at=utcnow(),
        )

    async def for_query(self, query_id: str, limit: int = 20) -> list[Delivery]:
        """The query's own deliveries, newest first."""
        return await self._db.read(_list, "query_id", query_id, limit)

    async def for_batch(self, batch_id: str, limit: int = 20) -> list[Delivery]:
        """The combo's deliveries, newest first."""
        return await self._db.read(_list, "batch_id", batch_id, limit)
