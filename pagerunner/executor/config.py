"""Settings of one executor instance."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..edge import InputLimits
from .backoff import Backoff

__all__ = ["INTAKE_LIMITS", "ExecutorConfig", "Limits", "event_intake_limits"]

MiB = 1024 * 1024

#: Events and registrations as SDKs send them: any text, bounded in size and depth
#: (Inngest takes batches of up to 10 MiB; `/e/` follows `Limits.max_batch_bytes`).
INTAKE_LIMITS = InputLimits(
    max_body_bytes=10 * MiB, max_depth=100, max_text_chars=None, control_chars=True
)


@dataclass(frozen=True)
class Limits:
    """Inngest's limits, applied as Inngest applies them (its values by default), so that a
    function that would fail on Inngest fails the same way here (see docs/executor.md)."""

    #: One event sent to `/e/` (Inngest: 3 MiB on paid plans, 256 KiB on the free plan).
    max_event_bytes: int = 3 * MiB
    #: One request to `/e/`, all its events together; and a function's batch of events
    #: (`batchEvents`), which starts when its events reach this size.
    max_batch_bytes: int = 10 * MiB
    #: Step results a run may hold; the call after the last one fails the run.
    max_steps: int = 1000
    #: One step's result (`{"data": ...}`) as an op of the app's answer.
    max_step_output_bytes: int = 4 * MiB
    #: The run's state: its events and its steps' results.
    max_state_bytes: int = 32 * MiB

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1 (got {value})")


@dataclass(frozen=True)
class ExecutorConfig:
    """How an executor runs. Secrets are passed in by the caller, never read from files here."""

    db_url: str = "pagerunner.db"
    app_urls: tuple[str, ...] = ()
    signing_key: str | None = field(default=None, repr=False)
    signing_key_fallback: str | None = field(default=None, repr=False)
    event_key: str | None = field(default=None, repr=False)
    # When set, the dashboard and the REST API require it (event intake and registration
    # keep their own key and signature checks).
    api_token: str | None = field(default=None, repr=False)
    # Browser sign-ins to the dashboard: how long they last, and `Secure` cookies over HTTP
    # (behind a proxy that terminates TLS).
    session_ttl_s: float = 12 * 3600
    secure_cookies: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    # Between attempts to sync an app URL that does not answer yet (0.5 s doubling to 5 s).
    sync_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.5, cap_s=5.0))
    # Calls to apps at once: at most `max_inflight`, down to `min_inflight` while the event
    # loop lags more than `target_loop_lag_s` (CPU-bound; see `inflight.InflightLimit`).
    max_inflight: int = 32
    min_inflight: int = 8
    target_loop_lag_s: float = 0.025
    call_timeout_s: float = 600.0
    poll_interval_s: float = 0.5
    lease_ttl_s: float = 10.0
    retention_days: float = 7.0
    stop_grace_s: float = 10.0
    # What time it is for cron triggers (their ticks are whole minutes: tests move it).
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    limits: Limits = field(default_factory=Limits)

    @property
    def signing_keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.signing_key, self.signing_key_fallback) if k)


def event_intake_limits(limits: Limits) -> InputLimits:
    """The edge's bounds of a request to `/e/`: one request of events (`max_batch_bytes`)."""
    return replace(INTAKE_LIMITS, max_body_bytes=limits.max_batch_bytes)
