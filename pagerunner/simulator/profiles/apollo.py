"""Apollo people search: `POST /api/v1/mixed_people/api_search`.

Key in the `x-api-key` header; JSON body (or query string, `name[]=` for
lists, as in Apollo's docs) with `page`, `per_page` (≤ 100; larger counts as
100) and filters (`person_titles`, `q_keywords`, `person_locations` …). The
answer is `people` and `pagination` `{page, per_page, total_entries,
total_pages}`; Apollo shows at most 50,000 records (`total_pages` stops
there, later pages are empty).

Fixed windows per key (200/minute, 400/hour, 2,000/day by default), announced
on every answer by `x-rate-limit-minute`, `x-minute-requests-left`,
`x-rate-limit-hourly`, `x-hourly-requests-left`, `x-rate-limit-daily`,
`x-daily-requests-left`; over one: 429 `{"error": "…"}`. Bad key: 401; an
accepted key that is not a master key (`restricted_keys`): 403.

Two variants reproduce answers recorded from the real API: `total_at="top_level"`
answers `total_entries` beside `people`, with no `pagination` object, and
`error_shape="message"` puts error messages in `message` and answers a bad key
with plain text.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import data
from ..answers import Answer
from .base import Call, Profile, ProfileRequestError, http_phrase, retry_after, with_headers
from .windows import FixedWindows, WindowLimit

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "ENDPOINT",
    "INVALID_KEY",
    "ApolloProfile",
    "ApolloSearch",
    "ApolloSettings",
    "over_limit_message",
]

ENDPOINT = "api/v1/mixed_people/api_search"
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
INVALID_KEY = "Invalid access credentials."
NOT_MASTER_KEY = (
    f"{ENDPOINT} is not accessible with this api_key. Please use a master API key: "
    "https://docs.apollo.io/docs/create-api-key"
)
_UNITS = {"minute": "minute", "hourly": "hour", "daily": "day"}
_FIRST = ("Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Iris", "Omar", "Lena", "Raj", "Sofia")
_LAST = ("Carter", "Nguyen", "Patel", "Okafor", "Schmidt", "Rossi", "Kim", "Silva", "Haddad")
_TITLES = ("Owner", "Founder", "Operations Manager", "Head of Sales", "General Manager")
_PLACES = (("Austin", "Texas"), ("Denver", "Colorado"), ("Boston", "Massachusetts"))


@dataclass(frozen=True)
class ApolloSettings:
    """Requests per key per window (None: no such window); `minute_s` scales all windows."""

    per_minute: int | None = 200
    per_hour: int | None = 400
    per_day: int | None = 2000
    minute_s: float = 60.0  # hour = 60 minutes, day = 24 hours
    max_results: int = 50_000  # Apollo's display cap
    restricted_keys: tuple[str, ...] = ()  # accepted, but not master keys: 403
    #: Where a page says its total: `pagination.total_entries` (with `total_pages`), or
    #: a top-level `total_entries` and no `pagination` object.
    total_at: Literal["pagination", "top_level"] = "pagination"
    #: Error bodies `{"error": …}`, or `{"message": …}` with a bad key as plain text.
    error_shape: Literal["error", "message"] = "error"

    def __post_init__(self) -> None:
        if any(n is not None and n < 1 for n in (self.per_minute, self.per_hour, self.per_day)):
            raise ValueError("per_minute, per_hour and per_day must be 1 or more (or None)")
        if self.minute_s <= 0:
            raise ValueError("minute_s must be greater than 0")
        if self.max_results < 0:
            raise ValueError("max_results must be 0 or more")

    def windows(self) -> list[WindowLimit]:
        lengths = {"minute": self.minute_s, "hourly": 60 * self.minute_s}
        lengths["daily"] = 24 * lengths["hourly"]
        limits = {"minute": self.per_minute, "hourly": self.per_hour, "daily": self.per_day}
        return [WindowLimit(n, limit, lengths[n]) for n, limit in limits.items() if limit]


@dataclass(frozen=True)
class ApolloSearch:
    keywords: str  # q_keywords, may hold a total:N token
    filters: str  # the other filters, canonical JSON (part of the records' identity)
    titles: tuple[str, ...]
    page: int
    per_page: int


class ApolloProfile(Profile[ApolloSettings, ApolloSearch]):
    """Apollo people search"""

    name = "apollo"
    routes = (("POST", f"/{ENDPOINT}"),)
    settings_type = ApolloSettings

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self._windows = FixedWindows()

    def reset(self) -> None:
        self._windows.reset()

    # -- what tests use --------------------------------------------------------------------

    def expected_people(self, **filters: Any) -> list[dict[str, Any]]:
        """Every person a client can page through for `filters` (at most `max_results`)."""
        search = _search({**filters, "page": 1, "per_page": MAX_PER_PAGE})
        return self._people(search, 0, self._reachable(search))

    def requests_left(self, key: str) -> dict[str, int]:
        """Per window name (`minute`, `hourly`, `daily`), the requests `key` has left."""
        return {w.name: self._windows.state(key, w).remaining for w in self.settings.windows()}

    # -- answers ----------------------------------------------------------------------------

    def key_of(self, call: Call) -> str | None:
        return call.headers.get("x-api-key") or None

    def refuse_key(self, call: Call, key: str | None) -> Answer | None:
        refused = super().refuse_key(call, key)
        if refused is None and key in self.settings.restricted_keys:
            return self._error(403, NOT_MASTER_KEY, error_code="API_INACCESSIBLE")
        return refused

    def invalid_key(self, call: Call, key: str | None) -> Answer:
        if self.settings.error_shape == "message":
            text = {"Content-Type": "text/plain; charset=utf-8"}
            return Answer(401, raw=INVALID_KEY.encode(), headers=text)
        return self._error(401, INVALID_KEY)

    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        limit = self.settings.per_minute
        message = over_limit_message(limit, "minute") if limit else "Too many requests. Slow down."
        return self._error(429, message, headers=retry_after(retry_after_s))

    def own_limits(self, call: Call, key: str | None) -> Answer | None:
        full = self._windows.take(key or "", self.settings.windows())
        if full is None:
            return None
        return self._error(429, over_limit_message(full.limit, _UNITS[full.name]))

    def quota_exceeded(self, call: Call, key: str | None) -> Answer:
        limit = self.settings.per_day
        message = (
            over_limit_message(limit, "day") if limit else "Your team's daily API limit is used up."
        )
        return self._error(429, message)

    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer:
        return self._error(422, str(error))

    def server_error(self, call: Call, status: int) -> Answer:
        return self._error(status, http_phrase(status))

    def parse(self, call: Call) -> ApolloSearch:
        merged: dict[str, Any] = {}
        for name, value in call.query:
            if name.endswith("[]"):
                merged.setdefault(name[:-2], []).append(value)
            else:
                merged[name] = value
        merged.update(call.json_object())
        merged.pop("api_key", None)
        return _search(merged)

    def page(self, call: Call, request: ApolloSearch) -> Answer:
        total = data.query_total(request.keywords, self.sim.config.total_results)
        reachable = self._reachable(request)
        start = (request.page - 1) * request.per_page
        stop = min(start + request.per_page, reachable)
        people = self._people(request, start, stop) if start < stop else []
        if self.settings.total_at == "top_level":
            return Answer(200, {"total_entries": total, "people": people})
        body = {
            "people": people,
            "pagination": {
                "page": request.page,
                "per_page": request.per_page,
                "total_entries": total,
                "total_pages": math.ceil(reachable / request.per_page),
            },
            "breadcrumbs": [],
        }
        return Answer(200, body)

    def decorate(self, answer: Answer, key: str | None) -> Answer:
        headers: dict[str, str] = {}
        for window in self.settings.windows():
            state = self._windows.state(key or "", window)
            headers[f"x-rate-limit-{window.name}"] = str(window.limit)
            headers[f"x-{window.name}-requests-left"] = str(state.remaining)
        return with_headers(answer, headers)

    def _error(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body: dict[str, str] = {self.settings.error_shape: message}
        if error_code is not None:
            body["error_code"] = error_code
        return Answer(status, body, headers or {})

    # -- records ----------------------------------------------------------------------------

    def _reachable(self, search: ApolloSearch) -> int:
        total = data.query_total(search.keywords, self.sim.config.total_results)
        return min(total, self.settings.max_results)

    def _people(self, search: ApolloSearch, start: int, stop: int) -> list[dict[str, Any]]:
        records = data.records(search.keywords, f"apollo|{search.filters}", start + 1, stop + 1)
        return [person(r, search.titles) for r in records]


def person(record: dict[str, Any], titles: tuple[str, ...]) -> dict[str, Any]:
    """An Apollo person (working at the record's business) for a simulator record."""
    digest = hashlib.sha1(f"person|{record['id']}".encode(), usedforsecurity=False).hexdigest()
    number = int(digest, 16)
    first, last = _FIRST[number % len(_FIRST)], _LAST[number // 7 % len(_LAST)]
    title = titles[record["position"] % len(titles)] if titles else _TITLES[number % 5]
    city, state = _PLACES[number // 11 % len(_PLACES)]
    org_id = hashlib.sha1(f"org|{record['id']}".encode(), usedforsecurity=False).hexdigest()[:24]
    return {
        "id": digest[:24],
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "title": title,
        "headline": f"{title} at {record['name']}",
        "linkedin_url": f"http://www.linkedin.com/in/{first}-{last}-{digest[24:30]}".lower(),
        "email_status": "verified",
        "city": city,
        "state": state,
        "country": "United States",
        "organization_id": org_id,
        "organization": {
            "id": org_id,
            "name": record["name"],
            "website_url": record["website"],
            "primary_domain": record["website"].removeprefix("https://www."),
            "phone": record["phone"],
        },
    }


def _search(params: dict[str, Any]) -> ApolloSearch:
    """Validate the merged body and query parameters of a search."""
    page = _positive(params.pop("page", 1), "page")
    per_page = min(_positive(params.pop("per_page", DEFAULT_PER_PAGE), "per_page"), MAX_PER_PAGE)
    keywords = params.pop("q_keywords", "")
    if not isinstance(keywords, str):
        raise ProfileRequestError("q_keywords must be a string")
    titles = params.get("person_titles", [])
    if isinstance(titles, str):
        titles = [titles]
    if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
        raise ProfileRequestError("person_titles must be a list of strings")
    canonical = {
        name: sorted(" ".join(str(v).lower().split()) for v in _as_list(value))
        for name, value in params.items()
    }
    return ApolloSearch(
        keywords=keywords,
        filters=json.dumps(canonical, sort_keys=True, separators=(",", ":")),
        titles=tuple(sorted(titles)),  # the order of the filter does not matter
        page=page,
        per_page=per_page,
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProfileRequestError(f"{name} must be a positive integer")
    return value


def over_limit_message(limit: int, unit: str) -> str:
    """Apollo's 429 message for a full window (`unit`: minute, hour, day)."""
    return (
        f"The maximum number of api calls allowed for {ENDPOINT} is {limit} times per {unit}. "
        "Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade."
    )
