"""Cron triggers: when each function's cron fires next, and each tick fired once.

`exec_crons` holds one row per (function, cron expression) with the scheduled
time of its next tick. `reconcile` brings the rows in line with the synced
functions after every sync: an unchanged expression keeps its row (a re-sync
neither resets nor doubles a tick), a new one gets a row for its next time, a
changed or removed one loses its row (a changed expression is a new row: it is
rescheduled from now). Only the leader fires (`CronScheduler.drive`): one
transaction moves a due row's `next_at` on, but only if it still holds the value
read (two processes never fire the same tick), stores the
`inngest/scheduled.timer` event and starts the run. A crash leaves all of that
done or none of it, so a restart neither loses nor doubles a tick.

The event is Inngest's, field for field: id is the scheduled time (RFC 3339,
UTC, which also makes it the run's idempotency key), `data` holds `cron`,
`scheduledAt` and `fireAt`, `ts` is `fireAt` in milliseconds. `fireAt` is the
scheduled time plus the trigger's `jitter` (a deterministic share of it, at
least 1 s, as Inngest computes it); the run starts then.

Ticks missed while no executor ran fire once when one starts: the run's
`scheduledAt` is the latest of them and the next tick is the first after now.
(Inngest's queue would run each missed tick late; an executor that was down
has no such queue, and a burst of stale runs helps nobody.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import Connection, delete, func, select, update

from ..cron import rfc3339
from .errors import ExecutorError
from .functions import MIN_CRON_JITTER_S, FunctionDef, Trigger
from .machine import Skipped, StateMachine
from .store.schema import crons, events, functions

__all__ = ["CRON_EVENT", "CronScheduler", "fire_due", "next_due", "next_fires", "reconcile"]

log = structlog.get_logger("pagerunner.executor")

CRON_EVENT = "inngest/scheduled.timer"
#: The loop looks at the table at least this often: a sync handled by another process,
#: leadership gained, a clock that moved.
IDLE_S = 1.0

Read = Callable[..., Awaitable[Any]]


def _synced_functions(conn: Connection) -> dict[str, FunctionDef]:
    """Every synced function, read from the table: a sync may have reached another process."""
    found = {}
    for row in conn.execute(select(functions.c.app_name, functions.c.config)):
        try:
            fn = FunctionDef.from_config(row.app_name, row.config)
        except ExecutorError:
            continue  # stored by an older release that read it differently: it cannot run
        found[fn.id] = fn
    return found


def _cron_triggers(fn: FunctionDef | None) -> dict[str, Trigger]:
    return {t.cron: t for t in fn.triggers if t.cron} if fn is not None else {}


def reconcile(conn: Connection, now: float) -> None:
    """Give each cron trigger of the synced functions a row, and drop the rows of the rest."""
    wanted = {
        (fn.id, cron): trigger
        for fn in _synced_functions(conn).values()
        for cron, trigger in _cron_triggers(fn).items()
    }
    existing = {
        (r.function_id, r.cron) for r in conn.execute(select(crons.c.function_id, crons.c.cron))
    }
    for fn_id, cron in existing - wanted.keys():
        conn.execute(delete(crons).where(crons.c.function_id == fn_id, crons.c.cron == cron))
    for (fn_id, cron), trigger in wanted.items():
        if (fn_id, cron) not in existing:
            assert trigger.schedule is not None
            next_at = trigger.schedule.next_after(now)
            conn.execute(crons.insert().values(function_id=fn_id, cron=cron, next_at=next_at))
            log.info("cron_scheduled", function_id=fn_id, cron=cron, next_at=next_at)


def next_due(conn: Connection) -> float | None:
    """When the next tick of any function is due (None: no cron trigger fires again)."""
    value = conn.execute(select(func.min(crons.c.next_at))).scalar_one_or_none()
    return float(value) if value is not None else None


def next_fires(conn: Connection) -> dict[str, dict[str, float | None]]:
    """`{function id: {cron: next fire time}}` for the functions page (None: never)."""
    found: dict[str, dict[str, float | None]] = {}
    for row in conn.execute(select(crons.c.function_id, crons.c.cron, crons.c.next_at)):
        found.setdefault(row.function_id, {})[row.cron] = row.next_at
    return found


def fire_due(conn: Connection, machine: StateMachine, now: float) -> int:
    """Fire every tick due at `now`, each once; returns how many fired."""
    due = conn.execute(select(crons).where(crons.c.next_at <= now).order_by(crons.c.next_at)).all()
    if not due:
        return 0
    synced = _synced_functions(conn)
    fired = 0
    for row in due:
        where = (crons.c.function_id == row.function_id, crons.c.cron == row.cron)
        fn = synced.get(row.function_id)
        trigger = _cron_triggers(fn).get(row.cron)
        if fn is None or trigger is None or trigger.schedule is None:
            conn.execute(delete(crons).where(*where))  # removed since: its ticks stop
            continue
        scheduled: float = row.next_at
        following = trigger.schedule.next_after(scheduled)
        if following is not None and following <= now:  # missed while down: the latest fires
            scheduled = trigger.schedule.latest_until(now) or scheduled
            following = trigger.schedule.next_after(now)
        claimed = conn.execute(
            update(crons)
            .where(*where, crons.c.next_at == row.next_at)
            .values(next_at=following, last_at=scheduled)
        ).rowcount
        if claimed:  # else another process fired this tick a moment ago
            _fire(conn, machine, fn, trigger, scheduled)
            fired += 1
    return fired


def _fire(
    conn: Connection, machine: StateMachine, fn: FunctionDef, trigger: Trigger, scheduled: float
) -> None:
    assert trigger.cron is not None
    fire_at = scheduled + _jitter(f"{fn.id}:{trigger.cron}:{scheduled}", trigger.jitter_s)
    stamp = rfc3339(scheduled)
    raw = {
        "name": CRON_EVENT,
        "id": stamp,
        "ts": round(fire_at * 1000),
        "data": {"cron": trigger.cron, "scheduledAt": stamp, "fireAt": rfc3339(fire_at)},
    }
    [event_id] = machine.ingest(conn, [raw], internal=True)
    payload = conn.execute(select(events.c.payload).where(events.c.id == event_id)).scalar_one()
    created = machine.create_run(conn, fn, [payload], event_id, now=time.time(), dedupe_id=stamp)
    if isinstance(created, Skipped):
        conn.execute(
            events.update().where(events.c.id == event_id).values(skipped={fn.id: created.reason})
        )
    log.info("cron_fired", function_id=fn.id, cron=trigger.cron, scheduled_at=stamp)


def _jitter(seed: str, jitter_s: float) -> float:
    """A stable share of `jitter_s` for one tick, at least 1 s (Inngest's rule)."""
    if jitter_s <= MIN_CRON_JITTER_S:
        return jitter_s
    span_ms = int((jitter_s - MIN_CRON_JITTER_S) * 1000)
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return MIN_CRON_JITTER_S + (digest % span_ms) / 1000


class CronScheduler:
    """The leader's loop that fires due ticks; `clock` says what time it is (tests move it)."""

    def __init__(
        self,
        read: Read,
        write: Read,
        machine: StateMachine,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read, self._write = read, write
        self.machine = machine
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the table now (after a sync, or when the clock was moved)."""
        self._wake.set()

    async def reconcile(self) -> None:
        """Bring the rows in line with the synced functions (after each sync and at start)."""
        await self._write(reconcile, self.clock())
        self.wake()

    async def drive(self, is_leader: Callable[[], bool]) -> None:
        """Fire due ticks while this process leads; runs until cancelled."""
        while True:
            self._wake.clear()
            delay = IDLE_S
            if is_leader():
                try:
                    delay = await self._fire_due()
                except Exception as exc:  # a database hiccup must not end the loop
                    log.error("cron_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _fire_due(self) -> float:
        """Fire what is due; returns how long the loop may sleep."""
        now = self.clock()
        due: float | None = await self._read(next_due)
        if due is not None and due <= now:
            await self._write(fire_due, self.machine, now)
            due = await self._read(next_due)
        if due is None:
            return IDLE_S
        return min(IDLE_S, max(0.0, due - self.clock()))
