"""One rate limit and one budget per credential, shared by every query that uses it.

Twenty queries on one API key must together stay within that key's limit, in
one process or many (the state is in the database). Two mechanisms, both per
credential:

* **Reservation** (`reserve`): each page takes the next free slot, spaced by the
  credential's minimum interval; the durable function sleeps until its slot, so a
  waiting query holds no worker.
* **Claim** (`claim`), right before the request is sent: the last request must be
  at least one interval ago (slots can drift when calls start late) and the
  day's and month's budgets must not be spent; the request is then counted.

`block` makes every query on the credential wait (after a 429, or when the
provider's headers say the window is exhausted); `observe` reads those headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from ..sqlstore import Database
from .model import QueryError
from .schema import credentials, usage

__all__ = ["BudgetExceeded", "CredentialLimiter", "CredentialUsage"]

#: Claims wait in-process up to this long; beyond it the page step asks for a durable wait.
MAX_CLAIM_WAIT_S = 2.0
#: Spacing margin at send time, so jitter on the way to the provider cannot bunch requests.
SEND_MARGIN = 1.04


class BudgetExceeded(QueryError):
    """The credential's request budget is used up."""

    code = "quota_exceeded"


@dataclass(frozen=True)
class CredentialUsage:
    credential_id: str
    requests_today: int
    requests_this_month: int
    blocked_until: float | None
    block_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "credential": self.credential_id,
            "requests_today": self.requests_today,
            "requests_this_month": self.requests_this_month,
            "blocked_until": _iso(self.blocked_until),
            "block_reason": self.block_reason,
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _periods(now: float) -> tuple[str, str]:
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    return day, day[:7]


def _row(conn: Connection, credential_id: str) -> Any:
    query = select(credentials).where(credentials.c.credential_id == credential_id)
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        conn.execute(
            credentials.insert().values(
                credential_id=credential_id,
                next_slot_at=0.0,
                last_sent_at=0.0,
                blocked_until=0.0,
            )
        )
        row = conn.execute(query).first()
    return row


def _update(conn: Connection, credential_id: str, **values: Any) -> None:
    conn.execute(
        credentials.update().where(credentials.c.credential_id == credential_id).values(**values)
    )


def _reserve(conn: Connection, credential_id: str, interval_s: float, now: float) -> float:
    row = _row(conn, credential_id)
    slot = max(row.next_slot_at, row.blocked_until, now)
    if interval_s > 0 or slot > row.next_slot_at:
        _update(conn, credential_id, next_slot_at=slot + interval_s)
    return float(slot)


def _used(conn: Connection, credential_id: str, period: str) -> int:
    value = conn.execute(
        select(usage.c.requests).where(
            usage.c.credential_id == credential_id, usage.c.period == period
        )
    ).scalar_one_or_none()
    return int(value or 0)


def _count(conn: Connection, credential_id: str, period: str) -> None:
    used = _used(conn, credential_id, period)
    if used == 0:
        conn.execute(usage.insert().values(credential_id=credential_id, period=period, requests=1))
    else:
        conn.execute(
            usage.update()
            .where(usage.c.credential_id == credential_id, usage.c.period == period)
            .values(requests=used + 1)
        )


def _claim(
    conn: Connection,
    credential_id: str,
    interval_s: float,
    budgets: tuple[int | None, int | None],
) -> float:
    """0 when the request may go now (and it is counted), else seconds to wait."""
    row = _row(conn, credential_id)
    # The time is read inside the transaction, not before it waited for the writer:
    # the recorded send time must be when the request really leaves.
    now = time.time()
    earliest = max(row.last_sent_at + interval_s * SEND_MARGIN, row.blocked_until)
    if earliest > now:
        return float(earliest - now)
    day, month = _periods(now)
    for budget, period, label in ((budgets[0], day, "daily"), (budgets[1], month, "monthly")):
        if budget is not None and _used(conn, credential_id, period) >= budget:
            raise BudgetExceeded(
                f"the {label} budget of {budget} requests for {credential_id} is used up; "
                "raise it in the source's limits or wait for the next period"
            )
    _update(conn, credential_id, last_sent_at=now, next_slot_at=max(row.next_slot_at, now))
    _count(conn, credential_id, day)
    _count(conn, credential_id, month)
    return 0.0


def _block(conn: Connection, credential_id: str, until: float, reason: str) -> None:
    row = _row(conn, credential_id)
    if until > row.blocked_until:
        _update(
            conn,
            credential_id,
            blocked_until=until,
            block_reason=reason,
            next_slot_at=max(row.next_slot_at, until),
        )


def _unblock(conn: Connection, credential_id: str) -> None:
    row = _row(conn, credential_id)
    now = time.time()
    if row.blocked_until > now:
        _update(
            conn,
            credential_id,
            blocked_until=0.0,
            block_reason=None,
            next_slot_at=min(row.next_slot_at, now),
        )


def _usage(conn: Connection, now: float) -> list[CredentialUsage]:
    day, month = _periods(now)
    rows = conn.execute(select(credentials).order_by(credentials.c.credential_id)).all()
    return [
        CredentialUsage(
            credential_id=r.credential_id,
            requests_today=_used(conn, r.credential_id, day),
            requests_this_month=_used(conn, r.credential_id, month),
            blocked_until=r.blocked_until if r.blocked_until > now else None,
            block_reason=r.block_reason if r.blocked_until > now else None,
        )
        for r in rows
    ]


class CredentialLimiter:
    """Shared slots, back-off and budgets per credential, kept in the query store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, credential_id: str, interval_s: float) -> float:
        """The start (epoch seconds) of this page's slot; later pages get later slots."""
        return await self._db.write(_reserve, credential_id, interval_s, time.time())

    async def claim(
        self,
        credential_id: str,
        interval_s: float,
        *,
        daily_budget: int | None = None,
        monthly_budget: int | None = None,
    ) -> float:
        """Wait (briefly) until a request may be sent, and count it.

        Returns 0 once counted, or the seconds still to wait when that is longer
        than `MAX_CLAIM_WAIT_S` (the caller then waits durably). Raises
        `BudgetExceeded` when a budget is spent.
        """
        while True:
            wait = await self._db.write(
                _claim, credential_id, interval_s, (daily_budget, monthly_budget)
            )
            if wait <= 0 or wait > MAX_CLAIM_WAIT_S:
                return wait
            await asyncio.sleep(wait)

    async def block(self, credential_id: str, until: float, reason: str) -> None:
        """Every query on this credential waits until `until` (epoch seconds)."""
        await self._db.write(_block, credential_id, until, reason)

    async def unblock(self, credential_id: str) -> None:
        """Lift a back-off early (a user resumed a query: they want it tried now)."""
        await self._db.write(_unblock, credential_id)

    async def observe(
        self, credential_id: str, remaining: int | None, reset_at: float | None
    ) -> None:
        """Provider headers said the window is spent: wait for its reset."""
        if remaining is not None and remaining <= 0 and reset_at is not None:
            await self.block(credential_id, reset_at, "the provider's rate-limit window is spent")

    async def usage(self) -> Sequence[CredentialUsage]:
        return await self._db.read(_usage, time.time())
