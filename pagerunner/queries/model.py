"""The query domain: statuses, legal transitions, the `Query` record and its errors.

Nothing here touches a database: every state change is a method on the frozen
`Query` that checks the transition table and returns the changed copy, so the
store only reads a row, applies one of these and writes the result back.

QueryError
├── QueryNotFound       no query has this id
├── InvalidTransition   the change is not legal from the current status
│   └── QueryNotRunning a page arrived for a query that is no longer running
├── PageOutOfOrder      a page is not the one the checkpoint expects
└── StoreError          the database failed (SQLAlchemy errors are translated to this)

Each class's docstring is its default message.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pagerunner.sources.base import Checkpoint

__all__ = [
    "TRANSITIONS",
    "InvalidTransition",
    "PageLog",
    "PageOutOfOrder",
    "PageSaved",
    "Query",
    "QueryError",
    "QueryNotFound",
    "QueryNotRunning",
    "QueryStatus",
    "StoreError",
    "check_transition",
    "new_id",
    "utcnow",
]


class QueryError(Exception):
    """The query operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class QueryNotFound(QueryError):
    """The query does not exist."""

    def __init__(self, query_id: str) -> None:
        super().__init__(f"query {query_id} does not exist")
        self.query_id = query_id


class InvalidTransition(QueryError):
    """The query cannot change to that status."""

    def __init__(self, current: QueryStatus, target: QueryStatus, message: str | None = None):
        super().__init__(message or f"cannot {_VERBS[target]} a {current} query")
        self.current = current
        self.target = target


class QueryNotRunning(InvalidTransition):
    """The query is not running, so its pages are not stored."""

    def __init__(self, current: QueryStatus) -> None:
        super().__init__(current, QueryStatus.RUNNING, f"cannot store a page of a {current} query")


class PageOutOfOrder(QueryError):
    """The page is not the next page of the query."""


class StoreError(QueryError):
    """The query store failed."""


class QueryStatus(StrEnum):
    """Where a query is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """No run is in progress or expected (it may still be resumed unless completed)."""
        return self in {QueryStatus.COMPLETED, QueryStatus.FAILED, QueryStatus.CANCELLED}


_S = QueryStatus

#: Every legal change of status. `pending -> paused` exists for a pause requested
#: before the run started; `-> pending` from paused, failed or cancelled is a resume.
TRANSITIONS: Mapping[QueryStatus, frozenset[QueryStatus]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.PAUSED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.COMPLETED, _S.FAILED, _S.PAUSED, _S.CANCELLED}),
    _S.PAUSED: frozenset({_S.PENDING, _S.CANCELLED}),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
    _S.COMPLETED: frozenset(),
}

# What moving to a status is called, for messages ("cannot resume a completed query").
_VERBS: Mapping[QueryStatus, str] = {
    _S.PENDING: "resume",
    _S.RUNNING: "start",
    _S.PAUSED: "pause",
    _S.COMPLETED: "complete",
    _S.FAILED: "fail",
    _S.CANCELLED: "cancel",
}


def check_transition(current: QueryStatus, target: QueryStatus) -> None:
    """Raise `InvalidTransition` unless `current -> target` is in `TRANSITIONS`."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ENTROPY_BITS = 80
_id_lock = threading.Lock()
_last_id = (-1, 0)


def new_id() -> str:
    """A fresh ULID: 26 Crockford base32 characters that sort by creation time.

    48 bits of Unix milliseconds then 80 random bits; ids made in the same
    millisecond by this process increment the previous entropy, so they stay ordered.
    """
    global _last_id
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        last_ms, last_entropy = _last_id
        if ms <= last_ms and last_entropy < (1 << _ENTROPY_BITS) - 1:
            ms, entropy = last_ms, last_entropy + 1
        else:
            entropy = secrets.randbits(_ENTROPY_BITS)
        _last_id = (ms, entropy)
    value = (ms << _ENTROPY_BITS) | entropy
    return "".join(_CROCKFORD[(value >> shift) & 0x1F] for shift in range(125, -1, -5))


