"""Functions as synced by an app, parsed from the `/fn/register` payload.

A `FunctionDef` carries everything the run loop needs: triggers, the URL to
call, the attempt budget and each flow-control block in parsed form.
Parsing validates durations and compiles expressions, so a bad config fails the
sync with a message naming the function and field, not a run later, and each
expression is parsed once per sync: the definition keeps the compiled program.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cron import CronError, CronSchedule
from .errors import ExecutorError, InvalidDurationError, RegistrationError
from .expressions import Expression, compile_expression
from .timeparse import parse_duration

__all__ = [
    "CancelRule",
    "Concurrency",
    "Debounce",
    "EventBatch",
    "FunctionDef",
    "RateLimit",
    "Registration",
    "Singleton",
    "Throttle",
    "Trigger",
    "parse_registration",
]

DEFAULT_RETRIES = 4  # Inngest's server default when `retries` is omitted
MAX_RETRIES = 20
MIN_CRON_JITTER_S, MAX_CRON_JITTER_S = 1.0, 300.0  # Inngest's bounds of a cron's `jitter`


@dataclass(frozen=True)
class Trigger:
    event: str | None = None
    expression: Expression | None = None
    cron: str | None = None
    # A cron trigger's parsed expression, and its `jitter` (a run starts up to that much
    # after the scheduled time).
    schedule: CronSchedule | None = field(default=None, compare=False)
    jitter_s: float = 0.0

    def matches_name(self, name: str) -> bool:
        """Exact match, or a wildcard `prefix/*` / `prefix.*` as Inngest allows."""
        if self.event is None:
            return False
        if self.event.endswith("*") and self.event[-2:-1] in ("/", "."):
            return name.startswith(self.event[:-1])
        return self.event == name


@dataclass(frozen=True)
class Concurrency:
    limit: int
    key: Expression | None = None
    scope: str = "fn"


@dataclass(frozen=True)
class Throttle:
    limit: int
    period_s: float
    burst: int = 1
    key: Expression | None = None


@dataclass(frozen=True)
class RateLimit:
    limit: int
    period_s: float
    key: Expression | None = None


@dataclass(frozen=True)
class Debounce:
    period_s: float
    timeout_s: float | None = None
    key: Expression | None = None


@dataclass(frozen=True)
class EventBatch:
    """`batchEvents`: up to `max_size` events per run, or what arrived within `timeout_s`
    of a batch's first event; one batch at a time per `key`. Events for which `condition`
    (`if`) is not true run on their own at once."""

    max_size: int
    timeout_s: float
    key: Expression | None = None
    condition: Expression | None = None


@dataclass(frozen=True)
class CancelRule:
    event: str
    expression: Expression | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class Singleton:
    mode: str
    key: Expression | None = None


@dataclass(frozen=True)
class FunctionDef:
    """One function of a synced app."""

    id: str
    app_name: str
    name: str
    url: str
    triggers: tuple[Trigger, ...]
    max_attempts: int
    concurrency: tuple[Concurrency, ...] = ()
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = None
    debounce: Debounce | None = None
    cancel: tuple[CancelRule, ...] = ()
    singleton: Singleton | None = None
    start_timeout_s: float | None = None
    finish_timeout_s: float | None = None
    priority: Expression | None = None  # `priority.run`: a factor in seconds
    batch: EventBatch | None = None
    config: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_config(cls, app_name: str, config: Mapping[str, Any]) -> FunctionDef:
        fn_id = _require_str(config, "id", "function")
        try:
            return _parse_function(app_name, fn_id, config)
        except ExecutorError as exc:
            raise RegistrationError(f"function '{fn_id}': {exc}") from exc
        except (TypeError, ValueError, KeyError) as exc:
            raise RegistrationError(f"function '{fn_id}': invalid config: {exc}") from exc


@dataclass(frozen=True)
class Registration:
    """A parsed `/fn/register` payload."""

    app_name: str
    url: str
    sdk: str
    framework: str
    app_version: str | None
    capabilities: Mapping[str, Any]
    functions: tuple[FunctionDef, ...]
    checksum: str


def parse_registration(payload: Any) -> Registration:
    """Validate a sync payload (Python and JS key spellings) into a `Registration`."""
    if not isinstance(payload, dict):
        raise RegistrationError("sync payload must be a JSON object")
    lowered = {k.lower(): v for k, v in payload.items()}
    if "appname" not in lowered and "app_id" in lowered:  # the in-band sync spelling
        lowered["appname"] = lowered["app_id"]
        lowered.setdefault("sdk", f"{lowered.get('sdk_language')}:v{lowered.get('sdk_version')}")
    app_name = _require_str(lowered, "appname", "app")
    url = _require_str(lowered, "url", "app")
    raw_functions = lowered.get("functions") or []
    if not isinstance(raw_functions, list):
        raise RegistrationError("'functions' must be a list")
    defs = tuple(FunctionDef.from_config(app_name, fn) for fn in raw_functions)
    ids = [d.id for d in defs]
    if len(set(ids)) != len(ids):
        raise RegistrationError(f"duplicate function ids in app '{app_name}'")
    checksum = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return Registration(
        app_name=app_name,
        url=url,
        sdk=str(lowered.get("sdk", "")),
        framework=str(lowered.get("framework", "")),
        app_version=lowered.get("appversion"),
        capabilities=lowered.get("capabilities") or {},
        functions=defs,
        checksum=checksum,
    )


def _require_str(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, str) or not value:
        raise RegistrationError(f"{what} is missing a non-empty string '{key}'")
    return value


def _seconds(value: Any) -> float:
    return parse_duration(str(value)).total_seconds()


def _expr(value: Any) -> Expression | None:
    if value is None or value == "":
        return None
    return compile_expression(str(value))


def _parse_function(app_name: str, fn_id: str, config: Mapping[str, Any]) -> FunctionDef:
    steps = config.get("steps") or {}
    step = next(iter(steps.values()), None) if isinstance(steps, dict) else None
    if not step or not step.get("runtime", {}).get("url"):
        raise RegistrationError("no step runtime URL")
    retries = (step.get("retries") or {}).get("attempts", DEFAULT_RETRIES)
    retries = max(0, min(int(retries), MAX_RETRIES))
    triggers = tuple(_trigger(t) for t in config.get("triggers") or [])
    crons = [t.cron for t in triggers if t.cron]
    for cron in {c for c in crons if crons.count(c) > 1}:
        raise RegistrationError(f"duplicate cron expression: {cron}")
    if not triggers:
        raise RegistrationError("no triggers")
    timeouts = config.get("timeouts") or {}
    _check_batching(config)
    return FunctionDef(
        id=fn_id,
        app_name=app_name,
        name=str(config.get("name") or fn_id),
        url=str(step["runtime"]["url"]),
        triggers=triggers,
        max_attempts=retries + 1,
        concurrency=_concurrency(config.get("concurrency")),
        throttle=_throttle(config.get("throttle")),
        rate_limit=_rate_limit(config),
        debounce=_debounce(config.get("debounce")),
        cancel=tuple(
            CancelRule(
                event=str(c["event"]),
                expression=_expr(c.get("if")),
                timeout_s=_seconds(c["timeout"]) if c.get("timeout") else None,
            )
            for c in config.get("cancel") or []
        ),
        singleton=_singleton(config.get("singleton")),
        start_timeout_s=_seconds(timeouts["start"]) if timeouts.get("start") else None,
        finish_timeout_s=_seconds(timeouts["finish"]) if timeouts.get("finish") else None,
        priority=_expr((config.get("priority") or {}).get("run")),
        batch=_batch(config.get("batchEvents")),
        config=config,
    )


def _trigger(raw: Mapping[str, Any]) -> Trigger:
    cron = raw.get("cron")
    if cron is None:
        return Trigger(event=raw.get("event"), expression=_expr(raw.get("expression")))
    try:
        schedule = CronSchedule.parse(str(cron))
    except CronError as exc:
        raise RegistrationError(str(exc)) from exc
    jitter_s = _seconds(raw["jitter"]) if raw.get("jitter") else 0.0
    if 0 < jitter_s < MIN_CRON_JITTER_S:
        raise RegistrationError("cron jitter must be at least 1s")
    if jitter_s > MAX_CRON_JITTER_S:
        raise RegistrationError("cron jitter must be less than or equal to 5m0s")
    return Trigger(cron=str(cron), schedule=schedule, jitter_s=jitter_s)


def _concurrency(raw: Any) -> tuple[Concurrency, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    result = []
    for item in items:
        if isinstance(item, int):  # JS may send a bare number
            item = {"limit": item}
        limit = int(item.get("limit", 0))
        if limit <= 0:
            continue  # 0 means "no limit" in Inngest
        result.append(
            Concurrency(limit=limit, key=_expr(item.get("key")), scope=item.get("scope", "fn"))
        )
    return tuple(result[:2])


def _throttle(raw: Any) -> Throttle | None:
    if not raw:
        return None
    return Throttle(
        limit=max(1, int(raw.get("limit", 1))),
        period_s=_seconds(raw["period"]),
        burst=max(1, int(raw.get("burst") or 1)),
        key=_expr(raw.get("key")),
    )


def _rate_limit(config: Mapping[str, Any]) -> RateLimit | None:
    # Inngest turns `idempotency` into a 24 h rate limit of 1 that overrides `rateLimit`.
    if config.get("idempotency"):
        return RateLimit(limit=1, period_s=86400, key=_expr(config["idempotency"]))
    raw = config.get("rateLimit")
    if not raw:
        return None
    return RateLimit(
        limit=max(1, int(raw["limit"])), period_s=_seconds(raw["period"]), key=_expr(raw.get("key"))
    )


def _debounce(raw: Any) -> Debounce | None:
    if not raw:
        return None
    return Debounce(
        period_s=_seconds(raw["period"]),
        timeout_s=_seconds(raw["timeout"]) if raw.get("timeout") else None,
        key=_expr(raw.get("key")),
    )


#: What Inngest refuses to combine with `batchEvents` (its messages, `Function.Validate`).
_NOT_WITH_BATCHING = (
    ("cancel", "Batching and cancellation are mutually exclusive"),
    ("debounce", "Batching and debouncing are mutually exclusive"),
    ("singleton", "Batching and singletons are mutually exclusive"),
)


def _check_batching(config: Mapping[str, Any]) -> None:
    if not config.get("batchEvents"):
        return
    for option, message in _NOT_WITH_BATCHING:
        if config.get(option):
            raise RegistrationError(message)
    if (config.get("priority") or {}).get("run"):
        raise RegistrationError("A function cannot specify Priority.Run and Batch together")


def _batch(raw: Any) -> EventBatch | None:
    """`batchEvents`, checked as Inngest checks it (its messages)."""
    if not raw:
        return None
    max_size = int(raw.get("maxSize") or 0)
    if max_size < 2:
        raise RegistrationError(f"batch size cannot be smaller than 2: {max_size}")
    timeout = raw.get("timeout")
    try:
        timeout_s = _seconds(timeout) if timeout else None
    except InvalidDurationError:
        timeout_s = None
    if timeout_s is None:
        raise RegistrationError(f"invalid timeout string: {timeout or ''}")
    if timeout_s < 1:
        raise RegistrationError("batch timeout should be more than 1s")
    return EventBatch(
        max_size=max_size,
        timeout_s=timeout_s,
        key=_expr(raw.get("key")),
        condition=_expr(raw.get("if")),
    )


def _singleton(raw: Any) -> Singleton | None:
    if not raw:
        return None
    mode = str(raw.get("mode", "skip"))
    if mode not in ("skip", "cancel"):
        raise RegistrationError(f"singleton mode must be 'skip' or 'cancel', got '{mode}'")
    return Singleton(mode=mode, key=_expr(raw.get("key")))
