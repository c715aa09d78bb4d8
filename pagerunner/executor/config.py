"""Settings of one executor instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..edge import InputLimits
from .backoff import Backoff

__all__ = ["INTAKE_LIMITS", "ExecutorConfig"]

#: Events and registrations as SDKs send them: any text, bounded in size and depth
#: (Inngest takes batches of up to 10 MiB).
INTAKE_LIMITS = InputLimits(
    max_body_bytes=10 * 1024 * 1024, max_depth=100, max_text_chars=None, control_chars=True
)


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
    max_inflight: int = 32
    call_timeout_s: float = 600.0
    poll_interval_s: float = 0.5
    lease_ttl_s: float = 10.0
    retention_days: float = 7.0
    stop_grace_s: float = 10.0

    @property
    def signing_keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.signing_key, self.signing_key_fallback) if k)
