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

from ..queries.model import TRANSITIONS, PageLog, Query, QueryStatus, utcnow

__all__ = [
    "COMBO_NOTICES",
    "NOTICES",
    "Budget",
    "ComboView",
    "Pager",
    "QueryView",
    "ResultsTable",
    "RunChain",
    "RunSpan",
    "UsageRow",
    "cell",
    "format_duration",
    "format_time",
    "params_text",
    "unique_lines",
]

#: Messages after an action redirects back to a page (`?done=<key>`): fixed texts, never
#: anything taken from the URL.
NOTICES: Mapping[str, str] = {
    "created": "Query created and scheduled. This page updates itself every 3 seconds.",
    "resume": "Resumed: the query continues from its checkpoint.",
    "pause": "Pause requested: the page in flight finishes and is stored first.",
    "cancel": "Cancelled. The records fetched so far are kept.",
    "deliver": "Loading again: the stored records go to the destination; nothing is fetched.",
    "unscheduled": (
        "The query is saved, but the engine did not accept it; it is scheduled again "
        "when pagerunner restarts."
    ),
}


COMBO_NOTICES: Mapping[str, str] = {
    "created": (
        "Combo created and its queries scheduled. This page updates itself every 3 seconds."
    ),
    "unscheduled": (
        "The combo and its queries are saved, but the engine did not accept them all; "
        "the pending ones are scheduled again when pagerunner restarts."
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
        """Known once the last page is in; until then `max_pages` is only a ceiling."""
        return None if self.query.has_more else self.query.pages_fetched

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
class RunSpan:
    """One run of a query's chain: its number in the chain and the pages it stored."""

    number: int
    run_id: str
    first_page: int
    last_page: int
    url: str | None  # the run's page in the executor's dashboard, when the app knows it

    @property
    def pages(self) -> str:
        if self.first_page == self.last_page:
            return f"page {self.first_page}"
        return f"pages {self.first_page}-{self.last_page}"


@dataclass(frozen=True)
class RunChain:
    """The runs that stored a query's pages, in page order (a long query hands over from
    run to run; a resume starts another). Pages stored before run ids were kept have none."""

    spans: Sequence[RunSpan]

    @classmethod
    def of(cls, pages: Sequence[PageLog], run_url: str | None) -> RunChain:
        """`run_url` holds `{run_id}`, e.g. "http://127.0.0.1:8288/runs/{run_id}"."""
        spans: list[RunSpan] = []
        for page in pages:
            if page.run_id is None:
                continue
            last = spans[-1] if spans else None
            if last is not None and last.run_id == page.run_id:
                spans[-1] = RunSpan(
                    last.number, last.run_id, last.first_page, page.page_number, last.url
                )
                continue
            url = run_url.format(run_id=page.run_id) if run_url else None
            spans.append(
                RunSpan(len(spans) + 1, page.run_id, page.page_number, page.page_number, url)
            )
        return cls(spans)

    def of_page(self, page: PageLog) -> RunSpan | None:
        """The span of the run that stored `page`."""
        for span in self.spans:
            if span.run_id == page.run_id and span.first_page <= page.page_number <= span.last_page:
                return span
        return None


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


def unique_lines(text: str) -> list[str]:
    """A textarea's values: its non-empty lines, trimmed, each once, in order."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def combo_params_text(params: Mapping[str, Any]) -> str:
    """`location: Austin · q: coffee, tea`: each parameter with all its values."""
    parts = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        shown = [cell(v) for v in values if v not in (None, "")]
        if shown:
            parts.append(f"{key}: {', '.join(shown)}")
    return " · ".join(parts) or "(no parameters)"


@dataclass(frozen=True)
class ComboView:
    """A combo (`BatchStore.summary`) as its page shows it."""

    summary: Mapping[str, Any]
    now: datetime

    @property
    def id(self) -> str:
        return str(self.summary["id"])

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def params(self) -> str:
        return combo_params_text(self.summary["params"])

    @property
    def param_values(self) -> list[tuple[str, str]]:
        """Each parameter with its values as submitted: `("q", "coffee, tea")`."""
        items = []
        for key, value in self.summary["params"].items():
            values = value if isinstance(value, list) else [value]
            items.append((str(key), ", ".join(cell(v) for v in values)))
        return items

    @property
    def total(self) -> int:
        return len(self.summary["queries"])

    @property
    def completed(self) -> int:
        return int(self.summary["by_status"].get("completed", 0))

    @property
    def by_status(self) -> list[tuple[str, int]]:
        """How many queries are in each status, in the statuses' usual order."""
        counts = self.summary["by_status"]
        return [(str(s), int(counts[s])) for s in QueryStatus if counts.get(s)]

    @property
    def progress_text(self) -> str:
        s = self.summary
        return (
            f"{self.completed} of {self.total} queries completed · {s['pages_fetched']} pages · "
            f"{s['records_fetched']} records ({s['records_inserted']} new) · "
            f"{s['distinct_records']} distinct"
        )

    @property
    def queries(self) -> list[dict[str, Any]]:
        """Each member query, with its parameters as text."""
        return [{**q, "params_text": params_text(q["params"])} for q in self.summary["queries"]]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(str(self.summary["created_at"]))

    @property
    def announcement(self) -> str:
        """One sentence for screen readers when the combo changes."""
        return f"Combo {self.status}: {self.progress_text}."

    def time(self, value: datetime | None) -> str:
        return format_time(value, self.now)


@dataclass(frozen=True)
class Budget:
    """Requests counted against a budget, for a bar and a sentence."""

    used: int
    limit: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 100

    @property
    def text(self) -> str:
        return f"{self.used} of {self.limit} ({self.percent}%)"


def _rate(value: float | None, unit: str) -> str | None:
    return None if not value else f"{value:g} per {unit}"


@dataclass(frozen=True)
class UsageRow:
    """One credential of `GET /api/usage` as the usage page shows it."""

    item: Mapping[str, Any]
    now: datetime

    @property
    def credential(self) -> str:
        return str(self.item["credential"])

    @property
    def sources(self) -> list[str]:
        return [str(s) for s in self.item["sources"]]

    @property
    def today(self) -> int:
        return int(self.item["requests_today"])

    @property
    def this_month(self) -> int:
        return int(self.item["requests_this_month"])

    @property
    def daily(self) -> Budget | None:
        budget = self.item["daily_budget"]
        return None if budget is None else Budget(self.today, int(budget))

    @property
    def monthly(self) -> Budget | None:
        budget = self.item["monthly_budget"]
        return None if budget is None else Budget(self.this_month, int(budget))

    @property
    def rates(self) -> str:
        parts = [
            _rate(self.item["per_second"], "second"),
            _rate(self.item["per_minute"], "minute"),
            _rate(self.item["per_hour"], "hour"),
        ]
        return " · ".join(p for p in parts if p) or "none"

    @property
    def blocked_until(self) -> datetime | None:
        value = self.item["blocked_until"]
        return None if value is None else datetime.fromisoformat(str(value))

    @property
    def block_reason(self) -> str:
        return str(self.item["block_reason"] or "no reason given")

    def time(self, value: datetime | None) -> str:
        return format_time(value, self.now)
