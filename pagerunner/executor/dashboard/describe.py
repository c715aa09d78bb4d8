"""Registered functions described for people: triggers, retries and flow control.

The registered config is parsed with the same `FunctionDef.from_config` the
run loop uses, so the page shows what the executor enforces (e.g. retries
clamped to 20, `idempotency` as a 24 h rate limit of 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ExecutorError
from ..expressions import Expression
from ..functions import EventBatch, FunctionDef, Trigger

__all__ = ["FunctionSummary", "describe_function", "format_seconds"]


@dataclass(frozen=True)
class FunctionSummary:
    id: str
    name: str
    app: str
    triggers: tuple[tuple[str, str | None], ...]  # (description, event name to send a test of)
    retries: int | None
    settings: tuple[tuple[str, str], ...]  # (label, value) of each flow-control option set
    problem: str | None = None  # the config could not be read


def format_seconds(seconds: float) -> str:
    """`30s`, `1m30s`, `24h`: Inngest's duration spelling."""
    whole = round(seconds)
    if whole != seconds and seconds < 60:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _keyed(text: str, key: Expression | None) -> str:
    return f"{text} per {key.source}" if key else text


def _settings(  # noqa: C901
    fn: FunctionDef, config: Mapping[str, Any], waiting: tuple[int, int] | None
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for c in fn.concurrency:
        found.append(("Concurrency", _keyed(f"{c.limit} at a time", c.key) + f" (scope {c.scope})"))
    if t := fn.throttle:
        text = f"{t.limit} per {format_seconds(t.period_s)}, burst {t.burst}"
        found.append(("Throttle", _keyed(text, t.key)))
    if r := fn.rate_limit:
        label = "Idempotency" if config.get("idempotency") else "Rate limit"
        found.append((label, _keyed(f"{r.limit} per {format_seconds(r.period_s)}", r.key)))
    if d := fn.debounce:
        text = f"{format_seconds(d.period_s)}"
        if d.timeout_s is not None:
            text += f", at most {format_seconds(d.timeout_s)}"
        found.append(("Debounce", _keyed(text, d.key)))
    if b := fn.batch:
        found.append(("Batch", _batch(b, waiting)))
    for rule in fn.cancel:
        text = f"on {rule.event}"
        if rule.expression:
            text += f" if {rule.expression.source}"
        if rule.timeout_s is not None:
            text += f" within {format_seconds(rule.timeout_s)}"
        found.append(("Cancel", text))
    if fn.start_timeout_s is not None:
        found.append(("Timeout", f"start within {format_seconds(fn.start_timeout_s)}"))
    if fn.finish_timeout_s is not None:
        found.append(("Timeout", f"finish within {format_seconds(fn.finish_timeout_s)}"))
    if s := fn.singleton:
        found.append(("Singleton", _keyed(s.mode, s.key)))
    return found


def _batch(batch: EventBatch, waiting: tuple[int, int] | None) -> str:
    text = f"up to {batch.max_size} events, or {format_seconds(batch.timeout_s)} after the first"
    text = _keyed(text, batch.key)
    if batch.condition:
        text += f", if {batch.condition.source}"
    if waiting:
        opened, events = waiting
        text += f" · waiting: {events} event{'s' * (events != 1)}"
        text += f" in {opened} batch{'es' * (opened != 1)}"
    return text


def _trigger(trigger: Trigger, crons: Mapping[str, str | None]) -> tuple[str, str | None]:
    event, expression = trigger.event, trigger.expression
    text = f"event {event}" if event else f"cron {trigger.cron}" if trigger.cron else "?"
    if trigger.cron:
        if trigger.jitter_s:
            text += f", jitter {format_seconds(trigger.jitter_s)}"
        text += f" · next {_when(crons.get(trigger.cron, '?'))}"
    sendable = event if event and "*" not in event and not event.startswith("inngest/") else None
    return (f"{text} if {expression.source}" if expression else text), sendable


def _when(iso: str | None) -> str:
    """A next tick as the page shows it: `2026-12-12 09:00:00 UTC`, `never`, `?` (not known)."""
    if iso is None:
        return "never"
    return iso.replace("T", " ").replace(".000Z", " UTC") if iso.endswith("Z") else iso


def describe_function(
    row: Mapping[str, Any], waiting: tuple[int, int] | None = None
) -> FunctionSummary:
    """A `views.list_functions` row as the functions page shows it; `waiting` is what its
    open batches hold (batches, events)."""
    config = row.get("config") or {}
    try:
        fn = FunctionDef.from_config(str(row["app"]), config)
    except ExecutorError as exc:
        return FunctionSummary(
            id=str(row["id"]),
            name=str(row.get("name") or row["id"]),
            app=str(row["app"]),
            triggers=(),
            retries=None,
            settings=(),
            problem=str(exc),
        )
    return FunctionSummary(
        id=fn.id,
        name=fn.name,
        app=fn.app_name,
        triggers=tuple(_trigger(t, row.get("crons") or {}) for t in fn.triggers),
        retries=fn.max_attempts - 1,
        settings=tuple(_settings(fn, config, waiting)),
    )
