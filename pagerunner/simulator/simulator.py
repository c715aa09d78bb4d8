"""The simulator: configuration, state (faults, limits, traffic) and the search decision.

`Simulator` is what tests, benchmarks and the demo hold: it owns the FastAPI
app (`sim.app`) and lets the caller inject faults, set per-key limits, read
the stats and compute the records the API will return. A search request is
decided in this order:

1. fault rules (`slow`/`timeout` delay; any other firing fault is the answer),
2. the API key (401),
3. the key's rate limit (429 with Retry-After),
4. the parameters (400),
5. the key's quota (402),
6. the page (200), which counts against the quota.

The provider profiles (`profiles`, `sim.profile(name)`) answer at other
paths in other providers' shapes, through the same faults, keys, limits and
stats, in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import structlog
from fastapi import FastAPI

from . import answers, data
from .answers import Answer
from .app import create_simulator_app
from .faults import Fault, FaultRules, FaultVerdict
from .profiles import (
    ApolloProfile,
    GitHubProfile,
    PlacesLegacyProfile,
    PlacesNewProfile,
    Profile,
    Profiles,
    SerpApiProfile,
)
from .search import MAX_PAGE_SIZE, SearchRequest, SearchRequestError, search_page
from .traffic import KeyLimits, SimulatorStats, Traffic

__all__ = ["Simulator", "SimulatorConfig"]

log = structlog.get_logger("pagerunner.simulator")


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated provider behaves when no fault or limit says otherwise."""

    api_keys: tuple[str, ...] = ("demo-key",)
    page_size: int = 20  # results per page when the request does not say
    total_results: int = 95  # results per query without a `total:N` token (5 pages of 20)
    latency_s: float = 0.0  # added to every search answer
    seed: int = 0  # of the random draws of faults with probability < 1
    admin: bool = True  # serve /_admin/* (local use only: it is not authenticated)

    def __post_init__(self) -> None:
        if not self.api_keys or not all(self.api_keys):
            raise ValueError("api_keys must hold at least one non-empty key")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
        if self.total_results < 0:
            raise ValueError("total_results must be 0 or more")
        if self.latency_s < 0:
            raise ValueError("latency_s must be 0 or more")


class Simulator:
    """A simulated paginated search provider, with faults and limits on demand."""

    app: FastAPI

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._faults = FaultRules(seed=self.config.seed)
        self._limits: dict[str, KeyLimits] = {}
        self._traffic = Traffic()
        self.profiles = Profiles(self)
        self.app = create_simulator_app(self)

    # -- what tests and benchmarks use ------------------------------------------------

    def expected_records(
        self, q: str, location: str = "", total: int | None = None
    ) -> list[dict[str, Any]]:
        """Every record the API returns for `(q, location)`, in order, across all pages.

        `total` cuts the list (the records do not depend on it); by default it is
        what the API answers: the `total:N` token in `q`, else `config.total_results`.
        """
        count = data.query_total(q, self.config.total_results) if total is None else total
        return data.records(q, location, 1, count + 1)

    def add_fault(self, fault: Fault) -> None:
        """Activate a fault after the ones already active."""
        self._faults.add(fault)
        log.info("simulator_fault_added", kind=fault.kind, scoped=fault.key is not None)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The active faults (a fault with `times` retires once it has fired that often)."""
        return self._faults.active

    @overload
    def profile(self, name: Literal["serpapi"]) -> SerpApiProfile: ...
    @overload
    def profile(self, name: Literal["places_legacy"]) -> PlacesLegacyProfile: ...
    @overload
    def profile(self, name: Literal["places_new"]) -> PlacesNewProfile: ...
    @overload
    def profile(self, name: Literal["github"]) -> GitHubProfile: ...
    @overload
    def profile(self, name: Literal["apollo"]) -> ApolloProfile: ...
    @overload
    def profile(self, name: str) -> Profile[Any, Any]: ...
    def profile(self, name: str) -> Profile[Any, Any]:
        """The provider profile `name` (KeyError if there is none): settings, expected items."""
        return self.profiles[name]

    def describe_faults(self) -> list[dict[str, Any]]:
        """The active faults with their `matched` and `fired` counters."""
        return self._faults.describe()

    def set_limits(
        self, key: str, *, rate_per_s: float | None = None, quota: int | None = None
    ) -> None:
        """Replace `key`'s limits (None: unlimited). Quota use so far still counts."""
        self._limits[key] = KeyLimits(rate_per_s=rate_per_s, quota=quota)
        log.info("simulator_limits_set", rate_per_s=rate_per_s, quota=quota)

    def limits(self, key: str) -> KeyLimits:
        return self._limits.get(key, KeyLimits())

    @property
    def stats(self) -> SimulatorStats:
        """A snapshot of the traffic since start or the last `reset`."""
        return self._traffic.snapshot()

    def reset(self) -> None:
        """Clear faults, limits, stats, quota use and the profiles' state: as good as new.

        Profile settings stay (they are configuration, like `config`).
        """
        self._faults.clear()
        self._limits.clear()
        self._traffic.reset()
        self.profiles.reset()

    # -- what the HTTP app uses -----------------------------------------------------

    def begin_search(self, key: str | None) -> FaultVerdict:
        """Count an arriving search request and say which faults fire for it."""
        self._traffic.received(key)
        verdict = self._faults.check(key)
        if verdict.fault is not None or verdict.delay_s:
            kind = verdict.fault.kind if verdict.fault else None
            log.debug("simulator_fault_fired", kind=kind, delay_s=verdict.delay_s)
        return verdict

    def answer_search(
        self, key: str | None, params: Mapping[str, str], fault: Fault | None = None
    ) -> Answer:
        """Decide the answer to a search request (after its delay) and count it."""
        return self.count_answer(self._decide(key, params, fault))

    def client_left(self) -> None:
        """The client disconnected before the answer: nothing was served."""
        self._traffic.abandoned()

    # -- what the provider profiles use (steps of `_decide`, in their own shapes) ------

    def count_answer(self, answer: Answer) -> Answer:
        """Count `answer` in the stats (by status, or as dropped) and return it."""
        if answer.drop:
            self._traffic.dropped()
        else:
            self._traffic.answered(answer.status)
        return answer

    def admit(self, key: str) -> int | None:
        """Pass `key`'s rate limiter: None, or the whole seconds (≥ 1) to wait."""
        return self._traffic.admit(key, self.limits(key))

    def quota_spent(self, key: str) -> bool:
        quota = self.limits(key).quota
        return quota is not None and self._traffic.quota_used(key) >= quota

    def count_search(self, key: str) -> None:
        """One successful search with `key`: what the quota counts."""
        self._traffic.searched(key)

    def _decide(self, key: str | None, params: Mapping[str, str], fault: Fault | None) -> Answer:
        limits = self.limits(key or "")
        used = self._traffic.quota_used(key or "")
        if fault is not None:
            return answers.for_fault(
                fault, rate_per_s=limits.rate_per_s, used=used, quota=limits.quota
            )
        if not key:
            return answers.missing_api_key()
        if key not in self.config.api_keys:
            return answers.invalid_api_key()
        wait_s = self._traffic.admit(key, limits)
        if wait_s is not None:
            return answers.rate_limited(limits.rate_per_s, wait_s)
        try:
            request = SearchRequest.from_params(params, self.config.page_size)
        except SearchRequestError as exc:
            return answers.bad_request(str(exc))
        if limits.quota is not None and used >= limits.quota:
            return answers.quota_exceeded(used, limits.quota)
        body = search_page(request, self.config.total_results)
        self._traffic.searched(key)
        return Answer(200, body)
