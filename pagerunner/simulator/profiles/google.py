"""What the Google-shaped profiles share: place ids, types, coordinates, page tokens.

SerpApi's Google Maps engine and both Places Text Search APIs show the same
places for the same query text: a place's `place_id` is derived from the
simulator record it comes from, so `coffee` on SerpApi (without `ll`) and on
Places (legacy or new) yields the same ids, as on the real Google Maps.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["PageToken", "PageTokens", "coordinates", "place_id", "place_types"]


def _digest(record: dict[str, Any], purpose: str) -> bytes:
    return hashlib.sha1(f"{purpose}|{record['id']}".encode(), usedforsecurity=False).digest()


def place_id(record: dict[str, Any]) -> str:
    """A Google-looking place id (`ChIJ…`, 27 characters) for a simulator record."""
    return "ChIJ" + base64.urlsafe_b64encode(_digest(record, "place")).decode()[:23]


def place_types(record: dict[str, Any]) -> list[str]:
    """Google place types: the record's category in snake case, then the generic ones."""
    category = "_".join(record["category"].lower().split())
    return [category, "point_of_interest", "establishment"]


def coordinates(record: dict[str, Any], center: tuple[float, float] | None) -> tuple[float, float]:
    """A deterministic (lat, lng): within ~5 km of `center`, else somewhere in the US."""
    digest = _digest(record, "geo")
    u = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
    v = int.from_bytes(digest[4:8], "big") / 0xFFFFFFFF
    if center is None:
        return round(30.0 + 15.0 * u, 7), round(-120.0 + 45.0 * v, 7)
    return round(center[0] + 0.1 * (u - 0.5), 7), round(center[1] + 0.1 * (v - 0.5), 7)


@dataclass(frozen=True)
class PageToken:
    """Where the next page of a query starts, and from when the token may be used."""

    query: str
    start: int  # 0-based offset of the next page's first result
    valid_at: float  # time.monotonic() seconds


class PageTokens:
    """Opaque page tokens of one profile. A token can be used again (retries), until reset."""

    def __init__(self) -> None:
        self._tokens: dict[str, PageToken] = {}

    def issue(self, query: str, start: int, valid_at: float) -> str:
        token = "AUc" + secrets.token_urlsafe(90)  # long and opaque, like Google's
        self._tokens[token] = PageToken(query, start, valid_at)
        return token

    def get(self, token: str) -> PageToken | None:
        return self._tokens.get(token)

    def clear(self) -> None:
        self._tokens.clear()
