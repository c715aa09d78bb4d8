"""`ScheduleStore`: schedules and their ticks in the query store's database.

A tick is made in one transaction with everything it changes: the schedule's
next tick, the tick row (unique per schedule and cron time) and, when it
starts, its combo and pending queries. The schedule row is read locked and
must still have the `next_at` the caller saw, so two runs handling the same
minute, or a step run again after its commit, never make a tick twice.

A tick whose schedule's previous tick still runs (a query of its combo is
pending or running) is skipped, or waits when the schedule says so; a waiting
tick starts when `start_waiting` finds the one before it finished.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ..sqlstore import Database
from .batches import insert_batch, new_combo
from .model import utcnow
from .schedules import ACTIVE, Schedule, ScheduleNotFound, Tick, TickNotFound
from .schema import queries, query_records, records, schedule_ticks, schedules
from .tablemap import TableMap

__all__ = ["Combos", "ScheduleStore"]

SCHEDULE_ROWS = TableMap(Schedule, schedules, to_row={"params": dict})
TICK_ROWS = TableMap(Tick, schedule_ticks)
#: The queries of a tick (one per combination of params), or why there are none.
Combos = Sequence[Mapping[str, Any]] | str
_BUSY = ("pending", "running")


def _load(conn: Connection, schedule_id: str, *, lock: bool = False) -> Schedule:
    stmt = SCHEDULE_ROWS.select.where(schedules.c.id == schedule_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return SCHEDULE_ROWS.load(row)


def _save(conn: Connection, schedule: Schedule) -> None:
    values = SCHEDULE_ROWS.values(schedule)
    conn.execute(schedules.update().where(schedules.c.id == values.pop("id")).values(**values))


def _list(conn: Connection, limit: int, offset: int) -> tuple[list[Schedule], int]:
    rows = conn.execute(
        SCHEDULE_ROWS.select.order_by(schedules.c.created_at.desc(), schedules.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = conn.execute(select(func.count()).select_from(schedules)).scalar_one()
    return [SCHEDULE_ROWS.load(r) for r in rows], int(total)


def _change(conn: Connection, schedule_id: str, change: Callable[[Schedule], Schedule]) -> Schedule:
    schedule = change(_load(conn, schedule_id, lock=True))
    _save(conn, schedule)
    return schedule


def _delete(conn: Connection, schedule_id: str) -> None:
    _load(conn, schedule_id)
    conn.execute(delete(schedule_ticks).where(schedule_ticks.c.schedule_id == schedule_id))
    conn.execute(delete(schedules).where(schedules.c.id == schedule_id))


def _due(conn: Connection, at: datetime) -> list[Schedule]:
    rows = conn.execute(
        SCHEDULE_ROWS.select.where(
            schedules.c.status == ACTIVE, schedules.c.next_at <= at
        ).order_by(schedules.c.next_at, schedules.c.id)
    )
    return [SCHEDULE_ROWS.load(r) for r in rows]


def _unfinished(conn: Connection, batch_id: str | None) -> int:
    busy = queries.c.status.in_(_BUSY)
    found = conn.execute(select(func.count()).where(queries.c.batch_id == batch_id, busy))
    return int(found.scalar_one())


def _running(conn: Connection, schedule_id: str, but: str | None = None) -> Tick | None:
    """The schedule's tick that still runs or waits (`but` that one), if any."""
    stmt = TICK_ROWS.select.where(
        schedule_ticks.c.schedule_id == schedule_id,
        schedule_ticks.c.outcome.in_(("started", "waiting")),
    )
    if but is not None:
        stmt = stmt.where(schedule_ticks.c.id != but)
    for row in conn.execute(stmt.order_by(schedule_ticks.c.scheduled_at.desc())):
        tick = TICK_ROWS.load(row)
        if tick.outcome == "waiting" or _unfinished(conn, tick.batch_id):
            return tick
    return None


def _start(conn: Connection, schedule: Schedule, combos: Sequence[Mapping[str, Any]]) -> str:
    """The tick's combo and its pending queries, with the schedule's webhook on the combo
    and its destination on each query (as `BatchStore.create` does); the combo's id."""
    batch, new = new_combo(
        schedule.source,
        schedule.params,
        combos,
        max_pages=schedule.max_pages,
        webhook=schedule.webhook,
        deliver=schedule.deliver,
    )
    insert_batch(conn, batch, new)
    return batch.id


