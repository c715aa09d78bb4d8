"""Pagination strategies: what to send for a checkpoint, and the checkpoint after a page.

Every strategy is pure (no I/O, no clock), so property tests can drive it
against an in-memory API. `Checkpoint.page` is always the query's page counter
(1, 2, 3 …, as the query store requires); whatever else a strategy needs to
remember travels in `Checkpoint.cursor` as a small JSON object:

    {"next": <cursor or URL to send>, "seen": <records so far>, "recent": [<hashes>], ...}

A provider that hands back a cursor it gave before ends the query instead of
looping forever. `recent` holds fingerprints of the last cursors sent and `first`
the first one, which stops a short cycle (or one back to the start) before any
page is fetched twice; a longer cycle is caught
by Brent's cycle detection (`mark`, `power`, `lap`: one remembered cursor, in
constant space) after going round it at most twice, so every query stops.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urljoin

from .base import Checkpoint
from .jsonpath import compile_path, first_of
from .spec import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    SinglePagePagination,
)

__all__ = [
    "RECENT_CURSORS",
    "PageRequest",
    "PageResponse",
    "PaginationState",
    "Strategy",
    "parse_link_header",
    "strategy_for",
]

RECENT_CURSORS = 32
Token = str | int | float


@dataclass(frozen=True)
class PageRequest:
    """What the strategy adds to the request of one page."""

    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)
    #: A next-page URL to call instead of the source's URL (already absolute).
    url: str | None = None


@dataclass(frozen=True)
class PageResponse:
    """What the strategy may look at in a page's response."""

    body: Any
    headers: Mapping[str, str]  # names in lower case
    record_count: int
    url: str = ""  # the URL that was called, to resolve relative next links


@dataclass(frozen=True)
class PaginationState:
    """The strategy's memory between pages, kept in `Checkpoint.cursor`."""

    next: Token | None = None
    seen: int = 0
    recent: tuple[str, ...] = ()
    first: str | None = None  # the first cursor (or URL) sent: a common place to cycle back to
    mark: str | None = None  # Brent's "tortoise": a fingerprint the cursor may come back to
    power: int = 1
    lap: int = 0

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> PaginationState:
        if checkpoint.cursor is None:
            return cls()
        try:
            data = json.loads(checkpoint.cursor)
        except ValueError:
            data = None
        if not isinstance(data, dict):  # a bare cursor (e.g. set by hand): send it as is
            return cls(next=checkpoint.cursor)
        recent = data.get("recent") or []
        return cls(
            next=data.get("next"),
            seen=int(data.get("seen") or 0),
            recent=tuple(str(r) for r in recent),
            first=data.get("first"),
            mark=data.get("mark"),
            power=int(data.get("power") or 1),
            lap=int(data.get("lap") or 0),
        )

    def to_cursor(self) -> str:
        data: dict[str, Any] = {}
        if self.next is not None:
            data["next"] = self.next
        data["seen"] = self.seen
        if self.recent:
            data["recent"] = list(self.recent)
        if self.first is not None:
            data["first"] = self.first
        if self.mark is not None:
            data.update(mark=self.mark, power=self.power, lap=self.lap)
        return json.dumps(data, separators=(",", ":"))


class Strategy(Protocol):
    def request(self, checkpoint: Checkpoint) -> PageRequest:
        """What to send for the page at `checkpoint`."""
        ...

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        """The checkpoint of the page after this one, or None when this was the last."""
        ...


def strategy_for(spec: Pagination) -> Strategy:
    """The strategy object for a validated pagination spec."""
    match spec:
        case PageNumberPagination():
            return PageNumberStrategy(spec)
        case OffsetPagination():
            return OffsetStrategy(spec)
        case CursorPagination():
            return CursorStrategy(spec)
        case NextUrlPagination() | LinkHeaderPagination():
            return NextUrlStrategy(spec)
        case SinglePagePagination():
            return SinglePageStrategy()
    raise TypeError(f"no strategy for {type(spec).__name__}")


