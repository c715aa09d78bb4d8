"""One rate limit and one budget per credential, shared by every query that uses it.

Twenty queries on one API key must together stay within that key's limit, in
one process or many (the state is in the database). Two mechanisms, both per
credential:

* **Reservation** (`reserve`): each page takes the next free slot, spaced so the
  credential's windows are never full; the durable function sleeps until its
  slot, so a waiting query holds no worker.
* **Claim** (`claim`), right before the request is sent: checked against the
  credential's recent sends (`sent_log`), at most N in any window of the limit
  (plus a small margin for the jitter on the way to the provider), and against
  the day's and month's budgets; the request is then logged and counted. Because
  the check is a window of the last N sends, as at the provider, a request that
  left late lets the next ones go sooner instead of losing that time for good.

`block` makes every query on the credential wait (after a 429, or when the
provider's headers say the window is exhausted); `observe` reads those headers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from ..sqlprepared import Prepared, insert_for
from ..sqlstore import Database
from .model import QueryError
from .schema import credentials, usage

__all__ = [
    "BudgetExceeded",
    "Claim",
    "CredentialLimiter",
    "CredentialUsage",
    "Windows",
    "earliest_send",
]

#: `(requests, seconds)` pairs: at most that many requests in any window that long.
Windows = Sequence[tuple[int, float]]

#: Claims wait in-process up to this long; beyond it the page step asks for a durable wait.
MAX_CLAIM_WAIT_S = 2.0
#: Sends remembered per credential; a longer window is checked as shorter ones that fit.
SEND_LOG = 64
#: Added to every window at send time: the jitter between a logged send and its arrival.
SEND_MARGIN_S = 0.03
#: Added to every window when spacing slots; more than the send margin, so that sends
#: which fell behind their slots catch up again.
SLOT_MARGIN_S = 0.04
#: Two sends are never closer than this share of the slot spacing (no bursts).
MIN_GAP_SHARE = 0.5
#: A send that left this much after its claim is logged at the time it really left.
LATE_SEND_S = 0.005


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


@dataclass(frozen=True)
class Claim:
    """What `claim` decided: go now (`wait_s == 0`, logged `at`), or wait."""

    wait_s: float
    at: float = 0.0
    #: The credential's source has windows: a late send must correct the send log.
    windowed: bool = False

    @property
    def go(self) -> bool:
        return self.at > 0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _periods(now: float) -> tuple[str, str]:
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    return day, day[:7]


def _rules(windows: Windows) -> list[tuple[int, float]]:
    """The windows as the send log can check them.

    A window of more requests than `SEND_LOG` becomes the m-th part of it with at
    most 1/m of the requests (3,600 per hour: 63 in any 63.2 s), which is stricter:
    m such parts tile the whole window.
    """
    rules = []
    for count, seconds in windows:
        parts = math.ceil(count / SEND_LOG)
        rules.append((count // parts, seconds / parts))
    return rules


def _spacing(rules: Sequence[tuple[int, float]]) -> float:
    """The distance between two slots: every window stays under its count, with margin."""
    return max(((seconds + SLOT_MARGIN_S) / count for count, seconds in rules), default=0.0)


def earliest_send(
    sent: Sequence[float], rules: Sequence[tuple[int, float]], blocked_until: float = 0.0
) -> float:
    """When the next request may leave, given the sends before it (ascending)."""
    at = blocked_until
    if sent:
        at = max(at, sent[-1] + _spacing(rules) * MIN_GAP_SHARE)
    for count, seconds in rules:
        if len(sent) >= count:
            at = max(at, sent[-count] + seconds + SEND_MARGIN_S)
    return at


def _row(conn: Connection, credential_id: str) -> Any:
    row = _ROW.run(conn, {"b_id": credential_id}).first()
    if row is None:  # first use; another process may be inserting it right now
        conn.execute(
            insert_for(conn.dialect.name, credentials)
            .on_conflict_do_nothing()
            .values(
                credential_id=credential_id,
                next_slot_at=0.0,
                blocked_until=0.0,
                sent_log="[]",
            )
        )
        row = _ROW.run(conn, {"b_id": credential_id}).first()
    return row


def _update(conn: Connection, credential_id: str, **values: Any) -> None:
    _UPDATE.run(conn, {"b_id": credential_id, **values})


# Built once, run with their parameters (see `Prepared`).
_ROW = Prepared(
    select(credentials).where(credentials.c.credential_id == bindparam("b_id")).with_for_update()
)
_UPDATE = Prepared(credentials.update().where(credentials.c.credential_id == bindparam("b_id")))
_USED = Prepared(
    select(usage.c.requests).where(
        usage.c.credential_id == bindparam("b_id"), usage.c.period == bindparam("b_period")
    )
)


def _reserve(conn: Connection, credential_id: str, windows: Windows, now: float) -> float:
    row = _row(conn, credential_id)
    slot = max(row.next_slot_at, row.blocked_until, now)
    spacing = _spacing(_rules(windows))
    if spacing > 0 or slot > row.next_slot_at:
        _update(conn, credential_id, next_slot_at=slot + spacing)
    return float(slot)


def _used(conn: Connection, credential_id: str, period: str) -> int:
    value = _USED.run(conn, {"b_id": credential_id, "b_period": period}).scalar_one_or_none()
    return int(value or 0)


def _count(conn: Connection, credential_id: str, period: str) -> None:
    """One more request in `period`, in one statement (an upsert)."""
    _count_statement(conn.dialect.name).run(
        conn, {"credential_id": credential_id, "period": period, "requests": 1}
    )


@functools.cache
def _count_statement(dialect: str) -> Prepared:
    insert = insert_for(dialect, usage)
    return Prepared(
        insert.on_conflict_do_update(
            index_elements=[usage.c.credential_id, usage.c.period],
            set_={"requests": usage.c.requests + 1},
        )
    )


def _claim(
    conn: Connection,
    credential_id: str,
    windows: Windows,
    budgets: tuple[int | None, int | None],
) -> Claim:
    row = _row(conn, credential_id)
    # The time is read inside the transaction, not before it waited for the writer:
    # the logged send time must be when the request really leaves.
    now = time.time()
    sent: list[float] = json.loads(row.sent_log)
    earliest = earliest_send(sent, _rules(windows), row.blocked_until)
    if earliest > now:
        return Claim(wait_s=earliest - now)
    day, month = _periods(now)
    for budget, period, label in ((budgets[0], day, "daily"), (budgets[1], month, "monthly")):
        if budget is not None and _used(conn, credential_id, period) >= budget:
            raise BudgetExceeded(
                f"the {label} budget of {budget} requests for {credential_id} is used up; "
                "raise it in the source's limits or wait for the next period"
            )
    _update(conn, credential_id, sent_log=_log([*sent, now]))
    _count(conn, credential_id, day)
    _count(conn, credential_id, month)
    return Claim(wait_s=0.0, at=now, windowed=bool(windows))


def _log(sent: list[float]) -> str:
    return json.dumps(sorted(sent)[-SEND_LOG:])


def _sent_late(conn: Connection, credential_id: str, logged: float, left: float) -> None:
    row = _row(conn, credential_id)
    sent: list[float] = json.loads(row.sent_log)
    if logged in sent:
        sent[sent.index(logged)] = left
        _update(conn, credential_id, sent_log=_log(sent))


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
    """Shared slots, back-off and budgets per credential, kept in the query store's database.

    The database decides; within one process, claims of a credential that have to
    wait queue in order on a lock, so that they wait their turn instead of all
    asking the database again after every send.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._gates: dict[str, asyncio.Lock] = {}
        self._queued: Counter[str] = Counter()

    async def reserve(self, credential_id: str, windows: Windows) -> float:
        """The start (epoch seconds) of this page's slot; later pages get later slots."""
        return await self._db.write(_reserve, credential_id, windows, time.time())

    async def claim(
        self,
        credential_id: str,
        windows: Windows,
        *,
        daily_budget: int | None = None,
        monthly_budget: int | None = None,
    ) -> Claim:
        """Wait (briefly) until a request may be sent, then log and count it.

        Waits in-process up to `MAX_CLAIM_WAIT_S`; beyond that it returns the wait
        (the caller waits durably and takes a new slot). With so many claims waiting
        here that this one's turn would come later than that, it returns a wait of
        0: take a new slot now. Raises `BudgetExceeded` when a budget is spent.
        """
        budgets = (daily_budget, monthly_budget)
        claim = await self._db.write(_claim, credential_id, windows, budgets)
        if claim.go or claim.wait_s > MAX_CLAIM_WAIT_S:
            return claim
        ahead = self._queued[credential_id] * _spacing(_rules(windows))
        if claim.wait_s + ahead > MAX_CLAIM_WAIT_S:
            return Claim(wait_s=0.0)
        # Wait in line: only the first in line asks the database again.
        ready_at = time.monotonic() + claim.wait_s
        gate = self._gates.setdefault(credential_id, asyncio.Lock())
        self._queued[credential_id] += 1
        try:
            async with gate:
                while True:
                    await asyncio.sleep(max(0.0, ready_at - time.monotonic()))
                    claim = await self._db.write(_claim, credential_id, windows, budgets)
                    if claim.go or claim.wait_s > MAX_CLAIM_WAIT_S:
                        return claim
                    ready_at = time.monotonic() + claim.wait_s
        finally:
            self._queued[credential_id] -= 1

    async def sent(self, credential_id: str, claim: Claim, left_at: float) -> None:
        """The request of `claim` left at `left_at`: log that if it is later than claimed.

        Not for a source without windows (a write per page saved): its sends are
        logged only for another source that shares its credential and has windows,
        to which a send logged a little early is as good (`SEND_MARGIN_S`).
        """
        if claim.windowed and left_at - claim.at > LATE_SEND_S:
            await self._db.write(_sent_late, credential_id, claim.at, left_at)

    async def block(self, credential_id: str, until: float, reason: str) -> None:
        """Every query on this credential waits until `until` (epoch seconds)."""
        await self._db.write(_block, credential_id, until, reason)

    async def unblock(self, credential_id: str) -> None:
        """Lift a back-off early (a user resumed a query: they want it tried now)."""
        await self._db.write(_unblock, credential_id)

    async def observe(
        self, credential_id: str, remaining: int | None, reset_at: float | None
    ) -> bool:
        """Provider headers said the window is spent: wait for its reset (returns True)."""
        if remaining is not None and remaining <= 0 and reset_at is not None:
            await self.block(credential_id, reset_at, "the provider's rate-limit window is spent")
            return True
        return False

    async def usage(self) -> Sequence[CredentialUsage]:
        return await self._db.read(_usage, time.time())