def _make_tick(
    conn: Connection, schedule_id: str, seen: datetime, at: float, combos: Combos, run_id: str
) -> Tick | None:
    try:
        schedule = _load(conn, schedule_id, lock=True)
    except ScheduleNotFound:
        return None  # deleted a moment ago
    if schedule.status != ACTIVE or schedule.next_at != seen:
        return None  # paused, or this tick was made by another run
    scheduled, following = schedule.due_tick(at)
    conn.execute(
        schedules.update()
        .where(schedules.c.id == schedule_id)
        .values(next_at=following, updated_at=utcnow())
    )
    previous = _running(conn, schedule_id)
    if previous is not None:
        waits = schedule.overlap == "wait" and previous.outcome != "waiting"
        when = previous.scheduled_at.isoformat()
        reason = (
            f"the tick of {when} is still running"
            if previous.outcome == "started"
            else f"the tick of {when} is waiting already"
        )
        tick = Tick.new(
            schedule_id, scheduled, "waiting" if waits else "skipped", run_id=run_id, reason=reason
        )
    elif isinstance(combos, str):
        tick = Tick.new(schedule_id, scheduled, "failed", run_id=run_id, reason=combos)
    else:
        batch_id = _start(conn, schedule, combos)
        tick = Tick.new(schedule_id, scheduled, "started", run_id=run_id, batch_id=batch_id)
    conn.execute(schedule_ticks.insert().values(**TICK_ROWS.values(tick)))
    return tick


def _waiting(conn: Connection) -> list[tuple[Tick, Schedule]]:
    rows = conn.execute(
        TICK_ROWS.select.where(schedule_ticks.c.outcome == "waiting").order_by(
            schedule_ticks.c.scheduled_at
        )
    )
    ticks = [TICK_ROWS.load(r) for r in rows]
    return [(t, _load(conn, t.schedule_id)) for t in ticks]


def _start_waiting(conn: Connection, tick_id: str, combos: Combos, run_id: str) -> Tick | None:
    row = conn.execute(
        TICK_ROWS.select.where(schedule_ticks.c.id == tick_id).with_for_update()
    ).first()
    tick = TICK_ROWS.load(row) if row is not None else None
    if tick is None or tick.outcome != "waiting":
        return None
    if _running(conn, tick.schedule_id, but=tick.id) is not None:
        return None  # the tick before it still runs
    schedule = _load(conn, tick.schedule_id)
    if isinstance(combos, str):
        values: dict[str, Any] = {"outcome": "failed", "reason": combos, "run_id": run_id}
    else:
        tick = tick.started(_start(conn, schedule, combos), run_id)
        values = TICK_ROWS.values(tick)
    conn.execute(schedule_ticks.update().where(schedule_ticks.c.id == tick_id).values(**values))
    return tick


def _pending_of_run(conn: Connection, run_id: str) -> list[str]:
    batches = select(schedule_ticks.c.batch_id).where(schedule_ticks.c.run_id == run_id)
    rows = conn.execute(
        select(queries.c.id)
        .where(queries.c.batch_id.in_(batches), queries.c.status == "pending")
        .order_by(queries.c.id)
    )
    return list(rows.scalars())


def _progress(conn: Connection, ticks: Sequence[Tick]) -> list[dict[str, Any]]:
    """Each tick as JSON with its combo's progress summed over its queries."""
    batch_ids = [t.batch_id for t in ticks if t.batch_id]
    sums: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        select(
            queries.c.batch_id,
            queries.c.status,
            func.count(),
            func.sum(queries.c.pages_fetched),
            func.sum(queries.c.records_fetched),
            func.sum(queries.c.records_inserted),
        )
        .where(queries.c.batch_id.in_(batch_ids))
        .group_by(queries.c.batch_id, queries.c.status)
    )
    for batch_id, status, count, pages, fetched, inserted in rows:
        found = sums.setdefault(batch_id, _no_queries())
        found["queries"] += count
        found["by_status"][status] = count
        found["pages_fetched"] += int(pages or 0)
        found["records_fetched"] += int(fetched or 0)
        found["records_inserted"] += int(inserted or 0)
    return [
        {**t.to_json(), **_summary(t, sums.get(t.batch_id or "", _no_queries()))} for t in ticks
    ]


def _no_queries() -> dict[str, Any]:
    return {
        "queries": 0,
        "by_status": {},
        "pages_fetched": 0,
        "records_fetched": 0,
        "records_inserted": 0,
    }


def _summary(tick: Tick, sums: dict[str, Any]) -> dict[str, Any]:
    """The tick's status: its outcome, or for a started tick how its combo stands."""
    by_status = sums["by_status"]
    status = tick.outcome
    if tick.outcome == "started":
        if any(by_status.get(s) for s in _BUSY):
            status = "running"
        elif by_status.get("completed") == sums["queries"]:
            status = "completed"
        else:
            status = "stopped"  # a query failed, paused or was cancelled: see by_status
    return {"status": status, **sums}


