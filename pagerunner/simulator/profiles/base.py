"""What every provider profile shares: the request pipeline, settings, request errors.

A profile answers at a provider's real-looking path (`/search.json`,
`/search/repositories` …) in that provider's shape, but on the simulator's
machinery: the same fault rules, API keys, per-key rate limits and quotas,
stats and latency. A request is decided in the simulator's order, each step
answered the provider's way by a hook of the profile:

1. fault rules (`fault_answer`: rate_limit, quota, invalid_key and server_error
   in the provider's shape; drop and malformed as in the generic API),
2. the API key (`refuse_key`),
3. the key's rate limit from `sim.set_limits` (`throttled`),
4. the profile's own windows, e.g. GitHub's 30 per minute (`own_limits`),
5. the parameters (`parse`, raising `ProfileRequestError`; `bad_request`),
6. the key's quota (`quota_exceeded`),
7. the page (`page`); a successful one counts against the quota.

Every answer from step 2 on passes through `decorate` (rate-limit headers).
Nothing here imports the rest of pagerunner.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from fastapi import FastAPI, Request, Response
from pydantic import TypeAdapter

from .. import answers
from ..answers import Answer, seconds_text
from ..faults import Fault
from ..responses import to_response, wait_unless_client_leaves  # as the /v1/search route

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "Call",
    "Profile",
    "ProfileRequestError",
    "http_phrase",
    "retry_after",
    "with_headers",
]

SettingsT = TypeVar("SettingsT")
RequestT = TypeVar("RequestT")


class ProfileRequestError(ValueError):
    """The request's parameters are invalid; the message is what the provider would say."""


@dataclass(frozen=True)
class Call:
    """One HTTP request to a profile route, read in full (profiles decide synchronously)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    base_url: str  # scheme://host[:port] of the simulator, as the client reached it

    @classmethod
    async def read(cls, request: Request) -> Call:
        return cls(
            method=request.method,
            path=request.url.path,
            query=tuple(request.query_params.multi_items()),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.body(),
            base_url=str(request.base_url).rstrip("/"),
        )

    @property
    def params(self) -> dict[str, str]:
        """Query parameters, the last value of each name."""
        return dict(self.query)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (an empty body is `{}`)."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProfileRequestError(f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(value, dict):
            raise ProfileRequestError("Invalid JSON payload received: expected an object.")
        return value


def with_headers(answer: Answer, headers: Mapping[str, str]) -> Answer:
    """`answer` with `headers` added; the answer's own headers win."""
    return dataclasses.replace(answer, headers={**headers, **answer.headers})


def retry_after(seconds: float | None) -> dict[str, str]:
    """A `Retry-After` header (whole seconds as `2`, fractions as `0.25`), or none."""
    return {} if seconds is None else {"Retry-After": seconds_text(seconds)}


def http_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


