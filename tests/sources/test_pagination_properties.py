"""Property tests of the pagination strategies against in-memory paginated APIs (no HTTP).

For any number of records, page size and provider quirk (a full last page, a
trailing empty page, a silently capped page size, a cursor that repeats or
cycles), driving a strategy fetches every record exactly once and stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from pagerunner.sources.base import Checkpoint
from pagerunner.sources.pagination import (
    RECENT_CURSORS,
    PageRequest,
    PageResponse,
    PaginationState,
    parse_link_header,
    strategy_for,
)
from pagerunner.sources.spec import Pagination

PAGINATION: TypeAdapter[Any] = TypeAdapter(Pagination)
API = "https://api.test/items"
# What a fake API answers to one request: body, headers, the records it returned.
Answer = tuple[Any, dict[str, str], list[int]]
Server = Callable[[PageRequest], Answer]

totals = st.integers(min_value=0, max_value=120)
sizes = st.integers(min_value=1, max_value=25)


def drive(pagination: dict[str, Any], server: Server, total: int) -> list[int]:
    """Fetch pages until the strategy stops; fail if it does not stop in time."""
    strategy = strategy_for(PAGINATION.validate_python(pagination))
    checkpoint = Checkpoint()
    fetched: list[int] = []
    for _ in range(3 * total + 12):
        request = strategy.request(checkpoint)
        body, headers, records = server(request)
        fetched += records
        url = request.url or API
        following = strategy.next_checkpoint(
            checkpoint, PageResponse(body, headers, len(records), url)
        )
        if following is None:
            return fetched
        assert following.page == checkpoint.page + 1  # the query store's rule
        # Every checkpoint goes through the database as JSON between pages.
        checkpoint = Checkpoint.from_json(following.to_json())
    pytest.fail(f"{pagination['type']} did not stop after {3 * total + 12} pages")


def assert_each_once(fetched: list[int], total: int) -> None:
    assert sorted(fetched) == list(range(total)), "every record exactly once"


def assert_each_at_least_once(fetched: list[int], total: int, pages: int) -> None:
    """A cycle longer than the recent-cursor window is gone round before it is caught."""
    if pages < RECENT_CURSORS:
        assert_each_once(fetched, total)
    else:
        assert set(fetched) == set(range(total))


# -- page_number ----------------------------------------------------------------------------

PAGE_STOPS = {
    "has_more": {"has_more_path": "has_more"},
    "total": {"total_path": "meta.total"},
    "total_pages": {"total_pages_path": "meta.pages"},
    "empty": {"stop_on_empty_page": True},
    "short": {"stop_on_short_page": True},
}


def page_server(total: int, size: int, start: int, location: str) -> Server:
    def serve(request: PageRequest) -> Answer:
        sent = request.query if location == "query" else request.body
        index = int(sent["page"]) - start
        records = list(range(total))[index * size : (index + 1) * size]
        pages = -(-total // size)
        body = {
            "items": records,
            "has_more": (index + 1) * size < total,
            "meta": {"total": total, "pages": pages},
        }
        return body, {}, records

    return serve


@given(
    total=totals,
    size=sizes,
    start=st.sampled_from([0, 1]),
    stop=st.sampled_from(sorted(PAGE_STOPS)),
    location=st.sampled_from(["query", "body"]),
)
def test_page_number_fetches_each_record_once_and_stops(
    total: int, size: int, start: int, stop: str, location: str
) -> None:
    pagination = {
        "type": "page_number",
        "param": "page",
        "start": start,
        "in": location,
        "page_size": size,
        "page_size_param": "per_page",
        **PAGE_STOPS[stop],
    }
    fetched = drive(pagination, page_server(total, size, start, location), total)
    assert_each_once(fetched, total)


@given(total=totals, size=sizes, max_pages=st.integers(min_value=1, max_value=10))
def test_max_pages_is_the_querys_cap_not_the_providers_last_page(
    total: int, size: int, max_pages: int
) -> None:
    """The query applies the cap (and notes it); the strategy stops on the provider's word."""
    pagination = {"type": "page_number", "max_pages": max_pages, "stop_on_empty_page": True}
    fetched = drive(pagination, page_server(total, size, 1, "query"), total)
    assert fetched == list(range(total))


# -- offset ---------------------------------------------------------------------------------

OFFSET_STOPS = {
    "has_more": {"has_more_path": "has_more"},
    "total": {"total_path": "total"},
    "empty": {"stop_on_empty_page": True},
    "short": {"stop_on_short_page": True},
}


def offset_server(total: int, cap: int) -> Server:
    """An offset API that silently returns at most `cap` records, whatever the limit."""

    def serve(request: PageRequest) -> Answer:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        records = list(range(total))[offset : offset + min(limit, cap)]
        body = {"data": records, "total": total, "has_more": offset + len(records) < total}
        return body, {}, records

    return serve


