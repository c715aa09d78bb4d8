"""SerpApi's Google Maps engine: `GET /search.json?engine=google_maps&type=search&q=…`.

20 `local_results` per page at `start` = 0, 20, 40 …; `serpapi_pagination.next`
(a URL on the simulator's host, without `api_key`, as SerpApi sends it) while
more pages exist; `ll` (`@lat,lng,zoomz`) is required to page past the first.
An empty result is a 200 with `search_metadata.status: "Success"` and a
top-level `error`. Every error body is `{"error": "…"}`, and both the hourly
throughput limit and the spent plan answer **429**: only the message tells
them apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .. import data
from ..answers import Answer
from .base import Call, Profile, ProfileRequestError, http_phrase, retry_after
from .google import coordinates, place_id, place_types

__all__ = [
    "EMPTY_RESULT",
    "HOURLY_LIMIT",
    "INVALID_KEY",
    "OUT_OF_SEARCHES",
    "PAGE_SIZE",
    "SerpApiProfile",
    "SerpApiSearch",
    "SerpApiSettings",
]

PAGE_SIZE = 20  # Google Maps' own page size; SerpApi has no parameter for it
INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"
HOURLY_LIMIT = (
    "Your account has exceeded the hourly searches limit. "
    "Please upgrade your plan or wait until the next hour."
)
OUT_OF_SEARCHES = "Your account has run out of searches."
EMPTY_RESULT = "Google Maps hasn't returned any results for this query."

_LL = re.compile(r"^@(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?),(\d{1,2}(?:\.\d+)?)z$")
_CITIES = ("New York, NY", "Chicago, IL", "Seattle, WA", "Miami, FL", "Boston, MA", "Austin, TX")


@dataclass(frozen=True)
class SerpApiSettings:
    """`max_results`: how far Google Maps goes for one query (None: no cap).

    SerpApi advises stopping near `start=100`, i.e. 120 results (unverified).
    """

    max_results: int | None = 120

    def __post_init__(self) -> None:
        if self.max_results is not None and self.max_results < 0:
            raise ValueError("max_results must be 0 or more")


@dataclass(frozen=True)
class SerpApiSearch:
    """One valid Google Maps search."""

    q: str
    ll: str  # "" when not sent
    start: int


class SerpApiProfile(Profile[SerpApiSettings, SerpApiSearch]):
    """SerpApi Google Maps search"""

    name = "serpapi"
    routes = (("GET", "/search.json"),)
    settings_type = SerpApiSettings

    # -- what tests use --------------------------------------------------------------------

    def expected_results(self, q: str, ll: str = "") -> list[dict[str, Any]]:
        """Every `local_results` entry for `(q, ll)`, in order, across all pages."""
        return self._results(q, ll, 0, self._total(q))

    # -- answers ----------------------------------------------------------------------------

    def key_of(self, call: Call) -> str | None:
        return call.params.get("api_key") or None

    def invalid_key(self, call: Call, key: str | None) -> Answer:
        return _error(401, INVALID_KEY)

    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        return _error(429, HOURLY_LIMIT, retry_after(retry_after_s))

    def quota_exceeded(self, call: Call, key: str | None) -> Answer:
        return _error(429, OUT_OF_SEARCHES)

    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer:
        return _error(400, str(error))

    def server_error(self, call: Call, status: int) -> Answer:
        return _error(status, f"{http_phrase(status)}. Please retry your search later.")

    def parse(self, call: Call) -> SerpApiSearch:
        params = call.params
        engine = params.get("engine", "google")
        if engine != "google_maps":
            raise ProfileRequestError(f"Unsupported `{engine}` search engine.")
        if params.get("type", "search") != "search":
            raise ProfileRequestError("Unsupported `type` for this simulator: use type=search.")
        q = params.get("q", "")
        if not q.strip():
            raise ProfileRequestError("Missing query `q` parameter.")
        start_text = params.get("start", "0").strip()
        if not start_text.isascii() or not start_text.isdigit() or len(start_text) > 9:
            raise ProfileRequestError("Invalid `start` parameter: use 0, 20, 40 …")
        ll = params.get("ll", "").strip()
        if ll and not _LL.match(ll):
            raise ProfileRequestError(
                "Invalid `ll` parameter. Use the format @latitude,longitude,zoomz."
            )
        start = int(start_text)
        if start > 0 and not ll:
            raise ProfileRequestError("Missing `ll` parameter: it is required with `start`.")
        return SerpApiSearch(q=q, ll=ll, start=start)

    def page(self, call: Call, request: SerpApiSearch) -> Answer:
        total = self._total(request.q)
        stop = min(request.start + PAGE_SIZE, total)
        results = self._results(request.q, request.ll, request.start, stop)
        body: dict[str, Any] = {
            "search_metadata": _metadata(call, request),
            "search_parameters": _parameters(request),
            "search_information": {
                "local_results_state": "Results for exact spelling",
                "query_displayed": request.q,
            },
        }
        if not results:
            body["error"] = EMPTY_RESULT
            return Answer(200, body)
        body["local_results"] = results
        if stop < total:
            body["serpapi_pagination"] = {"next": _next_url(call, request.start + PAGE_SIZE)}
        return Answer(200, body)

    # -- records ----------------------------------------------------------------------------

    def _total(self, q: str) -> int:
        total = data.query_total(q, self.sim.config.total_results)
        cap = self.settings.max_results
        return total if cap is None else min(total, cap)

    def _results(self, q: str, ll: str, start: int, stop: int) -> list[dict[str, Any]]:
        return [local_result(r, ll) for r in data.records(q, ll, start + 1, stop + 1)]


def local_result(record: dict[str, Any], ll: str) -> dict[str, Any]:
    """A Google Maps `local_results` entry for a simulator record (searched near `ll`)."""
    address = record["address"]
    center = None
    if ll:
        # The record's identity includes `ll`; its address shows a city rather than `ll`.
        match = _LL.match(ll)
        assert match is not None  # validated in parse
        center = (float(match.group(1)), float(match.group(2)))
        city = _CITIES[int(hashlib.sha1(ll.encode(), usedforsecurity=False).hexdigest(), 16) % 6]
        address = address.removesuffix(ll).rstrip(", ") + ", " + city
    lat, lng = coordinates(record, center)
    ident = record["id"][3:]
    return {
        "position": record["position"],
        "title": record["name"],
        "place_id": place_id(record),
        "data_id": f"0x{ident[:8]}:0x{ident[8:]}",
        "gps_coordinates": {"latitude": lat, "longitude": lng},
        "rating": record["rating"],
        "reviews": record["reviews"],
        "type": record["category"],
        "types": [record["category"]],
        "type_ids": place_types(record)[:1],
        "address": address,
        "phone": record["phone"],
        "website": record["website"],
    }


def _metadata(call: Call, request: SerpApiSearch) -> dict[str, Any]:
    search_id = hashlib.sha1(
        f"{request.q}|{request.ll}|{request.start}".encode(), usedforsecurity=False
    ).hexdigest()[:24]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {
        "id": search_id,
        "status": "Success",
        "json_endpoint": f"{call.base_url}/searches/{search_id}.json",
        "created_at": now,
        "processed_at": now,
        "google_maps_url": "https://www.google.com/maps/search/"
        + urlencode({"q": request.q}).removeprefix("q=")
        + (f"/{request.ll}" if request.ll else ""),
        "total_time_taken": 0.0,
    }


def _parameters(request: SerpApiSearch) -> dict[str, Any]:
    parameters: dict[str, Any] = {"engine": "google_maps", "type": "search", "q": request.q}
    if request.ll:
        parameters["ll"] = request.ll
    parameters |= {"google_domain": "google.com", "hl": "en", "start": request.start}
    return parameters


def _next_url(call: Call, start: int) -> str:
    """The request's URL at `start`, parameters sorted, without `api_key` (as SerpApi)."""
    params = {name: value for name, value in call.query if name not in ("api_key", "start")}
    params["start"] = str(start)
    return f"{call.base_url}{call.path}?{urlencode(sorted(params.items()))}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": message}, headers or {})
