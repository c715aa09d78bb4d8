"""CSV cells: what a spreadsheet would run as a formula is neutralised (OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pagerunner.api.exports import csv_cell, csv_lines


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("plain = text", "plain = text"),
        (-3.5, -3.5),  # a number is no formula
        (12, 12),
        (True, "True"),
        (None, ""),
        ({"a": "=1"}, '{"a":"=1"}'),
        (["=1"], '["=1"]'),
    ],
)
def test_csv_cell(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell
    assert csv_cell(value, protect_formulas=False) == (
        cell[1:] if isinstance(cell, str) and cell.startswith("'") else cell
    )


async def test_field_names_and_keys_are_provider_text_too() -> None:
    async def rows() -> AsyncIterator[dict[str, Any]]:
        yield {"key": "-k1", "page": 1, "data": {"=name": "x", "ok": "@y"}}

    text = b"".join([chunk async for chunk in csv_lines(rows())]).decode()
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [["key", "page", "'=name", "ok"], ["'-k1", "1", "x", "'@y"]]
