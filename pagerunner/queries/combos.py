"""Combos: one query per combination of list-valued parameters, under a batch.

`expand` is the cartesian product of the parameters' values, with duplicates
removed (after each source normalises the params) and a cap, so a typo cannot
start a million queries. A record found by several combos is stored once and
linked to each query, as for any two queries.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import QueryError, new_id, utcnow

__all__ = ["DEFAULT_CAP", "Batch", "TooManyCombos", "expand"]

DEFAULT_CAP = 1000


class TooManyCombos(QueryError):
    """The parameters make more combinations than the cap allows."""


@dataclass(frozen=True)
class Batch:
    id: str
    source: str
    params: Mapping[str, Any]  # as submitted: values or lists of values
    max_pages: int | None
    query_count: int
    created_at: datetime
    #: Called once when every query of the combo has finished (none pending or running).
    webhook: str | None = None
    #: A destination spec given to each of its queries: each is loaded there when it completes.
    deliver: str | None = None

    @classmethod
    def new(
        cls,
        source: str,
        params: Mapping[str, Any],
        max_pages: int | None,
        count: int,
        webhook: str | None = None,
        deliver: str | None = None,
    ) -> Batch:
        return cls(new_id(), source, dict(params), max_pages, count, utcnow(), webhook, deliver)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "params": dict(self.params),
            "max_pages": self.max_pages,
            "query_count": self.query_count,
            "created_at": self.created_at.isoformat(),
            "webhook": self.webhook,
            "deliver": {"destination": self.deliver} if self.deliver else None,
        }


def expand(
    params: Mapping[str, Any],
    normalize: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    cap: int = DEFAULT_CAP,
) -> list[dict[str, Any]]:
    """Every combination of the list-valued params (scalars count as one value), unique.

    `normalize` is the source's `validate_params`: it may raise for a bad value,
    and two combinations it normalises to the same params are one query.
    """
    keys = sorted(params)
    choices: list[Sequence[Any]] = []
    for key in keys:
        value = params[key]
        values: list[Any] = list(value) if isinstance(value, list) else [value]
        if not values:
            raise TooManyCombos(f"params.{key}: give at least one value")
        choices.append(values)
    total = math.prod(len(c) for c in choices)
    if total > cap:
        raise TooManyCombos(f"params: {total} combinations exceed the cap of {cap}")
    seen: set[str] = set()
    combos = []
    for combination in itertools.product(*choices):
        combo = normalize(dict(zip(keys, combination, strict=True)))
        identity = json.dumps(combo, sort_keys=True)
        if identity not in seen:
            seen.add(identity)
            combos.append(combo)
    return combos
