"""What every source implements: fetch one page, or raise a classified error.

A source turns (params, checkpoint, credentials) into a `Page`: the records,
the checkpoint of the next page and whether there is one. HTTP and provider
errors are translated here into the `SourceError` tree, so the durable loop
decides retry / pause / fail from the class alone:

SourceError
├── TransientError          network failure, timeout, 5xx: retry with backoff
├── RateLimitedError        429 and friends: wait `retry_after_s` or pause
├── QuotaExhaustedError     the plan's quota is spent: fail, no retry
├── InvalidCredentialsError the key is missing or wrong: fail, no retry
├── BadRequestError         the query itself is invalid: fail, no retry
└── ProviderError           any other error answer: fail, no retry
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "BadRequestError",
    "Checkpoint",
    "InvalidCredentialsError",
    "Limits",
    "Page",
    "ProviderError",
    "QuotaExhaustedError",
    "RateLimitState",
    "RateLimitedError",
    "Record",
    "Source",
    "SourceError",
    "TransientError",
]


@dataclass(frozen=True)
class Checkpoint:
    """Where the next page starts: a page number and/or an opaque cursor."""

    page: int = 1
    cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "cursor": self.cursor}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Checkpoint:
        if not data:
            return cls()
        return cls(page=int(data.get("page", 1)), cursor=data.get("cursor"))


@dataclass(frozen=True)
class Record:
    """One result: a stable key (unique per source) and its JSON data."""

    key: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RateLimitState:
    """What a provider's headers announced about the credential's budget."""

    remaining: int | None = None  # requests left in the current window
    reset_at: float | None = None  # when the window resets (epoch seconds)


@dataclass(frozen=True)
class Limits:
    """How fast and how much a credential may be used (None: no limit)."""

    per_second: float | None = None
    per_minute: float | None = None
    per_hour: float | None = None
    daily_budget: int | None = None
    monthly_budget: int | None = None

    @property
    def windows(self) -> tuple[tuple[int, float], ...]:
        """The rate limits as `(requests, seconds)`: at most that many in any such window.

        A whole number per period is that period's window (`per_minute = 30`: 30 in any
        60 s); a fraction rounds the count down and shortens the window to keep the
        rate (`per_second = 2.5`: 2 in any 0.8 s; `per_second = 0.5`: 1 in any 2 s).
        """
        found = []
        for count, period in (
            (self.per_second, 1.0),
            (self.per_minute, 60.0),
            (self.per_hour, 3600.0),
        ):
            if count:
                whole = max(1, math.floor(count + 1e-9))
                found.append((whole, period * whole / count))
        return tuple(found)


@dataclass(frozen=True)
class Page:
    """One fetched page."""

    records: Sequence[Record]
    next_checkpoint: Checkpoint | None  # None: this was the last page
    http_status: int = 200
    meta: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: RateLimitState | None = None

    @property
    def has_more(self) -> bool:
        return self.next_checkpoint is not None


class SourceError(Exception):
    """The source failed."""

    code = "provider_error"
    retryable = False

    def __init__(self, message: str | None = None, *, http_status: int | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.http_status = http_status

    @property
    def message(self) -> str:
        return str(self)


class TransientError(SourceError):
    """The provider could not be reached or failed temporarily."""

    code = "transient_error"
    retryable = True


class RateLimitedError(SourceError):
    """The provider is rate limiting this key."""

    code = "rate_limited"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        reset_at: float | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status)
        #: Seconds to wait (Retry-After), or None when the provider did not say.
        self.retry_after_s = retry_after_s
        #: When the provider's window resets (epoch seconds), if it said so.
        self.reset_at = reset_at


class QuotaExhaustedError(SourceError):
    """The provider's quota for this key is exhausted."""

    code = "quota_exhausted"


class InvalidCredentialsError(SourceError):
    """The provider rejected the credentials."""

    code = "invalid_credentials"


class BadRequestError(SourceError):
    """The provider rejected the query as invalid."""

    code = "bad_request"


class ProviderError(SourceError):
    """The provider answered with an error."""

    code = "provider_error"


class Source(Protocol):
    """A paginated API. Implementations are stateless apart from their HTTP client."""

    name: str
    description: str
    #: Each parameter and its help text (for forms and `sources list`).
    params_help: Mapping[str, str]
    #: Seconds to wait between pages of one query (a durable sleep in the function).
    page_delay_s: float
    #: Names the credential this source uses (e.g. the env var), never the secret itself.
    #: Every query on the same credential shares its rate limit and budget.
    credential_id: str
    limits: Limits
    #: Rate-limit waits up to this long are slept through, longer ones pause the query
    #: (None: the `PAGERUNNER_MAX_RATE_LIMIT_WAIT_S` setting).
    max_wait_s: float | None
    #: The most pages a query fetches unless it asks otherwise (None: the
    #: `PAGERUNNER_DEFAULT_MAX_PAGES` setting). Optional: a source without it gets the default.
    max_pages: int | None

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise a query's params; raise BadRequestError naming the field."""
        ...

    async def fetch_page(
        self, params: Mapping[str, Any], checkpoint: Checkpoint, credentials: Mapping[str, str]
    ) -> Page:
        """Fetch the page at `checkpoint`, or raise a `SourceError`."""
        ...
