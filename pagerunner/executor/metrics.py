"""The executor's Prometheus metrics, in a registry of its own per executor.

Each call to an app is timed where it is made (`Executor._call` reports it to
`ExecutorMetrics.call`, one line on the hot path); runs by status and the job
queue are read from the store when Prometheus scrapes, and the leader lease is
this process's own flag. Labels are bounded: a function's id, a call's outcome,
a run's status. No run id is ever a label.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from prometheus_client import Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import Connection, func, select

from ..probes import Metrics, gauge
from .runstate import CANCELLED, COMPLETED, FAILED, RUNNING
from .store.schema import jobs, runs

if TYPE_CHECKING:
    from .engine import Executor

__all__ = ["ExecutorMetrics"]

#: Calls take from milliseconds (a step that returns at once) to minutes (a slow page).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
RUN_STATUSES = (RUNNING, COMPLETED, FAILED, CANCELLED)


class ExecutorMetrics(Metrics):
    """What one executor exposes at `/metrics`."""

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        r = self.registry
        self.step_seconds = Histogram(
            "pagerunner_executor_step_duration_seconds",
            "How long a call to an app took (a call runs one step or plans the next); "
            "outcome: ops (steps reported), completed (the run ended), error",
            ["function", "outcome"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "pagerunner_executor_queue_wait_seconds",
            "From when a call's job was due until the call was sent",
            ["function"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        calls = Gauge(
            "pagerunner_executor_calls",
            "Calls to apps in flight: running (counted against the limit) or waiting "
            "(on a timer inside an in-process app, or for a place back after it: not counted)",
            ["state"],
            registry=r,
        )
        calls.labels("running").set_function(lambda: float(executor.inflight.counted()))
        calls.labels("waiting").set_function(lambda: float(executor.inflight.lent))
        Gauge(
            "pagerunner_executor_calls_limit",
            "How many calls may run at once now (max_inflight, lowered while the event loop lags)",
            registry=r,
        ).set_function(lambda: float(executor.inflight.value))
        Gauge(
            "pagerunner_executor_leader",
            "1 while this executor holds the leader lease (only the leader runs jobs)",
            registry=r,
        ).set_function(lambda: float(executor.is_leader))
        self.read_at_scrape(
            functools.partial(executor.db.read, _figures), up="pagerunner_executor_database_up"
        )

    def call(
        self, function_id: str, due_at: float, started: float, ended: float, outcome: str
    ) -> None:
        """A call of `function_id` whose job was due at `due_at` ran from `started` to `ended`
        (epoch seconds)."""
        self.step_seconds.labels(function_id, outcome).observe(max(0.0, ended - started))
        self.queue_wait.labels(function_id).observe(max(0.0, started - due_at))


def _figures(conn: Connection) -> list[Metric]:
    """Runs by status (Running: in flight), and the job queue: due and later, and how long
    the oldest due job has waited."""
    now = time.time()
    by_status = select(runs.c.status, func.count()).group_by(runs.c.status)
    counted: dict[str, int] = {status: int(n) for status, n in conn.execute(by_status)}
    due = jobs.c.available_at <= now
    depth = conn.execute(
        select(
            func.count().filter(due),
            func.count().filter(~due),
            func.min(jobs.c.available_at).filter(due),
        )
    ).one()
    oldest = GaugeMetricFamily(
        "pagerunner_executor_queue_oldest_due_seconds",
        "How long the oldest due job has waited to run (0: none waits)",
        value=now - depth[2] if depth[2] is not None else 0.0,
    )
    return [
        gauge(
            "pagerunner_executor_runs",
            "Runs kept in the store by status (Running: in flight)",
            "status",
            {status: counted.get(status, 0) for status in RUN_STATUSES},
        ),
        gauge(
            "pagerunner_executor_queue_jobs",
            "Jobs in the durable queue: due now, or later (sleeps, retries, timeouts)",
            "state",
            {"due": int(depth[0]), "later": int(depth[1])},
        ),
        oldest,
    ]
