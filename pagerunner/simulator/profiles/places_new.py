"""Google Places Text Search (new): `POST /v1/places:searchText`.

Headers `X-Goog-Api-Key` and `X-Goog-FieldMask` (required; it chooses the
fields of the answer and must include `nextPageToken` for paging), JSON body
`textQuery`, `pageSize` (≤ 20, larger values count as 20) and `pageToken`.
The answer is `places` plus `nextPageToken`, absent on the last page; no
result at all is `{}`. Errors use Google's envelope
`{"error": {"code", "message", "status", "details"}}`: 400 INVALID_ARGUMENT
(bad request, bad key), 403 PERMISSION_DENIED (no key), 429
RESOURCE_EXHAUSTED (per-minute rate or daily quota: the message says which).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import data
from ..answers import Answer
from .base import Call, Profile, ProfileRequestError, retry_after
from .google import PageTokens, place_id, place_types

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "INVALID_KEY",
    "MAX_PAGE_SIZE",
    "MISSING_FIELD_MASK",
    "QUOTA",
    "RATE_LIMIT",
    "PlacesNewProfile",
    "PlacesNewSearch",
    "PlacesNewSettings",
    "google_error",
]

MAX_PAGE_SIZE = 20
INVALID_KEY = "API key not valid. Please pass a valid API key."
MISSING_KEY = "The request is missing a valid API key. Send it in the X-Goog-Api-Key header."
MISSING_FIELD_MASK = (
    "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters "
    "on how to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value "
    "'places.displayName', 'places.id' to ask for the display name and the place id of a "
    "place. You can also set the value to '*' in manual testing to get all the available "
    "response fields."
)
_QUOTA_MESSAGE = (
    "Quota exceeded for quota metric 'SearchTextRequest' and limit 'SearchTextRequest per {} "
    "per project' of service 'places.googleapis.com' for consumer 'project_number:000000000000'."
)
RATE_LIMIT = _QUOTA_MESSAGE.format("minute")  # the per-minute quota: wait and retry
QUOTA = _QUOTA_MESSAGE.format("day")  # the daily quota: spent until tomorrow
_SERVER_STATUS = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass(frozen=True)
class PlacesNewSettings:
    """`max_results`: how many results one query yields across pages (60 at Google)."""

    max_results: int = 60

    def __post_init__(self) -> None:
        if self.max_results < 0:
            raise ValueError("max_results must be 0 or more")


@dataclass(frozen=True)
class PlacesNewSearch:
    text_query: str
    start: int  # 0-based offset of the page's first result
    page_size: int
    fields: frozenset[str]  # place fields to answer ("*": all)
    wants_token: bool


class PlacesNewProfile(Profile[PlacesNewSettings, PlacesNewSearch]):
    """Google Places Text Search (new)"""

    name = "places_new"
    routes = (("POST", "/v1/places:searchText"),)
    settings_type = PlacesNewSettings

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self._tokens = PageTokens()

    def reset(self) -> None:
        self._tokens.clear()

    # -- what tests use --------------------------------------------------------------------

    def expected_places(self, text_query: str, field_mask: str = "*") -> list[dict[str, Any]]:
        """Every entry of `places` for `text_query`, in order, across all pages."""
        fields, _ = _parse_field_mask(field_mask)
        total = self._total(text_query)
        return [_select(p, fields) for p in self._places(text_query, 0, total)]

    # -- answers ----------------------------------------------------------------------------

    def key_of(self, call: Call) -> str | None:
        return call.headers.get("x-goog-api-key") or call.params.get("key") or None

    def invalid_key(self, call: Call, key: str | None) -> Answer:
        if not key:
            return google_error(403, "PERMISSION_DENIED", MISSING_KEY)
        return google_error(400, "INVALID_ARGUMENT", INVALID_KEY, reason="API_KEY_INVALID")

    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        return google_error(
            429, "RESOURCE_EXHAUSTED", RATE_LIMIT, "RATE_LIMIT_EXCEEDED", retry_after(retry_after_s)
        )

    def quota_exceeded(self, call: Call, key: str | None) -> Answer:
        return google_error(429, "RESOURCE_EXHAUSTED", QUOTA, "RATE_LIMIT_EXCEEDED")

    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer:
        return google_error(400, "INVALID_ARGUMENT", str(error))

    def server_error(self, call: Call, status: int) -> Answer:
        code = _SERVER_STATUS.get(status, "UNKNOWN")
        return google_error(status, code, "The service is currently unavailable.")

    def parse(self, call: Call) -> PlacesNewSearch:
        mask = call.headers.get("x-goog-fieldmask") or call.params.get("fields", "")
        if not mask.strip():
            raise ProfileRequestError(MISSING_FIELD_MASK)
        fields, wants_token = _parse_field_mask(mask)
        body = call.json_object()
        text_query = body.get("textQuery")
        if not isinstance(text_query, str) or not text_query.strip():
            raise ProfileRequestError("Invalid request: 'textQuery' must be a non-empty string.")
        page_size = body.get("pageSize", 0)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 0:
            raise ProfileRequestError("Invalid value at 'page_size': must be 0 or more.")
        start = 0
        token_text = body.get("pageToken")
        if token_text:
            token = self._tokens.get(str(token_text))
            if token is None or token.query != text_query:
                raise ProfileRequestError(
                    "Invalid page token: it must come from a call with the same parameters."
                )
            start = token.start
        return PlacesNewSearch(
            text_query=text_query,
            start=start,
            page_size=min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE),
            fields=fields,
            wants_token=wants_token,
        )

    def page(self, call: Call, request: PlacesNewSearch) -> Answer:
        total = self._total(request.text_query)
        stop = min(request.start + request.page_size, total)
        places = self._places(request.text_query, request.start, stop)
        body: dict[str, Any] = {}
        if places:
            body["places"] = [_select(p, request.fields) for p in places]
        if stop < total and request.wants_token:
            body["nextPageToken"] = self._tokens.issue(request.text_query, stop, time.monotonic())
        return Answer(200, body)

    # -- records ----------------------------------------------------------------------------

    def _total(self, text_query: str) -> int:
        default = self.sim.config.total_results
        return min(data.query_total(text_query, default), self.settings.max_results)

    def _places(self, text_query: str, start: int, stop: int) -> list[dict[str, Any]]:
        return [new_place(r) for r in data.records(text_query, "", start + 1, stop + 1)]


def new_place(record: dict[str, Any]) -> dict[str, Any]:
    """A Places (new) `Place` with every field the profile knows."""
    return {
        "id": place_id(record),
        "displayName": {"text": record["name"], "languageCode": "en"},
        "formattedAddress": record["address"],
        "rating": record["rating"],
        "userRatingCount": record["reviews"],
        "types": place_types(record),
    }


def _parse_field_mask(mask: str) -> tuple[frozenset[str], bool]:
    """(place fields, whether `nextPageToken` was asked for); `*` and `places` mean all."""
    fields: set[str] = set()
    wants_token = False
    for entry in (part.strip() for part in mask.split(",")):
        if entry == "*":
            return frozenset({"*"}), True
        if entry == "nextPageToken":
            wants_token = True
        elif entry in ("places", "places.*"):
            fields.add("*")
        elif entry.startswith("places."):
            fields.add(entry.split(".")[1])
    return frozenset(fields), wants_token


def _select(place: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    if "*" in fields:
        return place
    return {name: value for name, value in place.items() if name in fields}


def google_error(
    code: int,
    status: str,
    message: str,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """Google's error envelope, with an `ErrorInfo` detail when `reason` is given."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "places.googleapis.com"},
            }
        ]
    return Answer(code, {"error": error}, headers or {})