@given(total=totals, size=sizes, stop=st.sampled_from(sorted(OFFSET_STOPS)), capped=st.booleans())
def test_offset_fetches_each_record_once_and_stops(
    total: int, size: int, stop: str, capped: bool
) -> None:
    if capped and stop == "short":
        capped = False  # a short-page stop assumes the provider honours the page size
    cap = max(1, size // 2) if capped else size
    pagination = {
        "type": "offset",
        "param": "offset",
        "limit_param": "limit",
        "limit": size,
        **OFFSET_STOPS[stop],
    }
    fetched = drive(pagination, offset_server(total, cap), total)
    assert_each_once(fetched, total)


# -- cursor ---------------------------------------------------------------------------------

END_STYLES = ["missing", "null", "empty", "repeat", "cycle", "has_more_false"]


def cursor_server(total: int, size: int, end: str, location: str) -> Server:
    """Opaque cursors `c<offset>`; the last page ends in one of `END_STYLES`."""

    def serve(request: PageRequest) -> Answer:
        sent = {"query": request.query, "header": request.headers, "body": request.body}[location]
        cursor = sent.get("after")
        offset = int(str(cursor)[1:]) if cursor else 0
        records = list(range(total))[offset : offset + size]
        more = offset + size < total
        body: dict[str, Any] = {"results": records, "paging": {"more": more}}
        if more:
            body["paging"]["next"] = f"c{offset + size}"
        elif end == "null":
            body["paging"]["next"] = None
        elif end == "empty":
            body["paging"]["next"] = ""
        elif end == "repeat":  # the provider hands back the cursor it was given
            body["paging"]["next"] = cursor
        elif end == "cycle" and offset >= size:  # ... or one it gave before
            body["paging"]["next"] = f"c{size}"
        elif end == "has_more_false":
            body["paging"]["next"] = f"c{offset + size}"
        return body, {}, records

    return serve


@given(
    total=totals,
    size=sizes,
    end=st.sampled_from(END_STYLES),
    location=st.sampled_from(["query", "header", "body"]),
)
def test_cursor_fetches_each_record_once_and_stops(
    total: int, size: int, end: str, location: str
) -> None:
    pagination: dict[str, Any] = {
        "type": "cursor",
        "cursor_path": "paging.next",
        "param": "after",
        "in": location,
    }
    if end == "has_more_false":
        pagination["has_more_path"] = "paging.more"
    fetched = drive(pagination, cursor_server(total, size, end, location), total)
    if end == "cycle":
        assert_each_at_least_once(fetched, total, pages=-(-total // size))
    else:
        assert_each_once(fetched, total)


def test_cursor_from_a_header() -> None:
    def serve(request: PageRequest) -> Answer:
        offset = int(request.query.get("after", 0))
        records = list(range(10))[offset : offset + 4]
        headers = {"x-next-cursor": str(offset + 4)} if offset + 4 < 10 else {}
        return {"results": records}, headers, records

    pagination = {"type": "cursor", "cursor_header": "X-Next-Cursor", "param": "after"}
    assert_each_once(drive(pagination, serve, 10), 10)


# -- next_url and link_header ---------------------------------------------------------------


def url_server(total: int, size: int, end: str, relative: bool, *, link: bool) -> Server:
    """Next-page URLs in the body (`next_url`) or the Link header (`link_header`)."""

    def serve(request: PageRequest) -> Answer:
        url = request.url or API
        offset = int(parse_qs(urlsplit(url).query).get("start", ["0"])[0])
        records = list(range(total))[offset : offset + size]
        more = offset + size < total
        target = None
        if more:
            target = (
                f"?q=x&start={offset + size}" if relative else f"{API}?q=x&start={offset + size}"
            )
        elif end == "repeat":
            target = url
        elif end == "empty":
            target = ""
        elif end == "cycle":
            target = API  # back to the first page
        if link:
            headers = (
                {"link": f'<{target}>; rel="next", <{API}?page=9>; rel="last"'} if target else {}
            )
            return {"items": records}, headers, records
        return {"items": records, "pagination": {"next": target}}, {}, records

    return serve


@given(
    total=totals,
    size=sizes,
    end=st.sampled_from(["missing", "repeat", "empty", "cycle"]),
    relative=st.booleans(),
    link=st.booleans(),
)
def test_next_url_and_link_header_fetch_each_record_once_and_stop(
    total: int, size: int, end: str, relative: bool, link: bool
) -> None:
    pagination = (
        {"type": "link_header"}
        if link
        else {"type": "next_url", "next_url_path": "pagination.next"}
    )
    fetched = drive(pagination, url_server(total, size, end, relative, link=link), total)
    assert_each_once(fetched, total)  # the cycle goes back to the first page: caught at once


@settings(max_examples=50)
@given(tokens=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=80))
def test_a_cursor_is_never_sent_twice(tokens: list[str]) -> None:
    """Whatever cursors a provider hands out, none is sent a second time."""
    strategy = strategy_for(
        PAGINATION.validate_python({"type": "cursor", "cursor_path": "next", "param": "c"})
    )
    checkpoint, sent = Checkpoint(), []
    for token in tokens:
        following = strategy.next_checkpoint(checkpoint, PageResponse({"next": token}, {}, 1))
        if following is None:
            break
        checkpoint = following
        sent.append(strategy.request(checkpoint).query["c"])
    window = sent[-(RECENT_CURSORS - 1) :]
    assert len(set(window)) == len(window)


def test_single_page_stops_at_once() -> None:
    strategy = strategy_for(PAGINATION.validate_python({"type": "single_page"}))
    assert strategy.request(Checkpoint()) == PageRequest()
    assert strategy.next_checkpoint(Checkpoint(), PageResponse({"next": 2}, {}, 10)) is None


def test_a_bare_cursor_is_sent_as_is() -> None:
    """A checkpoint set by hand (or by an older version) with a plain cursor still works."""
    assert PaginationState.from_checkpoint(Checkpoint(3, "abc")).next == "abc"
    strategy = strategy_for(
        PAGINATION.validate_python({"type": "cursor", "cursor_path": "n", "param": "c"})
    )
    assert strategy.request(Checkpoint(3, "abc")).query == {"c": "abc"}


def test_parse_link_header() -> None:
    value = (
        '<https://api.github.com/search?q=x&page=2>; rel="next", '
        '<https://api.github.com/search?q=x&page=34>; rel="last"'
    )
    assert parse_link_header(value) == {
        "next": "https://api.github.com/search?q=x&page=2",
        "last": "https://api.github.com/search?q=x&page=34",
    }
    assert parse_link_header("") == {}
