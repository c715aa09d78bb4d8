"""Concurrency slots: how many calls hold each concurrency key right now.

Inngest counts in-flight calls, not runs, so slots live in memory in the
leader process and are empty after a restart, which is exactly right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["Slots"]


class Slots:
    def __init__(self) -> None:
        self._held: Counter[str] = Counter()

    def try_acquire(self, keys: Sequence[Sequence[Any]]) -> str | None:
        """Take one slot of every key, or none; returns the key that was full."""
        for key, limit in keys:
            if self._held[key] >= limit:
                return str(key)
        for key, _ in keys:
            self._held[key] += 1
        return None

    def release(self, keys: Sequence[Sequence[Any]]) -> None:
        for key, _ in keys:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]

    def in_use(self, key: str) -> int:
        return self._held[key]
