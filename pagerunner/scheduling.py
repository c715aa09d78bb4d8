"""The `run-schedules` function: every minute, the ticks of the schedules that came due.

Inngest's function set is fixed when the app syncs, so a schedule cannot be a
function of its own. Instead one function has a cron trigger that fires every
minute (on the embedded executor and on Inngest alike); each run makes the tick
of every schedule due at its minute (`data.scheduledAt` of the cron event) and
sends the events that start the tick's queries. Those queries are ordinary
queries of `execute-query`: the same page steps, credential limits and budgets.

The `tick` step is one transaction per schedule (see `queries.schedule_store`),
so a step run again, or two runs of nearby minutes, never make a tick twice;
its result is the pending queries of every tick this run made, so a retried run
sends the events of the ticks its first attempt made (their ids make a re-send
harmless).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import inngest
import structlog

from .functions import PRIORITY_COMBO_S, STEP_RETRIES, execute_event
from .queries.combos import expand
from .queries.model import QueryError
from .queries.schedule_store import Combos, ScheduleStore
from .queries.schedules import Schedule
from .sources.base import SourceError
from .sources.registry import SourceRegistry

__all__ = ["FUNCTION_ID", "SCHEDULES_CRON", "ScheduleRunner", "create_schedule_function"]

log = structlog.get_logger("pagerunner.scheduling")

FUNCTION_ID = "run-schedules"
#: Schedules are looked at every minute: the finest a cron expression can ask for.
SCHEDULES_CRON = "* * * * *"
#: Events per `send_event` step when a tick starts many queries.
SEND_CHUNK = 500


class ScheduleRunner:
    """The step body of `run-schedules`: safe to run more than once."""

    def __init__(self, store: ScheduleStore, sources: SourceRegistry) -> None:
        self.store = store
        self.sources = sources

    async def tick(self, scheduled_at: str | None, run_id: str) -> list[str]:
        """Make the ticks due at `scheduled_at` (the cron event's time; now without one)
        and start the waiting ticks whose turn came; the queries to start."""
        at = _epoch(scheduled_at) if scheduled_at else time.time()
        for tick, schedule in await self.store.waiting():
            started = await self.store.start_waiting(tick.id, self.combos(schedule), run_id)
            if started is not None:
                log.info("schedule_tick", scheduleId=schedule.id, outcome=started.outcome)
        for schedule in await self.store.due(at):
            made = await self.store.make_tick(schedule, at, self.combos(schedule), run_id)
            if made is not None:
                log.info(
                    "schedule_tick",
                    scheduleId=schedule.id,
                    scheduledAt=made.scheduled_at.isoformat(),
                    outcome=made.outcome,
                    reason=made.reason,
                )
        return await self.store.pending_of_run(run_id)

    def combos(self, schedule: Schedule) -> Combos:
        """The params of each query of a tick, or why the schedule makes none now."""
        try:
            source = self.sources.get(schedule.source)
            return expand(schedule.params, source.validate_params, cap=schedule.max_queries)
        except (SourceError, QueryError) as exc:
            return str(exc)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def create_schedule_function(
    client: inngest.Inngest, runner: ScheduleRunner
) -> inngest.Function[Any]:
    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Run due schedules",
        trigger=inngest.TriggerCron(cron=SCHEDULES_CRON),
        retries=STEP_RETRIES,
        # One minute at a time: a slow minute delays the next, never races it.
        concurrency=[inngest.Concurrency(limit=1)],
    )
    async def run_schedules(ctx: inngest.Context) -> dict[str, Any]:
        scheduled_at = ctx.event.data.get("scheduledAt")
        started = await ctx.step.run(
            "tick", runner.tick, str(scheduled_at) if scheduled_at else None, ctx.run_id
        )
        for first in range(0, len(started), SEND_CHUNK):
            # A tick is a combo: its queries rank as a combo's, behind a query started alone.
            chunk = started[first : first + SEND_CHUNK]
            events = [execute_event(q, 1, PRIORITY_COMBO_S) for q in chunk]
            await ctx.step.send_event(f"start-{first}", events)
        return {"scheduledAt": scheduled_at, "queries": len(started)}

    return run_schedules
