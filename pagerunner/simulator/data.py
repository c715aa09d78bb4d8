"""The simulated provider's records: deterministic, realistic-looking business listings.

A record is a pure function of `(query, location, position)`: the same inputs
give the same record in every process and on every run, so tests and
benchmarks can compute exactly what the API returns (`records`) and check
what a client stored. The identity ignores case, surrounding whitespace and
the `total:N` token, so `"Coffee"`, `" coffee "` and `"coffee total:50"` share
ids position by position (useful to exercise de-duplication).

Nothing here does I/O or knows about HTTP.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeVar

__all__ = ["query_identity", "query_total", "record", "records"]

_T = TypeVar("_T")

_TOTAL_TOKEN = re.compile(r"(?<!\S)total:(\d+)(?!\S)", re.IGNORECASE)

_PREFIXES = (
    "Golden", "Blue Door", "Old Town", "Riverside", "Corner", "Maple", "Union", "Harbor",
    "Summit", "Little", "Northside", "Lucky", "Green Leaf", "Silver", "Main Street", "Sunrise",
)  # fmt: skip
_SUFFIXES = (
    "& Co.", "House", "Collective", "Studio", "Brothers", "Supply", "Express", "Kitchen",
    "Works", "Place", "Hub", "Partners",
)  # fmt: skip
_FALLBACK_SUBJECTS = ("Coffee", "Bakery", "Dental", "Plumbing", "Fitness", "Books", "Garden")
_CATEGORY_KINDS = ("shop", "service", "store", "specialist", "supplier", "studio")
_STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Church", "Market", "Mill", "River", "Sunset", "Highland",
)  # fmt: skip
_STREET_TYPES = ("St", "Ave", "Blvd", "Rd", "Ln", "Way", "Dr")
_CITIES = (
    "Springfield, IL", "Portland, OR", "Austin, TX", "Denver, CO", "Madison, WI",
    "Raleigh, NC", "Boise, ID", "Tucson, AZ",
)  # fmt: skip
_AREA_CODES = (212, 303, 312, 415, 503, 512, 608, 617, 702, 919)


def query_total(q: str, default: int) -> int:
    """How many results `q` has: the first `total:N` token in it, else `default`."""
    match = _TOTAL_TOKEN.search(q)
    return int(match.group(1)) if match else default


def query_identity(q: str) -> str:
    """The part of `q` that decides record identity: no `total:N`, lower case, single spaces."""
    return " ".join(_TOTAL_TOKEN.sub(" ", q).lower().split())


def _location_identity(location: str) -> str:
    return " ".join(location.lower().split())


def record(q: str, location: str, position: int) -> dict[str, Any]:
    """The record at `position` (1-based) of the results for `(q, location)`."""
    return records(q, location, position, position + 1)[0]


def records(q: str, location: str, start: int, stop: int) -> list[dict[str, Any]]:
    """Records at positions `start..stop-1` (1-based)."""
    query = query_identity(q)
    words = query.split()[:3]
    subject = " ".join(w.capitalize() for w in words)
    key = f"{query}|{_location_identity(location)}|"
    return [_record(q, location, position, key, subject) for position in range(start, stop)]


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def _record(q: str, location: str, position: int, key: str, subject: str) -> dict[str, Any]:
    identity = f"{key}{position}".encode()
    record_id = "pl_" + hashlib.sha1(identity, usedforsecurity=False).hexdigest()[:16]
    picks = _Picks(hashlib.sha256(identity).digest())
    subject = subject or picks.choice(_FALLBACK_SUBJECTS)
    prefix, suffix = picks.choice(_PREFIXES), picks.choice(_SUFFIXES)
    name = f"{prefix} {subject} {suffix}"
    city = location.strip() or picks.choice(_CITIES)
    street = f"{picks.number(1, 9999)} {picks.choice(_STREETS)} {picks.choice(_STREET_TYPES)}"
    slug = _NOT_SLUG.sub("", f"{prefix}{subject}{suffix}".lower())
    return {
        "id": record_id,
        "name": name,
        "address": f"{street}, {city}",
        # 555-01xx numbers are reserved for fiction; .example is a reserved domain.
        "phone": f"+1 ({picks.choice(_AREA_CODES)}) 555-{picks.number(100, 199):04d}",
        "rating": round(1.0 + 4.0 * picks.fraction() ** 0.5, 1),  # skewed high, like real ones
        "reviews": int(5000 * picks.fraction() ** 3),
        "category": f"{subject} {picks.choice(_CATEGORY_KINDS)}".capitalize(),
        "website": f"https://www.{slug}.example",
        "query": q,
        "location": location,
        "position": position,
    }


class _Picks:
    """Deterministic choices drawn two bytes at a time from a digest."""

    def __init__(self, digest: bytes) -> None:
        self._digest = digest
        self._offset = 0

    def _next(self) -> int:
        value = int.from_bytes(self._digest[self._offset : self._offset + 2], "big")
        self._offset = (self._offset + 2) % (len(self._digest) - 1)
        return value

    def choice(self, options: tuple[_T, ...]) -> _T:
        return options[self._next() % len(options)]

    def number(self, low: int, high: int) -> int:
        return low + self._next() % (high - low + 1)

    def fraction(self) -> float:
        return self._next() / 0xFFFF