def _capped_note(max_pages: int | None) -> str:
    return f"stopped at the page cap of {max_pages}; the source had more pages"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Query:
    """One query: what to fetch, how far it got and why it stopped.

    `checkpoint` is where the next page starts; `exhausted` says there is no next
    page (the source said so, or `max_pages`, the query's page cap, was reached;
    `note` then says the query stopped at the cap). `runs` counts the runs
    requested: 1 at creation, +1 for every resume. `run_id` names the durable run
    that started the query last (the engine's run id), so a stray second run can
    tell the query is not its own.
    """

    id: str
    source: str
    params: Mapping[str, Any]
    status: QueryStatus
    created_at: datetime
    updated_at: datetime
    pages_fetched: int = 0
    records_fetched: int = 0
    records_inserted: int = 0
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    exhausted: bool = False
    max_pages: int | None = None
    #: How the query ended when that is worth knowing: "stopped at the page cap of N".
    note: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    pause_reason: str | None = None
    resume_hint: str | None = None
    pause_requested: bool = False
    #: Attempts that failed with a transient error and were retried, over all runs.
    retries: int = 0
    last_error: str | None = None
    runs: int = 1
    run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Called when the query completes, fails or pauses (checked by `pagerunner.webhooks`).
    webhook: str | None = None
    #: A destination spec: the query's records are loaded there when it completes
    #: (checked by `pagerunner.destinations`; never holds a credential).
    deliver: str | None = None

    @classmethod
    def new(
        cls,
        source: str,
        params: Mapping[str, Any],
        *,
        max_pages: int | None = None,
        webhook: str | None = None,
        deliver: str | None = None,
        now: datetime | None = None,
    ) -> Query:
        """A pending query that starts at page 1."""
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        now = now or utcnow()
        return cls(
            id=new_id(),
            source=source,
            params=dict(params),
            status=QueryStatus.PENDING,
            created_at=now,
            updated_at=now,
            max_pages=max_pages,
            webhook=webhook,
            deliver=deliver,
        )

    @property
    def has_more(self) -> bool:
        """Whether a page is left to fetch."""
        return not self.exhausted

    def _moved(self, target: QueryStatus, now: datetime, **changes: Any) -> Query:
        check_transition(self.status, target)
        return replace(self, status=target, updated_at=now, **changes)

    def started(
        self, now: datetime, run_id: str | None = None, *, page_cap: int | None = None
    ) -> Query:
        """pending -> running, owned by `run_id`; `page_cap` becomes `max_pages` if it has none.

        A running query is returned unchanged, whoever asks: the start step may
        re-run, and a caller with another `run_id` sees that the query is not its own.
        """
        if self.status is QueryStatus.RUNNING:
            return self
        return self._moved(
            QueryStatus.RUNNING,
            now,
            run_id=run_id,
            max_pages=self.max_pages or page_cap,
            started_at=now,
            finished_at=None,
            error_code=None,
            error_message=None,
            pause_reason=None,
            resume_hint=None,
        )

    def continued(self, run_id: str, previous_run_id: str, now: datetime) -> Query:
        """The query handed over by run `previous_run_id` to run `run_id`, which owns it now.

        Only a running query owned by `previous_run_id` changes hands (a re-run of
        the step finds it owned by `run_id` already and returns it unchanged); any
        other query, pending included, is returned unchanged, so a stray run sees
        that the query is not its own. A pause requested during the hand-over
        pauses the query here instead of handing it over.
        """
        if self.status is not QueryStatus.RUNNING or self.run_id != previous_run_id:
            return self
        if self.pause_requested:
            return self.paused("paused by request", "resume to continue", now)
        return replace(self, run_id=run_id, updated_at=now)

    def completed(self, now: datetime) -> Query:
        """running -> completed."""
        return self._moved(QueryStatus.COMPLETED, now, finished_at=now, pause_requested=False)

    def failed(self, code: str, message: str, now: datetime) -> Query:
        """running -> failed, with the error's code and message."""
        return self._moved(
            QueryStatus.FAILED,
            now,
            finished_at=now,
            error_code=code,
            error_message=message,
            pause_requested=False,
        )

    def paused(self, reason: str, hint: str | None, now: datetime) -> Query:
        """running (or pending) -> paused, saying why and how to resume."""
        return self._moved(
            QueryStatus.PAUSED,
            now,
            pause_reason=reason,
            resume_hint=hint,
            pause_requested=False,
        )

    def cancelled(self, now: datetime) -> Query:
        """pending, running or paused -> cancelled."""
        return self._moved(QueryStatus.CANCELLED, now, finished_at=now, pause_requested=False)

    def asked_to_pause(self, now: datetime) -> Query:
        """Ask a running query to pause after its current page; pause a pending one at once."""
        if self.status is QueryStatus.RUNNING:
            return replace(self, pause_requested=True, updated_at=now)
        if self.status is QueryStatus.PENDING:
            return self.paused("requested", None, now)
        raise InvalidTransition(
            self.status, QueryStatus.PAUSED, f"cannot pause a {self.status} query"
        )

    def retried(self, error: str, now: datetime) -> Query:
        """A page attempt failed with a transient error and will be retried."""
        return replace(self, retries=self.retries + 1, last_error=error, updated_at=now)

    def resumed(self, now: datetime) -> Query:
        """paused, failed or cancelled -> pending, one more run, progress and checkpoint kept."""
        return self._moved(
            QueryStatus.PENDING,
            now,
            runs=self.runs + 1,
            pause_requested=False,
            pause_reason=None,
            resume_hint=None,
            error_code=None,
            error_message=None,
            finished_at=None,
        )

    def check_next_page(self, page_number: int, next_checkpoint: Checkpoint | None) -> None:
        """Raise unless `page_number` may be stored now and leads to `next_checkpoint`.

        The query must be running (`QueryNotRunning`), the page must be the one the
        checkpoint points at, and the next checkpoint must point at the page after it
        (`PageOutOfOrder`): page numbers are consecutive, whatever the cursor says.
        """
        if self.status is not QueryStatus.RUNNING:
            raise QueryNotRunning(self.status)
        if self.exhausted:
            raise PageOutOfOrder(f"query {self.id} has no page left to fetch")
        if page_number != self.checkpoint.page:
            raise PageOutOfOrder(
                f"page {page_number} is not the next page of query {self.id} "
                f"(next: {self.checkpoint.page})"
            )
        if next_checkpoint is not None and next_checkpoint.page != page_number + 1:
            raise PageOutOfOrder(
                f"page {page_number} must be followed by page {page_number + 1}, "
                f"not {next_checkpoint.page}"
            )

    def after_page(
        self,
        page_number: int,
        *,
        records: int,
        inserted: int,
        next_checkpoint: Checkpoint | None,
        now: datetime,
    ) -> Query:
        """The query once page `page_number` is stored: progress counted, checkpoint moved.

        The query is exhausted when the source has no next page or `max_pages` is
        reached; the checkpoint then points past the last page stored. Stopping at
        `max_pages` while the source had more is said in `note`.
        """
        self.check_next_page(page_number, next_checkpoint)
        reached_max = self.max_pages is not None and page_number >= self.max_pages
        capped = reached_max and next_checkpoint is not None
        return replace(
            self,
            pages_fetched=self.pages_fetched + 1,
            records_fetched=self.records_fetched + records,
            records_inserted=self.records_inserted + inserted,
            checkpoint=next_checkpoint or Checkpoint(page=page_number + 1),
            exhausted=next_checkpoint is None or reached_max,
            note=_capped_note(self.max_pages) if capped else self.note,
            updated_at=now,
        )

    def to_json(self) -> dict[str, Any]:
        """The query as JSON-ready data (timestamps in ISO 8601, UTC)."""
        return {
            "id": self.id,
            "source": self.source,
            "params": dict(self.params),
            "status": str(self.status),
            "pages_fetched": self.pages_fetched,
            "records_fetched": self.records_fetched,
            "records_inserted": self.records_inserted,
            "checkpoint": self.checkpoint.to_json(),
            "has_more": self.has_more,
            "max_pages": self.max_pages,
            "note": self.note,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "pause_reason": self.pause_reason,
            "resume_hint": self.resume_hint,
            "pause_requested": self.pause_requested,
            "retries": self.retries,
            "last_error": self.last_error,
            "runs": self.runs,
            "run_id": self.run_id,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "webhook": self.webhook,
            "deliver": {"destination": self.deliver} if self.deliver else None,
        }


