"""What the pages show, computed from domain objects: no HTTP and no HTML here.

Templates get these small view objects so they only lay things out; every
value reaches the page through Jinja's autoescaping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..queries.model import TRANSITIONS, Query, QueryStatus, utcnow

__all__ = [
    "NOTICES",
    "Pager",
    "QueryView",
    "ResultsTable",
    "cell",
    "format_duration",
    "format_time",
    "params_text",
]

#: Messages after an action redirects back to a page (`?done=<key>`): fixed texts, never
#: anything taken from the URL.
NOTICES: Mapping[str, str] = {
    "created": "Query created and scheduled. This page updates itself every 3 seconds.",
    "resume": "Resumed: the query continues from its checkpoint.",
    "pause": "Pause requested: the page in flight finishes and is stored first.",
    "cancel": "Cancelled. The records fetched so far are kept.",
    "unscheduled": (
        "The query is saved, but the engine did not accept it; it is scheduled again "
        "when pagerunner restarts."
    ),
}


def format_time(value: datetime | None, now: datetime | None = None) -> str:
    """`14:03:22` for today (UTC), `2026-11-27 14:03` otherwise, `-` for none."""
    if value is None:
        return "-"
    now = now or utcnow()
    if value.date() == now.date():
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M")


def format_duration(seconds: float | None) -> str:
    """`850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`; `-` for none."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def params_text(params: Mapping[str, Any]) -> str:
    """`q: coffee · location: Austin, TX` (empty values left out)."""
    parts = [f"{k}: {cell(v)}" for k, v in params.items() if v not in (None, "")]
    return " · ".join(parts) or "(no parameters)"


def cell(value: Any) -> str:
    """A record value as table text: nested values as compact JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class QueryView:
    """A query as the pages show it."""

    query: Query
    now: datetime

    @property
    def id(self) -> str:
        return self.query.id

    @property
    def status(self) -> str:
        return str(self.query.status)

    @property
    def params(self) -> str:
        return params_text(self.query.params)

    @property
    def total_pages(self) -> int | None:
        """Known once the last page is in, or when the query is capped by `max_pages`."""
        if not self.query.has_more:
            return self.query.pages_fetched
        return self.query.max_pages

    @property
    def running(self) -> bool:
        return self.query.status in (QueryStatus.PENDING, QueryStatus.RUNNING)

    @property
    def progress_text(self) -> str:
        q = self.query
        total = self.total_pages
        pages = f"{q.pages_fetched} of {total}" if total is not None else str(q.pages_fetched)
        return f"{pages} pages · {q.records_fetched} records ({q.records_inserted} new)" + (
            " · more to fetch" if q.has_more and not self.running else ""
        )

    @property
    def duration(self) -> str:
        q = self.query
        if q.started_at is None:
            return "-"
        if q.finished_at is not None:
            end = q.finished_at
        elif q.status is QueryStatus.RUNNING:
            end = self.now
        else:  # paused or pending again: the time it ran until it stopped
            end = q.updated_at
        return format_duration(max(0.0, (end - q.started_at).total_seconds()))

    @property
    def can_resume(self) -> bool:
        return QueryStatus.PENDING in TRANSITIONS[self.query.status]

    @property
    def can_pause(self) -> bool:
        return self.running and not self.query.pause_requested

    @property
    def can_cancel(self) -> bool:
        return QueryStatus.CANCELLED in TRANSITIONS[self.query.status]

    @property
    def summary(self) -> str:
        """One sentence for screen readers when the query changes."""
        return f"Query {self.status}: {self.progress_text}."

    def time(self, value: datetime | None) -> str:
        return format_time(value, self.now)


@dataclass(frozen=True)
class Pager:
    """Offset paging: which items are shown and where the previous and next pages start."""

    offset: int
    limit: int
    total: int

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    @property
    def previous(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None


@dataclass(frozen=True)
class ResultsTable:
    """A page of records as rows under the union of their fields (in first-seen order)."""

    columns: Sequence[str]
    rows: Sequence[tuple[int | None, Sequence[str]]]

    @classmethod
    def of(cls, items: Sequence[Mapping[str, Any]]) -> ResultsTable:
        columns: dict[str, None] = {}
        for item in items:
            columns.update(dict.fromkeys(item.get("data") or {}))
        rows = [
            (item.get("page"), [cell((item.get("data") or {}).get(c)) for c in columns])
            for item in items
        ]
        return cls(columns=list(columns), rows=rows)
