"""Google Places Text Search (legacy): `GET /maps/api/place/textsearch/json?query=…&key=…`.

20 `results` per page, at most 60 per query (3 pages). `next_page_token`, sent
back as `pagetoken`, becomes valid only `token_delay_s` after it was issued
(about 2 s at Google); used earlier it gets `INVALID_REQUEST`. Every answer
is **HTTP 200**: the outcome is the body's `status` (`OK`, `ZERO_RESULTS`,
`INVALID_REQUEST`, `OVER_QUERY_LIMIT`, `REQUEST_DENIED`, `UNKNOWN_ERROR`),
with an `error_message` for most errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import data
from ..answers import Answer
from .base import Call, Profile, ProfileRequestError
from .google import PageTokens, coordinates, place_id, place_types

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "INVALID_KEY",
    "MISSING_KEY",
    "PAGE_SIZE",
    "QUOTA",
    "RATE_LIMIT",
    "UNKNOWN",
    "PlacesLegacyProfile",
    "PlacesLegacySearch",
    "PlacesLegacySettings",
]

PAGE_SIZE = 20
MISSING_KEY = (
    "You must use an API key to authenticate each request to Google Maps Platform APIs. "
    "For additional information, please refer to http://g.co/dev/maps-no-account"
)
INVALID_KEY = "The provided API key is invalid."
RATE_LIMIT = "You have exceeded your rate-limit for this API."
QUOTA = "You have exceeded your daily request quota for this API."
UNKNOWN = "An unknown error occurred on the server. Please try again."


@dataclass(frozen=True)
class PlacesLegacySettings:
    """`token_delay_s`: how long a `next_page_token` needs to become valid."""

    token_delay_s: float = 2.0
    max_results: int = 60

    def __post_init__(self) -> None:
        if self.token_delay_s < 0:
            raise ValueError("token_delay_s must be 0 or more")
        if self.max_results < 0:
            raise ValueError("max_results must be 0 or more")


@dataclass(frozen=True)
class PlacesLegacySearch:
    query: str
    start: int  # 0-based offset of the page's first result


class _TokenNotValid(ProfileRequestError):
    """An unknown page token, or one used before it became valid: Google says no more."""


class PlacesLegacyProfile(Profile[PlacesLegacySettings, PlacesLegacySearch]):
    """Google Places Text Search (legacy)"""

    name = "places_legacy"
    routes = (("GET", "/maps/api/place/textsearch/json"),)
    settings_type = PlacesLegacySettings

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self._tokens = PageTokens()

    def reset(self) -> None:
        self._tokens.clear()

    # -- what tests use --------------------------------------------------------------------

    def expected_results(self, query: str) -> list[dict[str, Any]]:
        """Every entry of `results` for `query`, in order, across all (at most 3) pages."""
        return self._results(query, 0, self._total(query))

    # -- answers ----------------------------------------------------------------------------

    def key_of(self, call: Call) -> str | None:
        return call.params.get("key") or None

    def invalid_key(self, call: Call, key: str | None) -> Answer:
        return _status("REQUEST_DENIED", INVALID_KEY if key else MISSING_KEY)

    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        return _status("OVER_QUERY_LIMIT", RATE_LIMIT)  # no header: all is in the body

    def quota_exceeded(self, call: Call, key: str | None) -> Answer:
        return _status("OVER_QUERY_LIMIT", QUOTA)

    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer:
        if isinstance(error, _TokenNotValid):
            return _status("INVALID_REQUEST")  # as Google: no error_message
        return _status("INVALID_REQUEST", str(error))

    def server_error(self, call: Call, status: int) -> Answer:
        return _status("UNKNOWN_ERROR", UNKNOWN)  # still HTTP 200: the status says retry

    def parse(self, call: Call) -> PlacesLegacySearch:
        params = call.params
        token_text = params.get("pagetoken", "")
        if token_text:  # the token alone says which query and page
            token = self._tokens.get(token_text)
            if token is None or time.monotonic() < token.valid_at:
                raise _TokenNotValid(token_text)
            return PlacesLegacySearch(query=token.query, start=token.start)
        query = params.get("query", "")
        if not query.strip():
            raise ProfileRequestError("Missing the 'query' parameter.")
        return PlacesLegacySearch(query=query, start=0)

    def page(self, call: Call, request: PlacesLegacySearch) -> Answer:
        total = self._total(request.query)
        stop = min(request.start + PAGE_SIZE, total)
        results = self._results(request.query, request.start, stop)
        if not results:
            return _status("ZERO_RESULTS")
        body: dict[str, Any] = {"html_attributions": []}
        if stop < total:
            valid_at = time.monotonic() + self.settings.token_delay_s
            body["next_page_token"] = self._tokens.issue(request.query, stop, valid_at)
        body |= {"results": results, "status": "OK"}
        return Answer(200, body)

    # -- records ----------------------------------------------------------------------------

    def _total(self, query: str) -> int:
        total = data.query_total(query, self.sim.config.total_results)
        return min(total, self.settings.max_results)

    def _results(self, query: str, start: int, stop: int) -> list[dict[str, Any]]:
        return [legacy_result(r) for r in data.records(query, "", start + 1, stop + 1)]


def legacy_result(record: dict[str, Any]) -> dict[str, Any]:
    """A legacy Text Search `results` entry for a simulator record."""
    lat, lng = coordinates(record, None)
    return {
        "business_status": "OPERATIONAL",
        "formatted_address": record["address"],
        "geometry": {"location": {"lat": lat, "lng": lng}},
        "name": record["name"],
        "place_id": place_id(record),
        "rating": record["rating"],
        "types": place_types(record),
        "user_ratings_total": record["reviews"],
    }


def _status(status: str, message: str | None = None) -> Answer:
    body: dict[str, Any] = {"html_attributions": [], "results": [], "status": status}
    if message is not None:
        body["error_message"] = message
    return Answer(200, body)