@dataclass(frozen=True)
class PageLog:
    """One stored page: where it started and ended, what it brought, how long it took.

    `run_id` names the durable run that stored it (None for pages stored before it
    was recorded): a long query's pages are stored by a chain of runs.
    """

    page_number: int
    cursor_in: str | None
    cursor_out: str | None
    records: int
    inserted: int
    has_more: bool
    http_status: int | None
    duration_ms: int
    fetched_at: datetime
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "page_number": self.page_number,
            "cursor_in": self.cursor_in,
            "cursor_out": self.cursor_out,
            "records": self.records,
            "inserted": self.inserted,
            "has_more": self.has_more,
            "http_status": self.http_status,
            "duration_ms": self.duration_ms,
            "fetched_at": _iso(self.fetched_at),
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class PageSaved:
    """The outcome of storing a page.

    `next_checkpoint` is None when nothing is left to fetch (`has_more` False).
    `replayed` is True when the page had been stored already and nothing changed.
    """

    page_number: int
    records: int
    inserted: int
    has_more: bool
    next_checkpoint: Checkpoint | None
    query: Query
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "page_number": self.page_number,
            "records": self.records,
            "inserted": self.inserted,
            "has_more": self.has_more,
            "next_checkpoint": self.next_checkpoint.to_json() if self.next_checkpoint else None,
            "replayed": self.replayed,
            "query": self.query.to_json(),
        }