class Profile(ABC, Generic[SettingsT, RequestT]):
    """A provider's request and answer shapes on top of a `Simulator`.

    Subclasses set `name`, `routes` ((method, path) pairs) and `settings_type`
    (a frozen dataclass with defaults), and implement the hooks.
    """

    name: ClassVar[str]
    routes: ClassVar[tuple[tuple[str, str], ...]]
    settings_type: ClassVar[type[Any]]
    #: Whether the answer to `sim.set_limits`' rate limit carries `Retry-After`.
    announces_retry_after: ClassVar[bool] = False

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.settings: SettingsT = self.settings_type()

    # -- configuration and state --------------------------------------------------------

    def configure(self, **changes: Any) -> SettingsT:
        """Replace some settings (validated: ValueError); return the new settings."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self.settings_type)})
        if unknown:
            raise ValueError(f"unknown {self.name} settings: {', '.join(unknown)}")
        merged = {**dataclasses.asdict(self.settings), **changes}  # type: ignore[call-overload]
        self.settings = TypeAdapter(self.settings_type).validate_python(merged)
        return self.settings

    def reset(self) -> None:
        """Forget per-key and per-query state (windows, page tokens); settings stay."""

    # -- HTTP ---------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        for method, path in self.routes:
            app.add_api_route(
                path,
                self._endpoint,
                methods=[method],
                name=f"{self.name}:{path}",
                tags=[f"profile: {self.name}"],
                summary=f"{(self.__doc__ or self.name).strip()} (simulator profile)",
            )

    async def _endpoint(self, request: Request) -> Response:
        call = await Call.read(request)
        key = self.key_of(call)
        verdict = self.sim.begin_search(key)
        delay_s = self.sim.config.latency_s + verdict.delay_s
        if delay_s > 0 and not await wait_unless_client_leaves(request, delay_s):
            self.sim.client_left()
            return Response(status_code=499)  # nobody is listening any more
        return to_response(self.sim.count_answer(self.decide(call, key, verdict.fault)))

    def decide(self, call: Call, key: str | None, fault: Fault | None) -> Answer:
        """The answer to `call` (after its delay), in the order of the module docstring."""
        if fault is not None:
            return self.fault_answer(call, key, fault)
        refused = self.refuse_key(call, key)
        if refused is not None:
            return refused
        limit_key = key or ""
        wait_s = self.sim.admit(limit_key)
        if wait_s is not None:
            retry_after = wait_s if self.announces_retry_after else None
            return self.decorate(self.throttled(call, key, retry_after), key)
        refused = self.own_limits(call, key)
        if refused is not None:
            return self.decorate(refused, key)
        try:
            request = self.parse(call)
        except ProfileRequestError as exc:
            return self.decorate(self.bad_request(call, exc), key)
        if self.sim.quota_spent(limit_key):
            return self.decorate(self.quota_exceeded(call, key), key)
        answer = self.page(call, request)
        if answer.status == 200:
            self.sim.count_search(limit_key)
        return self.decorate(answer, key)

    def fault_answer(self, call: Call, key: str | None, fault: Fault) -> Answer:
        """A firing fault's answer in the provider's shape."""
        match fault.kind:
            case "rate_limit":
                return self.throttled(call, key, fault.retry_after_s)
            case "quota":
                return self.quota_exceeded(call, key)
            case "invalid_key":
                return self.invalid_key(call, key)
            case "server_error":
                return self.server_error(call, fault.status)
        return answers.for_fault(fault, rate_per_s=None, used=0, quota=None)  # drop, malformed

    # -- hooks ------------------------------------------------------------------------------

    @abstractmethod
    def key_of(self, call: Call) -> str | None:
        """The API key as the provider takes it (None: none sent)."""

    def refuse_key(self, call: Call, key: str | None) -> Answer | None:
        """None to accept the key; by default a key must be one of `config.api_keys`."""
        if key and key in self.sim.config.api_keys:
            return None
        return self.invalid_key(call, key)

    @abstractmethod
    def invalid_key(self, call: Call, key: str | None) -> Answer: ...

    @abstractmethod
    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        """Over the key's rate limit; `Retry-After: retry_after_s` when it is not None."""

    def own_limits(self, call: Call, key: str | None) -> Answer | None:
        """The profile's own request windows: None to let the request through (and count it)."""
        return None

    @abstractmethod
    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer: ...

    @abstractmethod
    def quota_exceeded(self, call: Call, key: str | None) -> Answer: ...

    @abstractmethod
    def server_error(self, call: Call, status: int) -> Answer: ...

    @abstractmethod
    def parse(self, call: Call) -> RequestT:
        """Validate the request (`ProfileRequestError` with the provider's message)."""

    @abstractmethod
    def page(self, call: Call, request: RequestT) -> Answer:
        """The answer to a valid request of a key within its limits."""

    def decorate(self, answer: Answer, key: str | None) -> Answer:
        """Add what every answer past the key check carries (rate-limit headers)."""
        return answer
