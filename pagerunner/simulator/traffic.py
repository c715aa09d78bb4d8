"""Per-key limits (request rate, quota) and the record of the traffic the simulator saw.

`Traffic` is the mutable side: it counts requests and answers, runs the
sliding-window rate limiter and the quota counters. `SimulatorStats` is an
immutable snapshot of it for tests, benchmarks and `GET /_admin/stats`.

The rate limiter and the stats share one list of timestamps per key (the
requests it let through), so "never more than R served in any 1-second
window" holds by construction and can be checked from the stats.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KeyLimits", "SimulatorStats", "Traffic", "max_in_window"]


@dataclass(frozen=True)
class KeyLimits:
    """What one API key may do; None: unlimited."""

    rate_per_s: float | None = None
    quota: int | None = None  # successful searches, ever (until reset)

    def __post_init__(self) -> None:
        if self.rate_per_s is not None and not self.rate_per_s > 0:
            raise ValueError("rate_per_s must be greater than 0")
        if self.quota is not None and self.quota < 0:
            raise ValueError("quota must be 0 or more")

    def window(self) -> tuple[int, float] | None:
        """(requests, seconds) of the sliding rate window; None: no rate limit.

        At 1 request per second or more, the window is 1 s and holds the
        whole number of requests (2.5/s allows 2 in any second); below, it holds
        one request and lasts 1/rate seconds (0.5/s: one request per 2 s).
        """
        rate = self.rate_per_s
        if rate is None:
            return None
        if rate >= 1:
            return int(rate), 1.0
        return 1, 1.0 / rate


def max_in_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most timestamps (sorted) in any window `(t - window_s, t]`."""
    best = 0
    first = 0
    for last, t in enumerate(times):
        while times[first] <= t - window_s:
            first += 1
        best = max(best, last - first + 1)
    return best


@dataclass(frozen=True)
class SimulatorStats:
    """A snapshot of the search traffic since start or the last reset.

    Keys are API keys as sent ("" for requests without one). Times are
    `time.monotonic()` seconds: compare them with each other, not with clocks.
    """

    requests_by_key: Mapping[str, int]
    responses_by_status: Mapping[int, int]
    #: Successful (200) searches per key: what the quota counts.
    searches_by_key: Mapping[str, int]
    #: Connections closed on purpose by a `drop` fault.
    dropped: int
    #: Requests whose client left during a delay (slow, timeout, latency): never answered.
    abandoned: int
    #: Arrival time of every search request, per key.
    received_at: Mapping[str, tuple[float, ...]]
    #: Time each request passed the rate limiter ("served"), per key.
    served_at: Mapping[str, tuple[float, ...]]

    @property
    def total_requests(self) -> int:
        return sum(self.requests_by_key.values())

    @property
    def rate_limited(self) -> int:
        """429 answers, from the rate limiter and from `rate_limit` faults."""
        return self.responses_by_status.get(429, 0)

    @property
    def max_served_per_second(self) -> dict[str, int]:
        """Per key, the most requests served in any 1-second window."""
        return {key: max_in_window(times) for key, times in self.served_at.items()}

    @property
    def max_received_per_second(self) -> dict[str, int]:
        """Per key, the most requests received in any 1-second window (client pacing)."""
        return {key: max_in_window(times) for key, times in self.received_at.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "total_requests": self.total_requests,
            "requests_by_key": dict(self.requests_by_key),
            "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
            "rate_limited": self.rate_limited,
            "searches_by_key": dict(self.searches_by_key),
            "dropped": self.dropped,
            "abandoned": self.abandoned,
            "max_served_per_second": self.max_served_per_second,
            "max_received_per_second": self.max_received_per_second,
            "received_at": {k: list(v) for k, v in self.received_at.items()},
            "served_at": {k: list(v) for k, v in self.served_at.items()},
        }


class Traffic:
    """Counters, rate limiter and quota use of the simulator. Not thread-safe: one event loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._searches: Counter[str] = Counter()
        self._received_at: defaultdict[str, list[float]] = defaultdict(list)
        self._served_at: defaultdict[str, list[float]] = defaultdict(list)
        self._dropped = 0
        self._abandoned = 0

    def reset(self) -> None:
        """Forget everything: counters, timestamps (so the rate windows too), quota use."""
        for counts in (self._requests, self._statuses, self._searches):
            counts.clear()
        self._received_at.clear()
        self._served_at.clear()
        self._dropped = 0
        self._abandoned = 0

    def received(self, key: str | None) -> None:
        self._requests[key or ""] += 1
        self._received_at[key or ""].append(self._clock())

    def answered(self, status: int) -> None:
        self._statuses[status] += 1

    def dropped(self) -> None:
        self._dropped += 1

    def abandoned(self) -> None:
        self._abandoned += 1

    def admit(self, key: str, limits: KeyLimits) -> int | None:
        """Let a request through the rate limiter, or return the seconds to wait (≥ 1)."""
        now = self._clock()
        served = self._served_at[key]
        window = limits.window()
        if window is not None:
            capacity, window_s = window
            in_window = len(served) - bisect_right(served, now - window_s)
            if in_window >= capacity:
                # The oldest request that must leave the window before one more fits.
                must_expire = served[len(served) - capacity]
                return max(1, math.ceil(must_expire + window_s - now))
        served.append(now)
        return None

    def quota_used(self, key: str) -> int:
        return self._searches[key]

    def searched(self, key: str) -> None:
        self._searches[key] += 1

    def snapshot(self) -> SimulatorStats:
        return SimulatorStats(
            requests_by_key=dict(self._requests),
            responses_by_status=dict(self._statuses),
            searches_by_key=dict(self._searches),
            dropped=self._dropped,
            abandoned=self._abandoned,
            received_at={k: tuple(v) for k, v in self._received_at.items()},
            served_at={k: tuple(v) for k, v in self._served_at.items() if v},
        )
