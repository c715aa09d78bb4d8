"""The waterfall of a run: one bar per step attempt, per sleep / wait / invoke, per call.

Input is `views.run_detail` (ISO timestamps); output is positions in percent
of the run's span, so the template only places bars. Sleeps, waits and
invokes span from the step's creation to its end (or now, while pending);
every attempt of a `step.run` is its own bar, coloured by its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .rendering import format_ms

__all__ = ["Bar", "Timeline", "build_timeline", "step_anchor", "step_duration_ms"]

# Steps that are spans of waiting, not calls: drawn hatched, one bar each.
WAITING_OPS = {"Sleep": "sleep", "WaitForEvent": "wait", "InvokeFunction": "invoke"}
MIN_WIDTH = 0.6  # percent: a 1 ms attempt must still be visible


@dataclass(frozen=True)
class Bar:
    """One row of the waterfall."""

    label: str  # what ran: the step's name, "run" or "function call"
    note: str  # attempt and outcome, e.g. "attempt 2 · failed"
    kind: str  # CSS modifier: completed, failed, retrying, running, sleep, wait, invoke, run
    offset_ms: int
    duration_ms: int
    left: float  # percent of the axis
    width: float
    anchor: str | None = None  # the step's id in the step panel


@dataclass(frozen=True)
class Timeline:
    bars: tuple[Bar, ...]
    total_ms: int
    ticks: tuple[tuple[float, str], ...]  # (percent, label)


def _ts(iso: str | None) -> float | None:
    return None if not iso else datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class _Span:
    label: str
    note: str
    kind: str
    start: float
    end: float
    anchor: str | None = None


def _attempt_spans(step: Mapping[str, Any], anchor: str) -> list[_Span]:
    spans = []
    for a in step.get("attempts") or []:
        start, end = _ts(a["started_at"]), _ts(a["ended_at"])
        if start is None or end is None:
            continue
        status = str(a["status"])
        note = f"attempt {int(a['attempt']) + 1} · {status}"
        spans.append(_Span(str(step["name"]), note, status, start, end, anchor))
    return spans


def _waiting_span(step: Mapping[str, Any], anchor: str, now: float) -> _Span | None:
    start = _ts(step.get("started_at"))
    if start is None:
        return None
    end = _ts(step.get("ended_at"))
    kind = WAITING_OPS[str(step["op"])]
    pending = end is None
    note = f"{kind} · {'in progress' if pending else step.get('status', 'done')}"
    return _Span(str(step["name"]), note, kind, start, end if end is not None else now, anchor)


def _call_spans(run: Mapping[str, Any]) -> list[_Span]:
    spans = []
    for a in run.get("calls") or []:
        start, end = _ts(a["started_at"]), _ts(a["ended_at"])
        if start is None or end is None:
            continue
        status = str(a["status"])
        note = f"attempt {int(a['attempt']) + 1} · {status}"
        if a.get("http_status"):
            note += f" · HTTP {a['http_status']}"
        spans.append(_Span("function call", note, status, start, end))
    return spans


def step_anchor(step: Mapping[str, Any]) -> str:
    """The id of a step's entry in the step panel (step ids are hex hashes)."""
    return f"step-{step['id']}"


def step_duration_ms(step: Mapping[str, Any]) -> int | None:
    """From the step's first attempt (or creation) to its end; None while it is not done.

    A step row is created when its first result arrives, so its own timestamps
    miss the first attempt."""
    ended = _ts(step.get("ended_at"))
    starts = [_ts(a["started_at"]) for a in step.get("attempts") or []]
    starts.append(_ts(step.get("started_at")))
    known = [s for s in starts if s is not None]
    if ended is None or not known:
        return None
    return round((ended - min(known)) * 1000)


def build_timeline(run: Mapping[str, Any], now: float) -> Timeline:
    """Bars for every attempt, wait and call of `run`, relative to when it was queued."""
    origin = _ts(run.get("queued_at")) or now
    spans: list[_Span] = []
    for step in run.get("steps") or []:
        anchor = step_anchor(step)
        if step.get("op") in WAITING_OPS:
            span = _waiting_span(step, anchor, now)
            spans.extend([span] if span else [])
        else:
            spans.extend(_attempt_spans(step, anchor))
    spans.extend(_call_spans(run))
    spans.sort(key=lambda s: s.start)
    ended = _ts(run.get("ended_at"))
    end = max([ended if ended is not None else now, *(s.end for s in spans)])
    status = str(run.get("status", ""))
    run_span = _Span(
        "run", f"{status} · queued → {'ended' if ended else 'now'}", "run", origin, end
    )
    total = max(end - origin, 0.001)
    bars = tuple(_bar(s, origin, total) for s in [run_span, *spans])
    ticks = tuple((p, format_ms(total * 1000 * p / 100)) for p in (0.0, 25.0, 50.0, 75.0, 100.0))
    return Timeline(bars=bars, total_ms=round(total * 1000), ticks=ticks)


def _bar(span: _Span, origin: float, total: float) -> Bar:
    width = max((span.end - span.start) / total * 100, MIN_WIDTH)
    left = min(max((span.start - origin) / total * 100, 0.0), 100 - width)
    return Bar(
        label=span.label,
        note=span.note,
        kind=span.kind,
        offset_ms=round((span.start - origin) * 1000),
        duration_ms=round((span.end - span.start) * 1000),
        left=round(left, 3),
        width=round(width, 3),
        anchor=span.anchor,
    )
