"""The executor: drives synced apps' functions from the durable job queue.

`Executor` owns the database, the transport to apps, the leader lease and the
loop that claims due jobs and runs them as asyncio tasks. State transitions
are delegated to `StateMachine` (events, runs, memos) and `apply_outcome`
(what a call returned); this module only decides *when* work happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import jobs
from .calls import CallOutcome, build_request, call_url, interpret
from .config import ExecutorConfig
from .errors import NotFoundError, RegistrationError, TransportError
from .flow import evaluate_key, gcra_reserve
from .functions import FunctionDef, parse_registration
from .lease import LeaderLease
from .machine import StateMachine
from .outcomes import CallRecord, apply_outcome
from .registry import Registry
from .retention import purge
from .runstate import CANCELLED, FAILED, RUNNING, load_run
from .signing import sign
from .slots import Slots
from .store.database import Database
from .store.schema import runs, steps, waits
from .transport import AppTransport

__all__ = ["Executor"]

log = structlog.get_logger("pagerunner.executor")

TERMINAL = frozenset({"Completed", "Failed", "Cancelled"})


class Executor:
    """An Inngest-compatible executor backed by a SQL database."""

    def __init__(self, config: ExecutorConfig, *, asgi_apps: Mapping[str, Any] | None = None):
        self.config = config
        self.db = Database(config.db_url)
        self.registry = Registry()
        self.machine = StateMachine(self.registry)
        self.transport = AppTransport(timeout_s=config.call_timeout_s, asgi_apps=asgi_apps)
        self.lease = LeaderLease(ttl_s=config.lease_ttl_s)
        self.slots = Slots()
        self.is_leader = False
        self._wake = asyncio.Event()
        self._claimed: dict[int, asyncio.Task[None]] = {}
        self._blocked: dict[int, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, load functions and start driving the queue."""
        await self.db.create_tables()
        async with self.db.read() as conn:
            await self.registry.load(conn)
        self._tasks = [
            asyncio.create_task(self._drive(), name="executor-drive"),
            asyncio.create_task(self._keep_lease(), name="executor-lease"),
            asyncio.create_task(self._housekeeping(), name="executor-retention"),
        ]
        log.info("executor_started", db=self.db.url.split("@")[-1], owner=self.lease.owner)

    async def sync_configured_apps(self) -> None:
        """Sync every app URL given at start-up; failures are logged, not fatal."""
        for url in self.config.app_urls:
            try:
                await self.sync_app(url)
            except RegistrationError as exc:
                log.warning("app_sync_failed", url=url, error=str(exc))

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
                async with self.db.write() as conn:
                    await self.lease.release(conn)
        await self.transport.aclose()
        await self.db.close()
        log.info("executor_stopped")

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.write() as conn:
            yield conn
        self._wake.set()  # after commit: the loop may have new work

    # -- intake and sync -----------------------------------------------------------------

    async def send_events(self, raw_events: Sequence[Any], *, seed: str | None = None) -> list[str]:
        """Event intake (what `POST /e/{key}` does), callable in-process."""
        async with self._write() as conn:
            return await self.machine.ingest(conn, raw_events, seed=seed)

    async def register(self, payload: Any) -> dict[str, Any]:
        """Store an app's functions from a `/fn/register` payload."""
        try:
            registration = parse_registration(payload)
        except RegistrationError as exc:
            name = payload.get("appname") if isinstance(payload, dict) else None
            if isinstance(name, str) and name:
                async with self._write() as conn:
                    await self.registry.record_error(conn, name, str(payload.get("url")), str(exc))
            raise
        async with self._write() as conn:
            modified = await self.registry.save(conn, registration)
        for fn in registration.functions:
            if fn.unsupported:
                log.warning("unsupported_flow_control", function_id=fn.id, options=fn.unsupported)
        log.info("app_synced", app=registration.app_name, functions=len(registration.functions))
        return {"ok": True, "modified": modified, "app_id": registration.app_name}

    async def sync_app(self, url: str) -> dict[str, Any]:
        """Ask the app at `url` to sync (a PUT, as the Inngest dev server does)."""
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
        try:
            answer = json.loads(response.body or b"null")
        except ValueError:
            answer = None
        if response.headers.get("x-inngest-sync-kind") == "in_band" and response.status == 200:
            return await self.register(answer)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            detail = (
                answer.get("error")
                if isinstance(answer, dict)
                else response.body[:200].decode("utf-8", "replace")
            )
            raise RegistrationError(f"sync of {url} failed (HTTP {response.status}): {detail}")
        return answer

    # -- runs ------------------------------------------------------------------------------

    async def cancel_run(self, run_id: str) -> None:
        async with self._write() as conn:
            run = await load_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"run '{run_id}' not found")
            if run.status == RUNNING:
                await self.machine.finalize(
                    conn,
                    run,
                    CANCELLED,
                    error={"name": "FunctionCancelledError", "message": "function cancelled (API)"},
                )

    async def rerun(self, run_id: str) -> str:
        """A new run of the same function from the same event(s)."""
        async with self._write() as conn:
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).first()
            if row is None:
                raise NotFoundError(f"run '{run_id}' not found")
            fn = self.registry.get(row.function_id)
            if fn is None:
                raise NotFoundError(f"function '{row.function_id}' is no longer registered")
            before = set(
                (await conn.execute(select(runs.c.id).where(runs.c.original_run_id == run_id)))
                .scalars()
                .all()
            )
            await self.machine.create_run(
                conn, fn, list(row.events), row.event_id, now=time.time(), original_run_id=run_id
            )
            after = (
                (await conn.execute(select(runs.c.id).where(runs.c.original_run_id == run_id)))
                .scalars()
                .all()
            )
        return str(next(r for r in after if r not in before))

    async def wait_for_run(self, run_id: str, *, timeout_s: float = 30.0) -> Mapping[str, Any]:
        """Poll until the run ends (for the CLI and tests); raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            async with self.db.read() as conn:
                row = (await conn.execute(select(runs).where(runs.c.id == run_id))).first()
            if row is not None and row.status in TERMINAL:
                return dict(row._mapping)
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout_s}s")
            await asyncio.sleep(0.02)

    async def runs_for_event(self, event_id: str) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(runs.c.id).where(runs.c.event_id == event_id).order_by(runs.c.id)
            )
            return list(rows.scalars().all())

    # -- the loop --------------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        while True:
            try:
                async with self.db.write() as conn:
                    held = await self.lease.acquire(conn)
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
            timeout = self.config.poll_interval_s
            if self.is_leader:
                try:
                    timeout = await self._claim_due()
                except Exception as exc:
                    log.error("queue_poll_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.001, timeout))

    async def _claim_due(self) -> float:
        """Start tasks for due jobs; returns how long the loop may sleep."""
        now = time.time()
        exclude = set(self._claimed) | set(self._blocked)
        free = self.config.max_inflight - len(self._claimed)
        async with self.db.read() as conn:
            due = await jobs.due_jobs(conn, now=now, exclude=exclude, limit=max(free, 0))
            for job in due:
                exclude.add(job.id)
            next_at = await jobs.next_due_at(conn, exclude=exclude)
        for job in due:
            self._claimed[job.id] = asyncio.create_task(self._run_job(job))
        if next_at is None:
            return self.config.poll_interval_s
        return min(self.config.poll_interval_s, max(0.0, next_at - time.time()))

    async def _run_job(self, job: jobs.Job) -> None:
        try:
            if job.kind == jobs.CALL:
                await self._call(job)
            else:
                async with self._write() as conn:
                    await self._timer(conn, job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The job stays queued: log and retry it shortly, never crash the loop.
            log.exception("job_failed", job_id=job.id, kind=job.kind, error=str(exc))
            with contextlib.suppress(Exception):
                async with self._write() as conn:
                    await jobs.reschedule(conn, job.id, available_at=time.time() + 1.0)
        finally:
            self._claimed.pop(job.id, None)
            self._wake.set()

    async def _timer(self, conn: AsyncConnection, job: jobs.Job) -> None:
        """Jobs that need no call: wake-ups, timeouts and debounce firings."""
        if not await jobs.delete_job(conn, job.id):
            return  # cancelled since it was claimed (a debounce re-armed, a run started)
        data = job.data or {}
        if job.kind == jobs.DEBOUNCE:
            await self.machine.fire_debounce(conn, str(data["key"]), time.time())
            return
        run = await load_run(conn, str(job.run_id))
        if run is None or run.status != RUNNING:
            return
        if job.kind == jobs.RESUME:
            step_id = str(data["step_id"])
            await conn.execute(
                waits.delete().where(waits.c.run_id == run.id, waits.c.step_id == step_id)
            )
            await self.machine.record_memo(
                conn, run, step_id, data.get("memo"), time.time(), status="completed"
            )
            await run.save(conn)
        elif job.kind == jobs.TIMEOUT:
            which = data.get("which")
            if which == "finish" or run.started_at is None:
                await self.machine.finalize(
                    conn,
                    run,
                    CANCELLED,
                    error={
                        "name": "FunctionCancelledError",
                        "message": f"function cancelled ({which} timeout)",
                    },
                )

    async def _call(self, job: jobs.Job) -> None:
        async with self.db.read() as conn:
            run = await load_run(conn, str(job.run_id), lock=False)
            memo_rows = (
                await conn.execute(
                    select(steps.c.step_id, steps.c.memo)
                    .where(steps.c.run_id == job.run_id, steps.c.has_memo.is_(True))
                    .order_by(steps.c.position)
                )
            ).all()
        if run is None or run.status != RUNNING:
            async with self._write() as conn:
                await jobs.delete_job(conn, job.id)
            return
        fn = self.registry.get(run.function_id)
        if fn is None:
            async with self._write() as conn:
                locked = await load_run(conn, run.id)
                if locked is not None and locked.status == RUNNING:
                    await self.machine.finalize(
                        conn,
                        locked,
                        FAILED,
                        error={
                            "name": "FunctionNotFoundError",
                            "message": f"function '{run.function_id}' is not registered (re-sync?)",
                        },
                    )
            return
        first_call = run.started_at is None and not (job.data or {}).get("throttled")
        if first_call and fn.throttle and await self._throttled(job, run.event, fn):
            return
        full = self.slots.try_acquire(run.concurrency_keys)
        if full is not None:
            self._blocked[job.id] = full
            return
        try:
            if run.started_at is None and fn.start_timeout_s is not None:
                async with self._write() as conn:  # the first call starts in time
                    await jobs.delete_by_key(conn, f"{run.id}:start-timeout")
            outcome, started, ended = await self._send(job, run, fn, memo_rows)
        finally:
            self.slots.release(run.concurrency_keys)
            self._unblock(run.concurrency_keys)
        async with self._write() as conn:
            current = await load_run(conn, run.id)
            if current is None or current.status != RUNNING:
                await jobs.delete_job(conn, job.id)
                return
            record = CallRecord(job=job, started_at=started, ended_at=ended)
            await apply_outcome(
                conn, self.machine, self.config.backoff, current, fn, record, outcome
            )

    async def _throttled(self, job: jobs.Job, event: Mapping[str, Any], fn: FunctionDef) -> bool:
        """Reserve the run's start slot; returns True when the start was postponed."""
        throttle = fn.throttle
        assert throttle is not None
        now = time.time()
        async with self._write() as conn:
            start_at = await gcra_reserve(
                conn,
                f"throttle:{fn.id}:{evaluate_key(throttle.key, event)}",
                limit=throttle.limit,
                period_s=throttle.period_s,
                burst=throttle.burst,
                now=now,
            )
            if start_at <= now:
                await jobs.reschedule(conn, job.id, available_at=now, data={"throttled": True})
                return False
            await jobs.reschedule(conn, job.id, available_at=start_at, data={"throttled": True})
        return True

    def _unblock(self, keys: Sequence[Sequence[Any]]) -> None:
        names = {str(k) for k, _ in keys}
        for job_id in [j for j, k in self._blocked.items() if k in names]:
            del self._blocked[job_id]
        self._wake.set()

    async def _send(
        self, job: jobs.Job, run: Any, fn: Any, memo_rows: Sequence[Any]
    ) -> tuple[CallOutcome, float, float]:
        body, headers = build_request(
            run_id=run.id,
            events=run.events,
            memo={r.step_id: r.memo for r in memo_rows},
            stack=[r.step_id for r in memo_rows],
            attempt=job.attempt,
            max_attempts=fn.max_attempts,
            force_plan=run.force_plan,
            signing_key=self.config.signing_key,
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
        return outcome, started, time.time()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(600)
            if self.is_leader:
                try:
                    async with self.db.write() as conn:
                        await purge(
                            conn, older_than=time.time() - self.config.retention_days * 86400
                        )
                except Exception as exc:
                    log.error("retention_failed", error=str(exc))
