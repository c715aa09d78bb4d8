"""Fixed request windows per key, as GitHub and Apollo count them.

A window opens with a key's first request, admits `limit` requests and ends
`length_s` later (its reset time); the next request opens a new one. This is
the providers' model ("30 requests per minute, resets at 12:01:07"), unlike
the simulator's sliding per-second limiter. Times are epoch seconds
(`time.time()`), because providers announce resets as epoch times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["FixedWindows", "WindowLimit", "WindowState"]


@dataclass(frozen=True)
class WindowLimit:
    """`limit` requests per `length_s` seconds, named for headers and messages."""

    name: str
    limit: int
    length_s: float


@dataclass(frozen=True)
class WindowState:
    """Where a key stands in one window."""

    limit: int
    used: int
    reset_at: float  # epoch seconds when the window ends (now + length for a fresh one)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class _Open:
    started: float
    used: int = 0


class FixedWindows:
    """Request counters per (key, window name). Not thread-safe: one event loop."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._open: dict[tuple[str, str], _Open] = {}

    def reset(self) -> None:
        self._open.clear()

    def state(self, key: str, window: WindowLimit) -> WindowState:
        now = self._clock()
        current = self._current(key, window, now)
        if current is None:
            return WindowState(window.limit, 0, now + window.length_s)
        return WindowState(window.limit, current.used, current.started + window.length_s)

    def take(self, key: str, windows: Sequence[WindowLimit]) -> WindowLimit | None:
        """Count one request in every window; or, if one is full, return it and count nothing."""
        now = self._clock()
        for window in windows:
            current = self._current(key, window, now)
            if current is not None and current.used >= window.limit:
                return window
        for window in windows:
            current = self._current(key, window, now)
            if current is None:
                current = self._open[key, window.name] = _Open(started=now)
            current.used += 1
        return None

    def _current(self, key: str, window: WindowLimit, now: float) -> _Open | None:
        current = self._open.get((key, window.name))
        if current is not None and now >= current.started + window.length_s:
            del self._open[key, window.name]
            return None
        return current
