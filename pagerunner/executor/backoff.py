"""Retry delays: exponential with jitter and a cap, or Inngest's own table."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["INNGEST_TABLE_S", "Backoff"]

# pkg/backoff in the Inngest server: the delay after attempt k (0-based) fails.
INNGEST_TABLE_S = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retrying attempt `attempt + 1`.

    `exponential` (default): `base_s * factor**attempt`, capped at `cap_s`, with
    "full jitter" between `(1 - jitter)` and 100 % of that value so that many runs
    failing together do not retry in lockstep. `inngest`: the table Inngest uses
    (15 s, 30 s, 1 m ... 2 h) plus a uniform 0-30 s.
    """

    schedule: Literal["exponential", "inngest"] = "exponential"
    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        rnd = rng or random
        if self.schedule == "inngest":
            return INNGEST_TABLE_S[min(attempt, len(INNGEST_TABLE_S) - 1)] + rnd.uniform(0, 30)
        raw = min(self.cap_s, self.base_s * self.factor ** max(0, attempt))
        return raw * (1 - self.jitter * rnd.random())