def _has_more_false(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("", "false", "0", "no", "null", "none")
    return not value


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


Stopping = (
    PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination
)


def _stop_conditions_met(spec: Stopping, response: PageResponse, seen_after: int) -> bool:
    """Whether any configured stop condition says this page was the last.

    `max_pages` is not one of them: it is the source's page cap, which the query
    applies (`Query.max_pages`) so that it can tell a cap from the provider's last page.
    """
    count = response.record_count
    if spec.stop_on_empty_page and count == 0:
        return True
    if spec.stop_on_short_page and spec.page_size is not None and count < spec.page_size:
        return True
    # A missing has-more flag ends the query: looping on a guess is worse than stopping.
    if spec.has_more_path is not None and _has_more_false(
        compile_path(spec.has_more_path).first(response.body)
    ):
        return True
    if spec.total_path is not None:
        total = _as_int(first_of(spec.total_path, response.body))
        if total is not None and seen_after >= total:
            return True
    return False


def _after_page(
    spec: Stopping, checkpoint: Checkpoint, response: PageResponse
) -> tuple[PaginationState, int] | None:
    """The state and the records seen so far; None when a stop condition ends the query here."""
    state = PaginationState.from_checkpoint(checkpoint)
    seen = state.seen + response.record_count
    if _stop_conditions_met(spec, response, seen):
        return None
    return state, seen


def _placed(location: str, values: Mapping[str, Any]) -> PageRequest:
    if location == "body":
        return PageRequest(body=values)
    if location == "header":
        return PageRequest(headers={k: str(v) for k, v in values.items()})
    return PageRequest(query=values)


class PageNumberStrategy:
    """`page=1, 2, 3 …` (from `start`), with an optional page size parameter."""

    def __init__(self, spec: PageNumberPagination) -> None:
        self.spec = spec

    def request(self, checkpoint: Checkpoint) -> PageRequest:
        values: dict[str, Any] = {self.spec.param: self.spec.start + checkpoint.page - 1}
        if self.spec.page_size_param and self.spec.page_size:
            values[self.spec.page_size_param] = self.spec.page_size
        return _placed(self.spec.location, values)

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        after = _after_page(self.spec, checkpoint, response)
        if after is None:
            return None
        _, seen = after
        if self.spec.total_pages_path is not None:
            pages = _as_int(first_of(self.spec.total_pages_path, response.body))
            if pages is not None and checkpoint.page >= pages:
                return None
        return Checkpoint(checkpoint.page + 1, PaginationState(seen=seen).to_cursor())


class OffsetStrategy:
    """`offset=0, n, 2n …`: the next offset is the previous plus the records it returned.

    Counting returned records (not the requested limit) stays exact when a
    provider silently caps the page size. An empty page always ends the query:
    the next request would be the same one again.
    """

    def __init__(self, spec: OffsetPagination) -> None:
        self.spec = spec

    def request(self, checkpoint: Checkpoint) -> PageRequest:
        state = PaginationState.from_checkpoint(checkpoint)
        values: dict[str, Any] = {self.spec.param: self.spec.start + state.seen}
        if self.spec.page_size_param and self.spec.page_size:
            values[self.spec.page_size_param] = self.spec.page_size
        return _placed(self.spec.location, values)

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        after = _after_page(self.spec, checkpoint, response)
        if response.record_count == 0 or after is None:
            return None
        return Checkpoint(checkpoint.page + 1, PaginationState(seen=after[1]).to_cursor())


def _fingerprint(token: Token) -> str:
    return hashlib.sha256(json.dumps(token).encode()).hexdigest()[:12]


def _advance(
    checkpoint: Checkpoint, state: PaginationState, token: Any, seen: int
) -> Checkpoint | None:
    """The checkpoint that sends `token` next; None when it is missing or was sent before."""
    if token is None or token == "" or isinstance(token, bool | dict | list):
        return None
    mark = _fingerprint(token)
    sent = state.recent if state.next is None else (*state.recent, _fingerprint(state.next))
    first = state.first or (sent[-1] if sent else None)
    if mark in sent or mark in (first, state.mark):
        return None  # the provider repeats itself: stop rather than loop
    nxt = PaginationState(
        next=token,
        seen=seen,
        recent=sent[-(RECENT_CURSORS - 1) :],
        first=first,
        mark=state.mark,
        power=state.power,
        lap=state.lap + 1,
    )
    if state.mark is None or nxt.lap >= state.power:  # Brent: move the mark ahead
        nxt = replace(nxt, mark=mark, power=state.power * 2, lap=0)
    return Checkpoint(checkpoint.page + 1, nxt.to_cursor())


class CursorStrategy:
    """A cursor from the body (or a header), sent back as a query param, header or body field."""

    def __init__(self, spec: CursorPagination) -> None:
        self.spec = spec

    def request(self, checkpoint: Checkpoint) -> PageRequest:
        state = PaginationState.from_checkpoint(checkpoint)
        values: dict[str, Any] = {}
        if self.spec.page_size_param and self.spec.page_size:
            values[self.spec.page_size_param] = self.spec.page_size
        if state.next is not None:
            values[self.spec.param] = state.next
        return _placed(self.spec.location, values)

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        after = _after_page(self.spec, checkpoint, response)
        if after is None:
            return None
        state, seen = after
        if self.spec.cursor_header is not None:
            token: Any = response.headers.get(self.spec.cursor_header.lower())
        else:
            token = compile_path(self.spec.cursor_path or "").first(response.body)
        return _advance(checkpoint, state, token, seen)


class NextUrlStrategy:
    """The next page's URL, from a JSON path (`next_url`) or the `Link` header (`link_header`).

    Relative URLs are resolved against the page's own URL. Whether the URL may
    be called (same scheme and host as the source) is the source's decision.
    """

    def __init__(self, spec: NextUrlPagination | LinkHeaderPagination) -> None:
        self.spec = spec

    def request(self, checkpoint: Checkpoint) -> PageRequest:
        state = PaginationState.from_checkpoint(checkpoint)
        return PageRequest(url=None if state.next is None else str(state.next))

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        after = _after_page(self.spec, checkpoint, response)
        if after is None:
            return None
        state, seen = after
        if isinstance(self.spec, NextUrlPagination):
            url = compile_path(self.spec.next_url_path).first(response.body)
        else:
            url = parse_link_header(response.headers.get("link", "")).get(self.spec.rel)
        if not isinstance(url, str) or not url.strip():
            return None
        if state.next is None and response.url:  # the first page's URL counts as sent
            state = replace(state, next=response.url)
        return _advance(checkpoint, state, urljoin(response.url, url.strip()), seen)


class SinglePageStrategy:
    """One request, one page."""

    def request(self, checkpoint: Checkpoint) -> PageRequest:
        return PageRequest()

    def next_checkpoint(self, checkpoint: Checkpoint, response: PageResponse) -> Checkpoint | None:
        return None


_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


def parse_link_header(value: str) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="last"` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value):
        rel = _REL.search(match.group(2))
        if rel is not None:
            for name in rel.group(1).split():
                links.setdefault(name.lower(), match.group(1).strip())
    return links
