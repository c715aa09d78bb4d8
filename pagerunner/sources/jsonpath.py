"""A small, safe JSON path: dotted names, list indexes and `[*]`, nothing more.

    data.items            serpapi_pagination.next      results[0].id
    $.a.b                 items[*].id                  headers['x-total']

No filters, no expressions, no evaluation: a path is parsed once into steps
(a key, an index or "every item") and applied to already-decoded JSON. A path
that does not match returns nothing; it never raises on data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["EVERY", "JsonPath", "JsonPathError", "compile_path", "first_of"]

MAX_PATH_LENGTH = 500


class JsonPathError(ValueError):
    """The text is not a JSON path this module understands."""


class _Every:
    """The `[*]` step: every item of a list (or every value of an object)."""

    def __repr__(self) -> str:
        return "[*]"


EVERY: Final = _Every()
Step = str | int | _Every

# One step at a time: `.name`, `name` (at the start), `[3]`, `[-1]`, `[*]`, `['a.b']`, `["a"]`.
_STEP = re.compile(
    r"""
    \.?(?P<name>[^.\[\]'"\s]+)
    | \[(?P<index>-?\d+)\]
    | \[(?P<every>\*)\]
    | \[(?P<quote>['"])(?P<quoted>[^'"]*)(?P=quote)\]
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; `find` returns every match, `first` the first one."""

    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    @property
    def has_wildcard(self) -> bool:
        return any(step is EVERY for step in self.steps)

    def find(self, data: Any) -> list[Any]:
        """Every value the path reaches in `data` (empty when none)."""
        matches = [data]
        for step in self.steps:
            matches = [found for value in matches for found in _apply(step, value)]
            if not matches:
                break
        return matches

    def first(self, data: Any, default: Any = None) -> Any:
        """The first value the path reaches, or `default`."""
        found = self.find(data)
        return found[0] if found else default

    def __str__(self) -> str:
        return self.text


def _apply(step: Step, value: Any) -> Iterator[Any]:
    if isinstance(step, str):
        if isinstance(value, Mapping) and step in value:
            yield value[step]
    elif isinstance(step, int):
        if _is_list(value) and -len(value) <= step < len(value):
            yield value[step]
    elif _is_list(value):
        yield from value
    elif isinstance(value, Mapping):
        yield from value.values()


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


@functools.lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """Parse `text`; raise JsonPathError with the position of the first bad character."""
    if len(text) > MAX_PATH_LENGTH:
        raise JsonPathError(f"a JSON path is at most {MAX_PATH_LENGTH} characters")
    rest = text.strip()
    if rest.startswith("$"):
        rest = rest[1:]
    steps: list[Step] = []
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            raise JsonPathError(
                f"invalid JSON path {text!r} at {rest[position:]!r} "
                "(use dotted names, [0] indexes or [*], e.g. data.items[0].id)"
            )
        if match["name"] is not None:
            if match["name"] == "*":
                steps.append(EVERY)
            else:
                steps.append(match["name"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["every"] is not None:
            steps.append(EVERY)
        else:
            steps.append(match["quoted"])
        position = match.end()
    return JsonPath(text=text, steps=tuple(steps))


def first_of(paths: str | Sequence[str], data: Any) -> Any:
    """The value at the first of `paths` (tried in order) that finds one, else None.

    Providers move fields between versions of an answer (Apollo's total is
    `pagination.total_entries` or a top-level `total_entries`): a spec may list both.
    """
    for text in [paths] if isinstance(paths, str) else paths:
        found = compile_path(text).first(data)
        if found is not None:
            return found
    return None
