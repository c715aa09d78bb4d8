"""Schedules: a query or a combo run again on a cron timetable, and the ticks that ran it.

A `Schedule` says what to run (a source and its params, where lists make a combo
exactly as in `/api/combos`, a page cap, a cap on the queries of one tick, a
webhook and a destination, which each tick's combo gets as a combo made through
the API would) and when: a cron expression and a time zone, read by `pagerunner.cron`
as Inngest reads a cron trigger. `next_at` is its next tick; a paused schedule
has none.

Each time it comes due the schedule makes a `Tick` for that cron time (one per
time: the store refuses a second). The tick is `started` (it created a combo of
queries, its batch), `skipped` (the previous tick still ran, or one already
waited), `waiting` (the previous tick still ran and the schedule's `overlap` is
`wait`: it starts once that one has finished) or `failed` (its params no longer
make queries, say). A tick's queries store records like any other query: a
record any query stored before is linked to them but not counted in their
`records_inserted`, so a tick's count and its export of new records are what is
new since the ticks before it.

Nothing here touches a database; `schedule_store` keeps them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..cron import CronError, CronSchedule
from ..sources.base import BadRequestError
from .model import QueryError, new_id, utcnow

__all__ = [
    "ACTIVE",
    "OUTCOMES",
    "OVERLAPS",
    "PAUSED",
    "Schedule",
    "ScheduleNotFound",
    "Tick",
    "TickNotFound",
    "timetable",
]

ACTIVE, PAUSED = "active", "paused"
#: What a tick does while the schedule's previous tick still runs.
OVERLAPS = ("skip", "wait")
OUTCOMES = ("started", "skipped", "waiting", "failed")


class ScheduleNotFound(QueryError):
    """No schedule with this id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"schedule '{schedule_id}' not found")


class TickNotFound(QueryError):
    """No tick with this id in the schedule."""

    def __init__(self, tick_id: str) -> None:
        super().__init__(f"tick '{tick_id}' not found")


def timetable(cron: str, timezone: str | None) -> CronSchedule:
    """The parsed timetable; `BadRequestError` naming `cron` or `timezone` when invalid."""
    if timezone is not None:
        try:
            CronSchedule.parse("* * * * *", zone=timezone)
        except CronError as exc:
            raise BadRequestError(f"timezone: {exc}") from exc
    try:
        return CronSchedule.parse(cron, zone=timezone)
    except CronError as exc:
        raise BadRequestError(f"cron: {exc}") from exc


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Schedule:
    """What to run and when; `next_at` is the next tick (None: paused, or never again)."""

    id: str
    name: str | None
    source: str
    params: Mapping[str, Any]
    max_pages: int | None
    max_queries: int
    webhook: str | None
    deliver: str | None
    cron: str
    timezone: str | None
    overlap: str
    status: str
    next_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls,
        *,
        source: str,
        params: Mapping[str, Any],
        cron: str,
        now: float,
        timezone: str | None = None,
        name: str | None = None,
        max_pages: int | None = None,
        max_queries: int,
        webhook: str | None = None,
        deliver: str | None = None,
        overlap: str = "skip",
    ) -> Schedule:
        """An active schedule whose first tick is the first cron time after `now`."""
        if overlap not in OVERLAPS:
            raise BadRequestError(f"overlap: must be one of {', '.join(OVERLAPS)}")
        first = timetable(cron, timezone).next_after(now)
        created = utcnow()
        return cls(
            new_id(),
            name,
            source,
            dict(params),
            max_pages,
            max_queries,
            webhook,
            deliver,
            cron,
            timezone,
            overlap,
            ACTIVE,
            _at(first),
            created,
            created,
        )

    @property
    def timetable(self) -> CronSchedule:
        return timetable(self.cron, self.timezone)

    def paused(self) -> Schedule:
        """No more ticks until resumed (a paused schedule stays paused)."""
        return dataclasses.replace(self, status=PAUSED, next_at=None, updated_at=utcnow())

    def resumed(self, now: float) -> Schedule:
        """Ticking again from the first cron time after `now`; the ones missed are not made."""
        if self.status == ACTIVE:
            return self
        first = self.timetable.next_after(now)
        return dataclasses.replace(self, status=ACTIVE, next_at=_at(first), updated_at=utcnow())

    def due_tick(self, at: float) -> tuple[datetime, datetime | None]:
        """The tick due at `at` (the latest cron time until then: ticks missed meanwhile are
        one tick) and the schedule's next tick after it."""
        assert self.next_at is not None
        latest = self.timetable.latest_until(at)
        scheduled = max(self.next_at, _at(latest) or self.next_at)
        return scheduled, _at(self.timetable.next_after(at))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "params": dict(self.params),
            "max_pages": self.max_pages,
            "max_queries": self.max_queries,
            "webhook": self.webhook,
            "deliver": {"destination": self.deliver} if self.deliver else None,
            "cron": self.cron,
            "timezone": self.timezone,
            "overlap": self.overlap,
            "status": self.status,
            "next_at": _iso(self.next_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class Tick:
    """One cron time of a schedule: the combo it started, or why it started none."""

    id: str
    schedule_id: str
    scheduled_at: datetime
    outcome: str
    reason: str | None
    batch_id: str | None
    run_id: str | None
    created_at: datetime
    started_at: datetime | None

    @classmethod
    def new(
        cls,
        schedule_id: str,
        scheduled_at: datetime,
        outcome: str,
        *,
        run_id: str | None,
        reason: str | None = None,
        batch_id: str | None = None,
    ) -> Tick:
        now = utcnow()
        started = now if outcome == "started" else None
        return cls(
            new_id(), schedule_id, scheduled_at, outcome, reason, batch_id, run_id, now, started
        )

    def started(self, batch_id: str, run_id: str) -> Tick:
        """A waiting tick that started its combo."""
        return dataclasses.replace(
            self, outcome="started", batch_id=batch_id, run_id=run_id, started_at=utcnow()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schedule_id": self.schedule_id,
            "scheduled_at": _iso(self.scheduled_at),
            "outcome": self.outcome,
            "reason": self.reason,
            "combo_id": self.batch_id,
            "run_id": self.run_id,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
        }
