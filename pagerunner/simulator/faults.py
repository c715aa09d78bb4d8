"""Fault rules: make the simulated provider fail in chosen, reproducible ways.

A `Fault` says what goes wrong (`kind`), for which requests (`key`), when
(`after` matching requests have passed, for `times` requests, with
`probability`) and with which details (`status`, `delay_s`,
`retry_after_s`). `FaultRules` holds the active faults in the order they were
added and decides, per search request, which of them fire:

- `slow` and `timeout` only delay the answer; their delays add up and the
  request goes on to the next rule;
- the first other fault that fires decides the answer, and later rules do
  not see the request (their `after` and `times` counters do not move).

Randomness comes from a `random.Random` seeded from the simulator's config,
so a run with `probability < 1` is the same every time.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

__all__ = ["DEFAULT_DELAY_S", "Fault", "FaultKind", "FaultRules", "FaultVerdict"]

FaultKind = Literal[
    "server_error", "slow", "timeout", "drop", "rate_limit", "quota", "invalid_key", "malformed"
]

#: Delay of `slow` and `timeout` faults that do not set `delay_s`.
DEFAULT_DELAY_S: dict[str, float] = {"slow": 1.0, "timeout": 30.0}


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Fault:
    """One way for search requests to fail; validated on construction (ValueError).

    kind          server_error (HTTP `status`), slow (delay, then a normal answer),
                  timeout (a long delay, default 30 s, so clients time out), drop (close
                  the connection without an answer), rate_limit (429, `Retry-After:
                  retry_after_s` when set), quota (402), invalid_key (401), malformed
                  (200 with a body that is not JSON)
    key           only requests with this API key; None: every request
    times         fire for this many matching requests, then retire; None: until cleared
    after         let this many matching requests through first (fail on page 3: after=2)
    probability   chance to fire for each matching request past `after`
    """

    kind: FaultKind
    key: str | None = None
    times: Annotated[int | None, Field(ge=1)] = None
    after: Annotated[int, Field(ge=0)] = 0
    probability: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    retry_after_s: Annotated[float | None, Field(ge=0.0)] = None
    delay_s: Annotated[float | None, Field(ge=0.0)] = None
    status: Annotated[int, Field(ge=500, le=599)] = 503

    @property
    def only_delays(self) -> bool:
        """True for `slow` and `timeout`: the request is answered normally, later."""
        return self.kind in DEFAULT_DELAY_S

    @property
    def effective_delay_s(self) -> float:
        """The delay this fault adds: `delay_s`, or the kind's default."""
        if self.delay_s is not None:
            return self.delay_s
        return DEFAULT_DELAY_S.get(self.kind, 0.0)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FaultVerdict:
    """What the active faults make of one request."""

    delay_s: float = 0.0
    #: The fault that decides the answer; None: answer normally (after the delay).
    fault: Fault | None = None


@dataclass
class _Rule:
    fault: Fault
    seen: int = 0  # matching requests so far
    fired: int = 0

    @property
    def retired(self) -> bool:
        return self.fault.times is not None and self.fired >= self.fault.times


class FaultRules:
    """The active faults and their counters."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._rules: list[_Rule] = []

    def add(self, fault: Fault) -> None:
        self._rules.append(_Rule(fault))

    def clear(self) -> int:
        """Remove every fault and restart the random sequence; return how many were active."""
        count = len(self._rules)
        self._rules.clear()
        self._random = random.Random(self._seed)
        return count

    @property
    def active(self) -> tuple[Fault, ...]:
        return tuple(rule.fault for rule in self._rules)

    def describe(self) -> list[dict[str, Any]]:
        """The active faults with their counters, for the admin API."""
        return [
            {"fault": rule.fault.to_json(), "matched": rule.seen, "fired": rule.fired}
            for rule in self._rules
        ]

    def check(self, key: str | None) -> FaultVerdict:
        """Advance the counters of the rules that see this request and say what fires."""
        delay_s = 0.0
        for rule in list(self._rules):
            fault = rule.fault
            if fault.key is not None and fault.key != key:
                continue
            rule.seen += 1
            if rule.seen <= fault.after:
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            rule.fired += 1
            if rule.retired:
                self._rules.remove(rule)
            if fault.only_delays:
                delay_s += fault.effective_delay_s
                continue
            return FaultVerdict(delay_s=delay_s, fault=fault)
        return FaultVerdict(delay_s=delay_s)
