"""The executor: drives synced apps' functions from the durable job queue.

`Executor` owns the database, the transport to apps, the leader lease and the
loop that claims due jobs and runs them as asyncio tasks. State transitions
are delegated to `StateMachine` (events, runs, memos) and `apply_outcome`
(what a call returned); this module only decides *when* work happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection

from ..inplace import lending
from ..sqlstore import Database
from . import jobs, transitions
from .calls import CallOutcome, build_request, call_url, interpret
from .config import ExecutorConfig
from .crons import CronScheduler
from .errors import ExecutorError, NotFoundError, RegistrationError, StoreError, TransportError
from .functions import FunctionDef, parse_registration
from .gateway import make_ai_requests
from .inflight import InflightLimit
from .lease import LeaderLease
from .machine import StateMachine
from .metrics import ExecutorMetrics
from .outcomes import CallRecord, send_woken
from .registry import Registry, sync_answer
from .retention import purge
from .runstate import RUNNING, RunState
from .signing import sign
from .slots import Slots
from .store.migrate import upgrade
from .transport import AppTransport

__all__ = ["Executor"]

log = structlog.get_logger("pagerunner.executor")

TERMINAL = frozenset({"Completed", "Failed", "Cancelled"})
T = TypeVar("T")


class Executor:
    """An Inngest-compatible executor backed by a SQL database."""

    def __init__(self, config: ExecutorConfig, *, asgi_apps: Mapping[str, Any] | None = None):
        self.config = config
        self.db = Database(config.db_url, error=StoreError)
        self.registry = Registry()
        self.machine = StateMachine(self.registry, config.limits)
        self.transport = AppTransport(timeout_s=config.call_timeout_s, asgi_apps=asgi_apps)
        self.lease = LeaderLease(ttl_s=config.lease_ttl_s)
        self.slots = Slots()
        self.inflight = InflightLimit(
            config.max_inflight,
            floor=config.min_inflight,
            target_lag_s=config.target_loop_lag_s,
            counted=lambda: len(self._claimed) - self._timers - self.inflight.lent,
            on_lend=self._lent,
        )
        self.crons = CronScheduler(self.db.read, self._write, self.machine, config.clock)
        self.is_leader = False
        self._wake = asyncio.Event()
        # When the loop looks at the queue next (inf while it is looking): a transaction
        # wakes it only for work due before then (see `_wake_for`).
        self._next_poll_at = math.inf
        self._claimed: dict[int, asyncio.Task[None]] = {}
        self._timers = 0  # claimed jobs that need no call: not counted in calls in flight
        self._blocked: dict[int, str] = {}
        # Jobs handed from one call to the next by the task that made it (see `_run_job`);
        # filled from the writer thread before the job's row is committed.
        self._handed: set[int] = set()
        # Due jobs were left unclaimed at the last poll (all `max_inflight` slots taken):
        # tasks then stop handing calls on, so the queue is served in order.
        self._backlog = False
        # While a poll reads the queue: the jobs finished meanwhile. The read may have
        # seen them before their effect was committed; they must not run twice.
        self._finished_while_polling: set[int] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.metrics = ExecutorMetrics(self)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store (migrating its tables), load functions and start driving the queue."""
        await self.db.write(upgrade)
        await self.db.read(self.registry.load)
        await self.crons.reconcile()
        self._tasks = [
            asyncio.create_task(self._drive(), name="executor-drive"),
            asyncio.create_task(self._keep_lease(), name="executor-lease"),
            asyncio.create_task(
                self.inflight.follow(lambda: self.db.writes_waiting), name="executor-inflight"
            ),
            asyncio.create_task(self.crons.drive(lambda: self.is_leader), name="executor-cron"),
            asyncio.create_task(self._housekeeping(), name="executor-retention"),
        ]
        log.info("executor_started", db=self.db.url.split("@")[-1], owner=self.lease.owner)

    async def sync_configured_apps(self) -> None:
        """Sync every app URL given at start-up, once; each that fails is retried in the
        background with backoff until it answers (the app may start after the executor).
        """
        urls = self.config.app_urls
        await self._write(self.registry.expect, urls, time.time())
        for url in urls:
            try:
                await self.sync_app(url)
            except RegistrationError as exc:
                log.warning("app_sync_failed", url=url, error=str(exc))
                self._tasks.append(asyncio.create_task(self._keep_syncing(url, str(exc))))

    async def _keep_syncing(self, url: str, error: str) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(self.config.sync_backoff.delay(attempt))
            attempt += 1
            try:
                await self.sync_app(url)
                return
            except ExecutorError as exc:
                if str(exc) != error:  # log a change, not every attempt
                    log.warning("app_sync_failed", url=url, error=str(exc), attempt=attempt)
                error = str(exc)

    async def stop(self) -> None:
        """Stop claiming work, let calls in flight finish (up to the grace period)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        inflight = list(self._claimed.values())
        if inflight:
            _, pending = await asyncio.wait(inflight, timeout=self.config.stop_grace_s)
            for task in pending:
                task.cancel()  # its job stays queued and runs again at the next start
            await asyncio.gather(*pending, return_exceptions=True)
        if self.is_leader:
            with contextlib.suppress(Exception):
                await self.db.write(self.lease.release)
        await self.transport.aclose()
        await self.db.close()
        log.info("executor_stopped")

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A write transaction, then a wake-up if it queued work the loop would otherwise
        see too late."""
        result, queued = await self.db.write(_noting_queued(fn), *args, **kwargs)
        self._wake_for(queued)
        return result

    def _wake_for(self, queued: float | None) -> None:
        if queued is not None and queued < self._next_poll_at:
            self._wake.set()

    # -- intake and sync -----------------------------------------------------------------

    async def send_events(self, raw_events: Sequence[Any], *, seed: str | None = None) -> list[str]:
        """Event intake (what `POST /e/{key}` does), callable in-process."""
        return await self._write(self.machine.ingest, raw_events, seed=seed)

    async def register(self, payload: Any) -> dict[str, Any]:
        """Store an app's functions from a `/fn/register` payload."""
        try:
            registration = parse_registration(payload)
        except RegistrationError as exc:
            name = payload.get("appname") if isinstance(payload, dict) else None
            if isinstance(name, str) and name:
                await self._write(
                    self.registry.record_error, name, str(payload.get("url")), str(exc)
                )
            raise
        modified = await self._write(self.registry.save, registration)
        await self.crons.reconcile()
        log.info("app_synced", app=registration.app_name, functions=len(registration.functions))
        return {"ok": True, "modified": modified, "app_id": registration.app_name}

    async def sync_app(self, url: str) -> dict[str, Any]:
        """Ask the app at `url` to sync (a PUT, as the Inngest dev server does).

        A failure is kept on the app's row (shown on the Apps page) and raised as
        `RegistrationError`. When the app answers for the first time, the events
        that arrived while it was awaited start their runs (`transitions.catch_up`).
        """
        try:
            answer = await self._request_sync(url)
        except RegistrationError as exc:
            await self._write(self.registry.record_sync_error, url, str(exc))
            raise
        app_name = answer.get("app_id")
        if not isinstance(app_name, str):  # the JS SDK answers {message, modified}
            app_name = await self.db.read(self.registry.synced_from, url)
            answer = {**answer, "app_id": app_name}
        if isinstance(app_name, str):
            started = await self._write(
                transitions.catch_up, self.machine, url, app_name, time.time()
            )
            if started:
                log.info("awaited_events_started", app=app_name, runs=started)
        return answer

    async def resync(self, app_name: str) -> dict[str, Any]:
        """Sync the app named `app_name` again, at the URL it was synced from.

        A name not known yet may be the id of an app given to the executor that
        has not answered so far: those URLs are tried. No other URL ever is.
        Raises `NotFoundError` (with why the awaited URLs failed) or `RegistrationError`.
        """
        known = await self.db.read(self.registry.known_apps)
        for app in known:
            if app.reached and app.name == app_name:
                return await self.sync_app(app.url)
        failures = []
        for app in known:
            if app.reached:
                continue
            try:
                answer = await self.sync_app(app.url)
            except RegistrationError as exc:
                failures.append(str(exc))
                continue
            if answer.get("app_id") == app_name:
                return answer
        detail = f" (apps not reached yet: {'; '.join(failures)})" if failures else ""
        raise NotFoundError(f"app '{app_name}' not found{detail}")

    async def _request_sync(self, url: str) -> dict[str, Any]:
        body = b'{"url":"' + url.encode() + b'"}'
        headers = {
            "content-type": "application/json",
            "x-inngest-server-kind": "cloud" if self.config.signing_key else "dev",
        }
        if self.config.signing_key:
            headers["x-inngest-sync-kind"] = "in_band"
            headers["x-inngest-signature"] = sign(body, self.config.signing_key)
        try:
            response = await self.transport.request("PUT", url, body=body, headers=headers)
        except TransportError as exc:
            raise RegistrationError(f"could not sync {url}: {exc}") from exc
        answer = sync_answer(url, response.status, response.body)
        if response.headers.get("x-inngest-sync-kind") == "in_band":
            return await self.register(answer)
        return answer

    # -- runs ------------------------------------------------------------------------------

    async def cancel_run(self, run_id: str) -> None:
        await self._write(transitions.cancel, self.machine, run_id)

    async def rerun(self, run_id: str) -> str:
        """A new run of the same function from the same event(s)."""
        return await self._write(transitions.rerun, self.machine, self.registry, run_id)

    async def wait_for_run(self, run_id: str, *, timeout_s: float = 30.0) -> Mapping[str, Any]:
        """Poll until the run ends (for the CLI and tests); raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            row = await self.db.read(transitions.run_row, run_id)
            if row is not None and row["status"] in TERMINAL:
                return row
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout_s}s")
            await asyncio.sleep(0.02)

    async def runs_for_event(self, event_id: str) -> list[str]:
        return list(await self.db.read(transitions.run_ids_for_event, event_id))

    # -- the loop --------------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        while True:
            try:
                held = await self.db.write(self.lease.acquire)
            except Exception as exc:  # a database hiccup must not kill the loop
                log.error("lease_renewal_failed", error=str(exc))
                held = False
            if held and not self.is_leader:
                log.info("leader_acquired", owner=self.lease.owner)
                self._wake.set()
            elif not held and self.is_leader:
                log.warning("leader_lost", owner=self.lease.owner)
            self.is_leader = held
            await asyncio.sleep(self.config.lease_ttl_s / 4 if held else 1.0)

    async def _drive(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._next_poll_at = math.inf  # what commits during the poll may be unseen
            timeout = self.config.poll_interval_s
            if self.is_leader:
                try:
                    timeout = await self._claim_due()
                except Exception as exc:
                    log.error("queue_poll_failed", error=str(exc))
            self._next_poll_at = time.time() + timeout
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.001, timeout))

    def _free(self) -> int:
        """Calls that may start now (`_claimed` holds timers and calls, some of them
        waiting in place: see `pagerunner.inplace`)."""
        return self.inflight.value - self.inflight.counted()

    def _lent(self) -> None:
        if self._backlog:
            self._wake.set()  # a call waits in place: its place is free for a job that waits

    async def _claim_due(self) -> float:
        """Start tasks for due jobs; returns how long the loop may sleep."""
        free = self._free()
        now = time.time()
        taken = {*self._claimed, *self._blocked, *self._handed}
        finished: set[int] = set()
        self._finished_while_polling = finished
        try:
            due, next_at = await self.db.read(transitions.claim_due, now, taken, free)
        finally:
            self._finished_while_polling = None
        for job, run in due:
            if job.id not in self._claimed and job.id not in self._handed | finished:
                self._timers += job.kind != jobs.CALL
                self._claimed[job.id] = asyncio.create_task(self._run_job(job, run))
        self._backlog = next_at is not None and next_at <= now
        if next_at is None or self._backlog:
            # With a backlog every slot is taken: each task that ends wakes the loop.
            return self.config.poll_interval_s
        return min(self.config.poll_interval_s, max(0.0, next_at - time.time()))

    async def _run_job(self, job: jobs.Job, run: RunState | None) -> None:
        """Run a claimed job (a call with its run's state, as claimed); a call that queues
        the run's next call makes it at once, without a trip through the queue poll,
        unless other jobs wait for a slot."""
        while True:
            handoff = None
            try:
                if job.kind == jobs.CALL:
                    handoff = await self._call(job, run)
                else:
                    try:
                        handoff = await self._hand_on(transitions.run_timer, self.machine, job)
                    finally:
                        self._timers -= 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The job stays queued: log and retry it shortly, never crash the loop.
                log.exception("job_failed", job_id=job.id, kind=job.kind, error=str(exc))
                with contextlib.suppress(Exception):
                    await self._write(jobs.reschedule, job.id, available_at=time.time() + 1.0)
            finally:
                self._claimed.pop(job.id, None)
                if self._finished_while_polling is not None:
                    self._finished_while_polling.add(job.id)
            if handoff is None:
                self.inflight.place_freed()  # first to a call that takes its place back
                if self._backlog:
                    self._wake.set()  # a slot is free for a job that waits
                return
            self._handed.discard(handoff.job.id)
            # A call hands on its own slot; a wake-up's call needs a free one.
            wait = self._backlog or self._stopping or (job.kind != jobs.CALL and not self._free())
            if handoff.wake or wait:
                self._wake.set()
            if wait:
                self.inflight.place_freed()
                return  # the job is in the table: the poll claims it, in order
            task = asyncio.current_task()
            assert task is not None
            self._claimed[handoff.job.id] = task
            job, run = handoff.job, handoff.run

    async def _call(self, job: jobs.Job, run: RunState | None = None) -> transitions.Handoff | None:
        """Make one call; `run` is the run's state when it was handed over with the job."""
        if run is None:
            run = await self.db.read(transitions.load_call_state, str(job.run_id))
        if run is None or run.status != RUNNING:
            await self.db.write(jobs.delete_job, job.id)
            return None
        fn = self.registry.get(run.function_id)
        if fn is None:
            await self._write(transitions.fail_unregistered, self.machine, run.id, run.function_id)
            return None
        first_call = run.started_at is None and not (job.data or {}).get("throttled")
        if (
            first_call
            and fn.throttle
            and await self._write(transitions.reserve_throttle, job, run.event, fn, time.time())
        ):
            return None
        full = self.slots.try_acquire(run.concurrency_keys)
        if full is not None:
            self._blocked[job.id] = full
            return None
        try:
            if run.started_at is None and fn.start_timeout_s is not None:
                # The first call starts in time: its start timeout no longer applies.
                await self.db.write(jobs.delete_by_key, f"{run.id}:start-timeout")
            send_woken(job, run)
            with lending(self.inflight):
                outcome, started, ended = await self._send(job, run, fn)
        finally:
            self.slots.release(run.concurrency_keys)
            self._unblock(run.concurrency_keys)
        self.metrics.call(fn.id, job.available_at, started, ended, outcome.kind)
        record = CallRecord(job=job, started_at=started, ended_at=ended)
        return await self._hand_on(
            transitions.apply_call, self.machine, self.config.backoff, fn, run, record, outcome
        )

    async def _hand_on(
        self, transition: Callable[..., transitions.Handoff | None], *args: Any
    ) -> transitions.Handoff | None:
        """Run `transition(conn, *args, claim)`, which may hand the run's next call to
        this task (see `transitions.Handoff`)."""
        claimed: list[int] = []

        def claim(job_id: int) -> None:  # runs in the writer thread, before the commit
            claimed.append(job_id)
            self._handed.add(job_id)

        try:
            handoff, queued = await self.db.write(_noting_queued(transition), *args, claim)
        except BaseException:
            self._handed.difference_update(claimed)  # rolled back: nothing was handed over
            raise
        if handoff is None:
            self._wake_for(queued)  # a retry, a sleep, a wait's timeout, the run's end
        return handoff

    def _unblock(self, keys: Sequence[Sequence[Any]]) -> None:
        if not keys or not self._blocked:
            return
        names = {str(k) for k, _ in keys}
        for job_id in [j for j, k in self._blocked.items() if k in names]:
            del self._blocked[job_id]
        self._wake.set()

    async def _send(
        self, job: jobs.Job, run: RunState, fn: FunctionDef
    ) -> tuple[CallOutcome, float, float]:
        body, headers = build_request(
            run_id=run.id,
            events=run.events,
            memo=run.memos,
            stack=list(run.memos),
            attempt=job.attempt,
            max_attempts=fn.max_attempts,
            force_plan=run.force_plan,
            signing_key=self.config.signing_key,
            request_version=run.request_version,
        )
        headers["x-inngest-job-id"] = f"{job.id}"
        started = time.time()
        try:
            response = await self.transport.request(
                "POST", call_url(fn.url, fn.id, job.target), body=body, headers=headers
            )
            outcome = interpret(response, self.config.signing_keys)
        except TransportError as exc:
            outcome = CallOutcome(
                kind="error", error={"name": "TransportError", "message": str(exc)}
            )
        may_retry = job.attempt + 1 < fn.max_attempts  # step.ai.infer, as Inngest
        outcome = await make_ai_requests(outcome, self.transport, may_retry=may_retry)
        return outcome, started, time.time()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(600)
            if self.is_leader:
                try:
                    cutoff = time.time() - self.config.retention_days * 86400
                    await self.db.write(purge, older_than=cutoff)
                except Exception as exc:
                    log.error("retention_failed", error=str(exc))


def _noting_queued(fn: Callable[..., T]) -> Callable[..., tuple[T, float | None]]:
    """The transaction `fn`, also returning when the first job it queued is due (None: none)."""

    def transaction(conn: Connection, *args: Any, **kwargs: Any) -> tuple[T, float | None]:
        jobs.take_earliest_queued(conn)  # left by a transaction that rolled back
        result = fn(conn, *args, **kwargs)
        return result, jobs.take_earliest_queued(conn)

    return transaction
