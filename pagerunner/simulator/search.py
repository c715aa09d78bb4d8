"""The search endpoint's input and output: parse query parameters, build one page.

A page is cut from the deterministic records in `data`; a page past the end
is empty with `has_more: false`. Parameter errors are `SearchRequestError`s
whose message is the provider's 400 message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import data

__all__ = ["MAX_PAGE_SIZE", "SearchRequest", "SearchRequestError", "search_page"]

MAX_PAGE_SIZE = 100


class SearchRequestError(ValueError):
    """The search parameters are invalid; the message is what the API answers."""


@dataclass(frozen=True)
class SearchRequest:
    """One call to `GET /v1/search`, validated."""

    q: str
    location: str = ""
    page: int = 1
    page_size: int = 20

    @classmethod
    def from_params(cls, params: Mapping[str, str], default_page_size: int) -> SearchRequest:
        """Validate the query string of a search call."""
        if "total" in params:
            raise SearchRequestError(
                "Unknown parameter: total. Put a 'total:N' token in q to choose how many "
                "results a query has."
            )
        q = params.get("q", "")
        if not q.strip():
            raise SearchRequestError("Missing required parameter: q.")
        page = _positive_int(params.get("page", "1"))
        if page is None:
            raise SearchRequestError("Invalid value for page: must be an integer of at least 1.")
        page_size = _positive_int(params.get("page_size", str(default_page_size)))
        if page_size is None or page_size > MAX_PAGE_SIZE:
            raise SearchRequestError(
                f"Invalid value for page_size: must be an integer from 1 to {MAX_PAGE_SIZE}."
            )
        return cls(q=q, location=params.get("location", ""), page=page, page_size=page_size)


def search_page(request: SearchRequest, default_total: int) -> dict[str, Any]:
    """The 200 body for `request`: its slice of the records and where the next page is."""
    total = data.query_total(request.q, default_total)
    start = (request.page - 1) * request.page_size + 1  # positions are 1-based
    stop = min(start + request.page_size, total + 1)
    has_more = stop <= total
    return {
        "results": data.records(request.q, request.location, start, stop),
        "page": request.page,
        "page_size": request.page_size,
        "total_results": total,
        "has_more": has_more,
        "next_page": request.page + 1 if has_more else None,
    }


def _positive_int(value: str) -> int | None:
    text = value.strip()
    # Longer digit strings are no real page number (and int() refuses > 4300 digits).
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) < 1:
        return None
    return int(text)
