"""The Inngest client and the `execute-query` function.

This is the only module that joins queries and sources into a durable loop.
Each page is one step that fetches the page *and* stores its records, progress
and next checkpoint in one transaction; re-running a page step after it
committed changes nothing. Between pages the function sleeps durably, or, for a
short delay, the next page step waits it out in place (`Settings.inline_delay_s`).

A run stores at most `Settings.pages_per_run` pages, then hands the query over
to a new run (`continue_event`), so that no run nears Inngest's 1,000 steps and
no call replays more than a bounded number of memos; docs/queries.md counts the
steps of a page and of a run.

A run that ends with the query completed, failed or paused calls the query's
webhook and then its combo's (`_notify`), each from a step of its own, so a
delivery is retried with the step's backoff and survives a restart. A completed
query that names a destination sends `query/deliver.requested` from a step: the
`deliver-query` function (`destinations.delivery`) loads its records there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import inngest
import structlog

from .destinations.delivery import QueryDelivery, create_deliver_function, deliver_event
from .inplace import waiting_in_place
from .metrics import QueryMetrics
from .queries.credentials import BudgetExceeded, CredentialLimiter
from .queries.model import InvalidTransition, Query, QueryNotRunning, QueryStatus
from .queries.store import QueryStore
from .settings import Settings
from .sources.base import (
    BadRequestError,
    Page,
    RateLimitedError,
    Source,
    SourceError,
    TransientError,
)
from .sources.registry import SourceRegistry
from .webhooks import WebhookNotifier

__all__ = [
    "CANCEL_EVENT",
    "EXECUTE_EVENT",
    "QueryRunner",
    "continue_event",
    "create_client",
    "create_functions",
    "execute_event",
    "page_cap",
]

log = structlog.get_logger("pagerunner.functions")

EXECUTE_EVENT = "query/execute.requested"
CANCEL_EVENT = "query/execute.cancelled"
CANCELLED_FUNCTION_ID = "query-cancelled"
FUNCTION_ID = "execute-query"
STEP_RETRIES = 3
#: A reserved slot at most this far ahead is waited for inside the page step; a later
#: one is slept for durably (a step of its own), so a waiting query holds no worker long.
INLINE_SLOT_WAIT_S = 1.0
#: The durable sleep between two pages ends this much before the next page is due (a
#: tenth of the delay at most); the page step waits out the rest before it fetches, so
#: the wake-up's own latency is not added to every page (see `_delay`).
WAKE_LEAD_S = 0.1
#: The most steps one page takes: a page step that reserves a later slot, the durable
#: sleep until it, the page step that fetches, and the delay (or rate-limit wait) after it.
STEPS_PER_PAGE = 4
#: The hand-over of a query whose run memo predates `pages_per_run`.
DEFAULT_PAGES_PER_RUN = 100
#: How long every query on a credential backs off after a 429 that gave no time.
DEFAULT_BACKOFF_S = 5.0
#: The ends of a run that call webhooks (a cancel does not; a hand-over is no end).
NOTIFIED = frozenset({"completed", "failed", "paused"})


#: The `priority.run` factor (seconds) of a query started on its own, and of a combo's
#: queries: when calls queue in the engine, someone waiting for a query's first page
#: goes ahead of combo work that became due up to a minute before.
PRIORITY_SINGLE_S = 60
PRIORITY_COMBO_S = 0


def execute_event(query_id: str, runs: int, priority: int = PRIORITY_SINGLE_S) -> inngest.Event:
    """The event that starts run number `runs` of a query; its id makes a re-send harmless."""
    return inngest.Event(
        name=EXECUTE_EVENT,
        data={"queryId": query_id, "priority": priority},
        id=f"{query_id}:{runs}",
    )


def continue_event(query_id: str, previous_run_id: str, priority: int) -> inngest.Event:
    """The event of the run that continues a query after run `previous_run_id` handed it over.

    Its id derives from that run, which hands over once: a re-send is deduplicated
    (for 24 h, by Inngest and by the embedded executor alike).
    """
    return inngest.Event(
        name=EXECUTE_EVENT,
        data={"queryId": query_id, "previousRunId": previous_run_id, "priority": priority},
        id=f"{query_id}:after:{previous_run_id}",
    )


def page_cap(source: Source, settings: Settings, requested: int | None = None) -> int:
    """The most pages a query on `source` fetches: `requested`, else the source's own cap,
    else `PAGERUNNER_DEFAULT_MAX_PAGES`; never more than `PAGERUNNER_MAX_PAGES_CEILING`.

    A request above the ceiling raises `BadRequestError` naming `max_pages`; the
    source's cap and the default are lowered to the ceiling silently.
    """
    ceiling = settings.max_pages_ceiling
    if requested is not None and requested > ceiling:
        raise BadRequestError(
            f"max_pages: at most {ceiling} pages per query (PAGERUNNER_MAX_PAGES_CEILING)"
        )
    # A Python source written before page caps existed has no `max_pages`.
    own = requested or getattr(source, "max_pages", None) or settings.default_max_pages
    return min(own, ceiling)


def create_client(settings: Settings) -> inngest.Inngest:
    """The SDK client: the embedded executor by default, a real Inngest when configured."""
    if settings.engine == "embedded":
        # With a token, the SDK and the executor sign and check every call, as on Inngest Cloud.
        origin = settings.executor_origin
        keys = settings.signed_keys
        return inngest.Inngest(
            app_id=settings.app_id,
            is_production=keys is not None,
            signing_key=keys.signing_key if keys else None,
            event_key=keys.event_key if keys else None,
            api_base_url=origin,
            event_api_base_url=origin,
        )
    # The SDK reads INNGEST_DEV / INNGEST_EVENT_KEY / INNGEST_SIGNING_KEY itself.
    return inngest.Inngest(app_id=settings.app_id)


class QueryRunner:
    """The step bodies of execute-query: each is safe to run more than once."""

    def __init__(
        self,
        store: QueryStore,
        sources: SourceRegistry,
        settings: Settings,
        metrics: QueryMetrics,
    ) -> None:
        self.store = store
        self.sources = sources
        self.settings = settings
        self.metrics = metrics
        self.limiter = CredentialLimiter(store.database)
        self.webhooks = WebhookNotifier(store, settings)
        self.delivery = QueryDelivery(store, settings)

    async def start(
        self, query_id: str, run_id: str, previous_run_id: str | None = None
    ) -> dict[str, Any]:
        """Claim the query for run `run_id`: a new run takes a pending query; a run that
        continues one (`previous_run_id`, from a hand-over) takes it from that run."""
        if previous_run_id:
            query = await self.store.continue_run(query_id, previous_run_id, run_id)
        else:
            query = await self.store.start(query_id, run_id, page_cap=await self._cap(query_id))
        if query.status != QueryStatus.RUNNING or query.run_id != run_id:
            # A pause requested during a hand-over pauses the query here, in this run.
            paused_here = (
                previous_run_id is not None
                and query.status == QueryStatus.PAUSED
                and query.run_id == previous_run_id
            )
            targets = await self.webhooks.targets(query) if paused_here else {}
            return {"go": False, "status": query.status.value, "pausedHere": paused_here, **targets}
        log.info(
            "query_starting",
            queryId=query_id,
            source=query.source,
            page=query.checkpoint.page,
            maxPages=query.max_pages,
            continuing=previous_run_id is not None,
        )
        source = self.sources.get(query.source)
        return {
            "go": True,
            "page": query.checkpoint.page,
            "delay_s": source.page_delay_s,
            "paced": bool(source.limits.windows),  # pages take slots of the credential
            "exhausted": query.exhausted,
            # In the memo, so that a replay hands over where the first execution did.
            "pages_per_run": self.settings.pages_per_run,
            "inline_delay_s": self.settings.page_delay_inline_s,
            **await self.webhooks.targets(query),
        }

    async def _cap(self, query_id: str) -> int | None:
        """The page cap for a query saved without one (before caps existed), else None."""
        query = await self.store.get(query_id)
        if query.max_pages is not None or query.source not in self.sources.names():
            return None
        return page_cap(self.sources.get(query.source), self.settings)

    async def page(
        self,
        query_id: str,
        page_number: int,
        take_slot: bool = False,
        not_before: float | None = None,
    ) -> dict[str, Any]:
        """Fetch one page and store it; returns what the loop should do next.

        The page waits here until `not_before` (epoch seconds: the end of the page
        delay, which the loop's durable sleep ends a little early) before anything
        else, so its request never leaves sooner than the delay allows.

        With `take_slot` (a paced source), the page first reserves its request
        slot of the credential (`CredentialLimiter.reserve`). A slot at most
        `INLINE_SLOT_WAIT_S` away is waited for here, so the usual page costs one
        step, not a reservation step and a page step; a later slot is returned
        (`{"next": "slot", "at": ...}`) for the loop to sleep until durably, and
        the page step after that sleep does not reserve again: the slot is held.

        The loop asks for a slot on a page step's first attempt only. A retry
        (after a transient error) does not reserve again, exactly as the separate
        reservation step's memo was reused by retries before: the retried request
        still passes `claim`, whose window over the credential's real sends keeps
        every query within the limit, so no query takes a second slot for one
        page while others wait their turn. A page step re-run after a crash
        (same attempt) reserves again: that wastes at most one slot, never lets a
        request exceed the limit.
        """
        await _sleep_until(not_before)
        query = await self.store.get(query_id)
        if query.status != QueryStatus.RUNNING:
            return {"next": "stop", "status": query.status.value}
        if query.checkpoint.page != page_number:  # committed before: this is a re-run
            return {"next": "done" if query.exhausted else "continue"}
        source = self.sources.get(query.source)
        if take_slot and (at := await self._slot(source)) is not None:
            return {"next": "slot", "at": at}
        try:
            claim = await self.limiter.claim(
                source.credential_id,
                source.limits.windows,
                daily_budget=source.limits.daily_budget,
                monthly_budget=source.limits.monthly_budget,
            )
        except BudgetExceeded as exc:
            await self.store.fail(query_id, exc.code, str(exc))
            log.warning("query_failed", queryId=query_id, error=str(exc), errorCode=exc.code)
            return {"next": "stop", "status": "failed"}
        if not claim.go:  # the credential is busy or backing off: wait, then take a new slot
            return {"next": "wait", "wait_s": claim.wait_s}
        started = time.perf_counter()
        left_at = time.time()
        try:
            page = await self._fetch(query, source)
        except TransientError as exc:
            await self.store.note_retry(query_id, exc.message)
            raise  # the engine retries the step with backoff
        except RateLimitedError as exc:
            return await self._rate_limited(query_id, source, exc)
        except SourceError as exc:
            await self.store.fail(query_id, exc.code, exc.message)
            log.warning("query_failed", queryId=query_id, error=exc.message, errorCode=exc.code)
            return {"next": "stop", "status": "failed"}
        finally:
            await self.limiter.sent(source.credential_id, claim, left_at)
        answered_at = time.time()
        duration_ms = round((time.perf_counter() - started) * 1000)
        if page.rate_limit is not None and await self.limiter.observe(
            source.credential_id, page.rate_limit.remaining, page.rate_limit.reset_at
        ):
            self.metrics.backoffs.labels(source.credential_id, "window_spent").inc()
        try:
            saved = await self.store.save_page(
                query_id,
                page_number,
                page,
                cursor_in=query.checkpoint.cursor,
                duration_ms=duration_ms,
            )
        except QueryNotRunning:  # cancelled or paused while the page was in flight
            return {"next": "stop", "status": (await self.store.get(query_id)).status.value}
        self.metrics.stored(query.source, saved)
        log.info(
            "page_executed",
            queryId=query_id,
            pageNumber=page_number,
            insertedCount=saved.inserted,
            records=saved.records,
        )
        if saved.query.pause_requested and saved.has_more:
            await self.store.pause(query_id, "paused by request", "resume to continue")
            return {"next": "stop", "status": "paused"}
        return {
            "next": "continue" if saved.has_more else "done",
            "inserted": saved.inserted,
            "sent_at": left_at,
            "answered_at": answered_at,  # the delay before the next page counts from it
        }

    async def _fetch(self, query: Query, source: Source) -> Page:
        """Fetch the query's next page, counting the provider's answer by HTTP status."""
        credentials = self.sources.credentials(query.source)
        started = time.perf_counter()
        try:
            page = await source.fetch_page(query.params, query.checkpoint, credentials)
        except SourceError as exc:
            self.metrics.answered(query.source, exc.http_status, time.perf_counter() - started)
            raise
        self.metrics.answered(query.source, page.http_status, time.perf_counter() - started)
        return page

    async def _slot(self, source: Source) -> float | None:
        """Reserve the page's slot; wait for it here if it is near, else return when it is."""
        at = await self.limiter.reserve(source.credential_id, source.limits.windows)
        wait = at - time.time()
        if wait > INLINE_SLOT_WAIT_S:
            return at
        await _sleep_until(at)
        return None

    async def _rate_limited(
        self, query_id: str, source: Source, exc: RateLimitedError
    ) -> dict[str, Any]:
        now = time.time()
        wait = exc.retry_after_s
        if wait is None and exc.reset_at is not None:
            wait = max(0.0, exc.reset_at - now)
        # Every query on this credential backs off, not only the one that was refused.
        self.metrics.backoffs.labels(source.credential_id, "rate_limited").inc()
        await self.limiter.block(
            source.credential_id,
            now + (wait if wait is not None else DEFAULT_BACKOFF_S),
            f"the provider answered 429: {exc.message}",
        )
        max_wait = source.max_wait_s or self.settings.max_rate_limit_wait_s
        if wait is not None and wait <= max_wait:
            self.metrics.rate_limited.labels(source.credential_id, "wait").inc()
            log.info("rate_limited_waiting", queryId=query_id, wait_s=wait)
            return {"next": "wait", "wait_s": max(wait, 1.0)}
        self.metrics.rate_limited.labels(source.credential_id, "pause").inc()
        reason = f"rate limited by the provider: {exc.message}"
        if wait is None or not self.settings.auto_resume:
            hint = f"retry after {round(wait)} s" if wait is not None else "resume later"
            await self.store.pause(query_id, reason, hint)
            log.warning("query_paused", queryId=query_id, reason=exc.message)
            return {"next": "stop", "status": "paused"}
        resume_at = now + wait
        at = datetime.datetime.fromtimestamp(resume_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        query = await self.store.pause(query_id, reason, f"automatically at {at}, or now")
        log.warning("query_paused", queryId=query_id, reason=exc.message, resumeAt=at)
        return {"next": "stop", "status": "paused", "resume_at": resume_at, "runs": query.runs}

    async def auto_resume(self, query_id: str, runs: int) -> dict[str, Any]:
        """Resume a query paused by a rate limit, unless someone resumed or cancelled it since."""
        query = await self.store.get(query_id)
        if query.status != QueryStatus.PAUSED or query.runs != runs:
            return {"resumed": False, "status": query.status.value}
        try:
            query = await self.store.resume(query_id)
        except InvalidTransition:  # resumed or cancelled a moment ago
            return {"resumed": False, "status": (await self.store.get(query_id)).status.value}
        log.info("query_resumed", queryId=query_id, runs=query.runs, automatic=True)
        return {"resumed": True, "status": query.status.value, "runs": query.runs}

    async def complete(self, query_id: str) -> dict[str, Any]:
        """running -> completed; with `deliver` (the destination's key) when it names one."""
        try:
            query = await self.store.complete(query_id)
        except InvalidTransition:  # completed already when the step re-runs after a crash
            query = await self.store.get(query_id)
        else:
            log.info(
                "query_completed",
                queryId=query_id,
                pages=query.pages_fetched,
                inserted=query.records_inserted,
            )
        if query.status != QueryStatus.COMPLETED or not query.deliver:
            return {"status": query.status.value}
        return {"status": query.status.value, "deliver": self.delivery.destination_key(query)}

    async def fail(self, query_id: str, message: str) -> dict[str, Any]:
        with contextlib.suppress(InvalidTransition):
            await self.store.fail(query_id, "transient_error", message)
        log.warning("query_failed", queryId=query_id, error=message, errorCode="transient_error")
        return {"status": "failed"}


def create_functions(client: inngest.Inngest, runner: QueryRunner) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Execute query",
        trigger=inngest.TriggerEvent(event=EXECUTE_EVENT),
        retries=STEP_RETRIES,
        concurrency=[inngest.Concurrency(limit=1, key="event.data.queryId")],
        priority=inngest.Priority(run="event.data.priority"),
        cancel=[
            inngest.Cancel(event=CANCEL_EVENT, if_exp="async.data.queryId == event.data.queryId")
        ],
    )
    async def execute_query(ctx: inngest.Context) -> dict[str, Any]:
        query_id = str(ctx.event.data["queryId"])
        previous = ctx.event.data.get("previousRunId")
        begin = await ctx.step.run(
            "start", runner.start, query_id, ctx.run_id, str(previous) if previous else None
        )
        if not begin["go"]:
            if begin.get("pausedHere"):
                await _notify(ctx, runner, query_id, begin, "paused")
            return {"queryId": query_id, "status": begin["status"], "skipped": True}
        return await _page_loop(ctx, runner, query_id, begin)

    @client.create_function(
        fn_id=CANCELLED_FUNCTION_ID,
        name="Query cancelled",
        trigger=inngest.TriggerEvent(event=CANCEL_EVENT, expression="event.data.cancelled"),
        retries=STEP_RETRIES,
    )
    async def query_cancelled(ctx: inngest.Context) -> dict[str, Any]:
        """A cancelled query may be the last of its combo to end: the combo's webhook is
        then called from here (the query's own run was cancelled, its steps with it)."""
        query_id = str(ctx.event.data["queryId"])
        last = ctx.attempt >= STEP_RETRIES
        return await ctx.step.run(
            "combo-webhook", runner.webhooks.combo_event_after_cancel, query_id, ctx.run_id, last
        )

    return [
        execute_query,
        query_cancelled,
        create_deliver_function(client, runner.delivery, STEP_RETRIES),
    ]


@dataclass
class _Share:
    """What one run has spent of its share of a query: pages stored and steps taken.

    The share is spent after `pages_per_run` pages, or after `STEPS_PER_PAGE`
    steps per page of it (waits for slots and rate limits count), whichever
    comes first; the run then hands the query over to a new run.
    """

    pages_per_run: int
    pages: int = 0
    steps: int = 1  # the start step

    @property
    def spent(self) -> bool:
        return self.pages >= self.pages_per_run or self.steps >= STEPS_PER_PAGE * self.pages_per_run


async def _page_loop(
    ctx: inngest.Context, runner: QueryRunner, query_id: str, begin: dict[str, Any]
) -> dict[str, Any]:
    page_number, tries = int(begin["page"]), 0
    paced = bool(begin.get("paced", True))  # runs started before "paced" existed took slots
    share = _Share(int(begin.get("pages_per_run", DEFAULT_PAGES_PER_RUN)))
    take_slot, not_before = paced, None
    while not begin["exhausted"]:
        if share.spent and take_slot == paced:  # never while holding a reserved slot
            await _sleep_until(not_before)  # the next run's first page must not leave early
            return await _hand_over(ctx, query_id, page_number)
        step_id = f"page-{page_number}-{tries}" if tries else f"page-{page_number}"
        try:
            result = await ctx.step.run(
                step_id,
                runner.page,
                query_id,
                page_number,
                take_slot and ctx.attempt == 0,
                not_before,
            )
        except inngest.StepError as err:  # retries exhausted on a transient error
            failed = await ctx.step.run("fail", runner.fail, query_id, err.message)
            await _notify(ctx, runner, query_id, begin, failed["status"])
            return failed
        share.steps += 1
        if result["next"] in ("slot", "wait"):
            tries += 1
            share.steps += await _wait(ctx, page_number, tries, result)
            take_slot = result["next"] == "wait" and paced  # after its slot, it holds it
            continue
        if result["next"] == "stop":
            if "resume_at" in result:
                await _notify(ctx, runner, query_id, begin, "paused")
                return await _resume_later(ctx, runner, query_id, result)
            await _notify(ctx, runner, query_id, begin, result["status"])
            return {"queryId": query_id, "status": result["status"]}
        if result["next"] == "done":
            break
        page_number, tries, take_slot = page_number + 1, 0, paced
        share.pages += 1
        if begin["delay_s"] > 0:
            not_before, steps = await _delay(ctx, page_number, begin, result.get("answered_at"))
            share.steps += steps
    final = await ctx.step.run("complete", runner.complete, query_id)
    if "deliver" in final:  # the load is a run of deliver-query, one per destination at a time
        load_id = f"{query_id}.{ctx.run_id}"
        await ctx.step.send_event("deliver", deliver_event(query_id, load_id, final["deliver"]))
    await _notify(ctx, runner, query_id, begin, final["status"])
    return {"queryId": query_id, **final}


async def _notify(
    ctx: inngest.Context, runner: QueryRunner, query_id: str, begin: dict[str, Any], status: str
) -> None:
    """Call the query's webhook, then its combo's, each from a durable step.

    A delivery whose retries are spent is recorded as failed on the query's (or
    the combo's) page; it does not change how the run ends.
    """
    if status not in NOTIFIED:
        return
    last = ctx.attempt >= STEP_RETRIES
    with contextlib.suppress(inngest.StepError):
        if begin.get("webhook"):
            await ctx.step.run(
                "webhook", runner.webhooks.query_event, query_id, status, ctx.run_id, last
            )
    with contextlib.suppress(inngest.StepError):
        if begin.get("comboWebhook"):
            await ctx.step.run(
                "combo-webhook", runner.webhooks.combo_event, query_id, ctx.run_id, last
            )


async def _delay(
    ctx: inngest.Context, page_number: int, begin: dict[str, Any], answered_at: float | None
) -> tuple[float | None, int]:
    """The page delay after a page: returns when it ends (the next page step waits
    for it) and the steps it took.

    Counted from the answer (the page step's memo), not from when the delay is
    reached: the call that reaches it and the wake-up after it take time of their
    own, and a busy executor would otherwise add that time to every page.

    A delay up to the run's `inline_delay_s` takes no step: the next page step
    waits all of it out in place. A longer one is slept durably until
    `WAKE_LEAD_S` (a tenth of the delay at most) before it ends: the wake-up and
    the call into the page step happen within that lead, and the page step waits
    out what is left. A page memo from before `answered_at` existed sleeps the
    whole delay from when the sleep is reached, and returns None (a replay would
    read a later clock: nothing is left to wait out).
    """
    delay_s = float(begin["delay_s"])
    due = None if answered_at is None else answered_at + delay_s
    if due is not None and delay_s <= begin.get("inline_delay_s", 0):
        return due, 0
    until = time.time() + delay_s if due is None else due - min(WAKE_LEAD_S, delay_s / 10)
    await ctx.step.sleep_until(f"delay-{page_number}", datetime.datetime.fromtimestamp(until, UTC))
    return due, 1


async def _sleep_until(at: float | None) -> None:
    """Wait in place (not durably) until `at`, epoch seconds; None: do not wait.

    The embedded executor does not count the call as in flight meanwhile.
    """
    if at is not None and (left := at - time.time()) > 0:
        async with waiting_in_place():
            await asyncio.sleep(left)


async def _wait(ctx: inngest.Context, page_number: int, tries: int, result: dict[str, Any]) -> int:
    """Sleep durably until a reserved slot, or while the credential is busy; returns the steps.

    A busy credential that gave no time (its queue is long) is asked again at once.
    """
    if result["next"] == "slot":
        await ctx.step.sleep_until(
            f"slot-wait-{page_number}-{tries}", datetime.datetime.fromtimestamp(result["at"], UTC)
        )
        return 1
    if result["wait_s"] <= 0:
        return 0
    await ctx.step.sleep(
        f"rate-limit-wait-{page_number}-{tries}",
        datetime.timedelta(seconds=float(result["wait_s"])),
    )
    return 1


async def _hand_over(ctx: inngest.Context, query_id: str, page_number: int) -> dict[str, Any]:
    """End this run and continue the query in a new one, from its checkpoint.

    The event names this run; its id is derived from it, so a re-sent hand-over
    (the step ran again after a crash) is the same event and starts no second
    run. The new run's `start` takes the query over only while this run still
    owns it (see `QueryRunner.start`).
    """
    event = continue_event(query_id, ctx.run_id, _priority(ctx))
    await ctx.step.send_event(f"hand-over-{page_number}", event)
    log.info("query_handed_over", queryId=query_id, runId=ctx.run_id, page=page_number)
    return {"queryId": query_id, "status": "running", "handedOverAtPage": page_number}


async def _resume_later(
    ctx: inngest.Context, runner: QueryRunner, query_id: str, paused: dict[str, Any]
) -> dict[str, Any]:
    """Sleep until the provider's rate limit resets, then start the query's next run.

    A user who resumes the query sooner cancels this run (see `Services.resume`).
    """
    await ctx.step.sleep_until(
        "auto-resume-wait", datetime.datetime.fromtimestamp(paused["resume_at"], UTC)
    )
    resumed = await ctx.step.run("auto-resume", runner.auto_resume, query_id, paused["runs"])
    if resumed["resumed"]:
        event = execute_event(query_id, resumed["runs"], _priority(ctx))
        await ctx.step.send_event("auto-resume-send", event)
    return {"queryId": query_id, "status": resumed["status"]}


def _priority(ctx: inngest.Context) -> int:
    """The run's priority factor, passed on to the run that continues its query
    (0 for events sent before queries had one)."""
    value = ctx.event.data.get("priority")
    return value if isinstance(value, int) else PRIORITY_COMBO_S