def _ticks(
    conn: Connection, schedule_id: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    _load(conn, schedule_id)
    where = schedule_ticks.c.schedule_id == schedule_id
    rows = conn.execute(
        TICK_ROWS.select.where(where)
        .order_by(schedule_ticks.c.scheduled_at.desc())
        .limit(limit)
        .offset(offset)
    )
    total = conn.execute(select(func.count()).where(where)).scalar_one()
    return _progress(conn, [TICK_ROWS.load(r) for r in rows]), int(total)


def _tick(conn: Connection, schedule_id: str, tick_id: str) -> Tick:
    row = conn.execute(
        TICK_ROWS.select.where(
            schedule_ticks.c.id == tick_id, schedule_ticks.c.schedule_id == schedule_id
        )
    ).first()
    if row is None:
        raise TickNotFound(tick_id)
    return TICK_ROWS.load(row)


def _tick_json(conn: Connection, schedule_id: str, tick_id: str) -> dict[str, Any]:
    return _progress(conn, [_tick(conn, schedule_id, tick_id)])[0]


def _linked(batch_id: str | None, new_only: bool) -> Any:
    """The ids of the records a combo's queries linked (`new_only`: those they stored first)."""
    members = select(queries.c.id).where(queries.c.batch_id == batch_id)
    linked = select(query_records.c.record_id).where(query_records.c.query_id.in_(members))
    return linked.where(query_records.c.is_new.is_(True)) if new_only else linked


def _results(
    conn: Connection,
    schedule_id: str,
    tick_id: str,
    new_only: bool,
    *,
    after: int = 0,
    limit: int,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int | None]:
    """Records of a tick by record id (keyset from `after`, or `offset`); the last id."""
    linked = _linked(_tick(conn, schedule_id, tick_id).batch_id, new_only)
    rows = conn.execute(
        select(records.c.id, records.c.record_key, records.c.data)
        .where(records.c.id.in_(linked), records.c.id > after)
        .order_by(records.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    last = rows[-1].id if rows else None
    return [{"key": r.record_key, "data": r.data} for r in rows], last


def _count_results(conn: Connection, schedule_id: str, tick_id: str, new_only: bool) -> int:
    linked = _linked(_tick(conn, schedule_id, tick_id).batch_id, new_only)
    found = conn.execute(select(func.count()).where(records.c.id.in_(linked)))
    return int(found.scalar_one())


class ScheduleStore:
    """Schedules and ticks; `clock` is when "now" is for new and resumed schedules."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.clock = clock

    async def create(self, schedule: Schedule) -> Schedule:
        await self._db.write(
            lambda conn: conn.execute(schedules.insert().values(**SCHEDULE_ROWS.values(schedule)))
        )
        return schedule

    async def get(self, schedule_id: str) -> Schedule:
        """The schedule; raises `ScheduleNotFound`."""
        return await self._db.read(_load, schedule_id)

    async def list(
        self, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Schedule], int]:
        """Schedules, newest first, and how many there are."""
        return await self._db.read(_list, limit, offset)

    async def pause(self, schedule_id: str) -> Schedule:
        return await self._db.write(_change, schedule_id, Schedule.paused)

    async def resume(self, schedule_id: str) -> Schedule:
        now = self.clock()
        return await self._db.write(_change, schedule_id, lambda s: s.resumed(now))

    async def delete(self, schedule_id: str) -> None:
        """The schedule and its ticks; the combos its ticks started stay."""
        await self._db.write(_delete, schedule_id)

    async def due(self, at: float) -> builtins.list[Schedule]:
        """Active schedules whose next tick is at or before `at`."""
        return await self._db.read(_due, datetime.fromtimestamp(at, UTC))

    async def make_tick(
        self, schedule: Schedule, at: float, combos: Combos, run_id: str
    ) -> Tick | None:
        """The tick `schedule` (as read by `due`) owes at `at`; None if another run made it."""
        assert schedule.next_at is not None
        return await self._db.write(_make_tick, schedule.id, schedule.next_at, at, combos, run_id)

    async def waiting(self) -> builtins.list[tuple[Tick, Schedule]]:
        """Ticks waiting for the tick before them, with their schedules."""
        return await self._db.read(_waiting)

    async def start_waiting(self, tick_id: str, combos: Combos, run_id: str) -> Tick | None:
        """Start a waiting tick if the tick before it has finished (else None)."""
        return await self._db.write(_start_waiting, tick_id, combos, run_id)

    async def pending_of_run(self, run_id: str) -> builtins.list[str]:
        """The pending queries of the ticks run `run_id` started: the ones to send."""
        return await self._db.read(_pending_of_run, run_id)

    async def ticks(
        self, schedule_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """The schedule's ticks, latest first, each with its combo's progress."""
        return await self._db.read(_ticks, schedule_id, limit, offset)

    async def tick(self, schedule_id: str, tick_id: str) -> dict[str, Any]:
        """One tick with its combo's progress; raises `TickNotFound`."""
        return await self._db.read(_tick_json, schedule_id, tick_id)

    async def results(
        self, schedule_id: str, tick_id: str, *, new_only: bool, limit: int, offset: int
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """A page of the tick's records (`new_only`: those new to the store), and the total."""
        items, _ = await self._db.read(
            _results, schedule_id, tick_id, new_only, limit=limit, offset=offset
        )
        total = await self._db.read(_count_results, schedule_id, tick_id, new_only)
        return items, total

    async def iter_results(
        self, schedule_id: str, tick_id: str, *, new_only: bool, batch: int = 1000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of the tick, `batch` at a time (for exports); `TickNotFound` first."""
        await self._db.read(_tick, schedule_id, tick_id)
        after = 0
        while True:
            found, last = await self._db.read(
                _results, schedule_id, tick_id, new_only, after=after, limit=batch
            )
            for result in found:
                yield result
            if last is None or len(found) < batch:
                return
            after = last
