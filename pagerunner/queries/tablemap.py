"""`TableMap`: a frozen dataclass stored as rows of a table, declared once for both directions.

The dataclass's fields name the columns; the few that need converting (an enum
stored as text, a value object stored as JSON) say so once, one function each
way. Rows are read with the map's own `select`, whose columns are in field
order, so a row becomes the dataclass positionally: no per-column lookup by
name on the hot path of every page. Nothing here knows the domain.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Row, Select, Table, select

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["TableMap"]

T = TypeVar("T", bound="DataclassInstance")

Convert = Callable[[Any], Any]


class TableMap(Generic[T]):
    """The rows of `table` as instances of the dataclass `cls`.

    Every field of `cls` is a column of the same name (the table may have more,
    which the map leaves alone). `to_row` and `from_row` convert the named fields
    on the way in and out; `text`, if given, is applied to every text value
    written (after `to_row`).
    """

    def __init__(
        self,
        cls: type[T],
        table: Table,
        *,
        to_row: Mapping[str, Convert] | None = None,
        from_row: Mapping[str, Convert] | None = None,
        text: Callable[[str], str] | None = None,
    ) -> None:
        fields = dataclasses.fields(cls)
        names = tuple(f.name for f in fields)
        to_row, from_row = dict(to_row or {}), dict(from_row or {})
        unknown = [n for n in (*names, *to_row, *from_row) if n not in table.c]
        if unknown:
            raise TypeError(f"{cls.__name__}: no column {unknown} in {table.name}")
        if any(not f.init or f.kw_only for f in fields):
            raise TypeError(f"{cls.__name__}: every field must be a positional __init__ argument")
        self._cls = cls
        self._to_row = to_row
        self._text = text
        self._from_row = [(i, from_row[n]) for i, n in enumerate(names) if n in from_row]
        self.select: Select[Any] = select(*(table.c[n] for n in names))
        self.values = self.writer(*names)

    def load(self, row: Row[Any]) -> T:
        """The dataclass of a row read with `self.select` (columns in field order)."""
        values = list(row)
        for i, convert in self._from_row:
            values[i] = convert(values[i])
        return self._cls(*values)

    def writer(self, *names: str) -> Callable[[T], dict[str, Any]]:
        """A function giving the column values of these fields of an instance (all: `values`)."""
        get = operator.attrgetter(*names)
        converts = [(i, self._to_row[n]) for i, n in enumerate(names) if n in self._to_row]
        text = self._text
        single = len(names) == 1

        def values(obj: T) -> dict[str, Any]:
            found = [get(obj)] if single else list(get(obj))
            for i, convert in converts:
                found[i] = convert(found[i])
            if text is not None:
                found = [text(v) if isinstance(v, str) else v for v in found]
            return dict(zip(names, found, strict=True))

        return values
