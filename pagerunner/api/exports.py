"""How a query's records leave as files: CSV and NDJSON, streamed in constant memory.

Every CSV pagerunner writes goes through `csv_lines`, so every CSV is safe to
open in a spreadsheet: text that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return would be run as a formula (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`),
so such a cell gets a leading `'` and every cell is quoted, as OWASP recommends
(https://owasp.org/www-community/attacks/CSV_Injection). Field names are
provider text too and are treated the same. NDJSON is data for programs and is
written as stored. `PAGERUNNER_CSV_PROTECT_FORMULAS=false` writes CSV cells as is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi.responses import StreamingResponse

from ..safetext import json_text, scrub

__all__ = ["FORMULA_STARTS", "csv_cell", "csv_lines", "file_response", "ndjson_lines"]

#: A cell whose text starts with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any, *, protect_formulas: bool = True) -> str | int | float:
    """A record value as a CSV cell: nested values as JSON, None as empty.

    With `protect_formulas`, text that a spreadsheet would run gets a leading `'`.
    Numbers stay numbers (`-3.5` is no formula); a bool is text.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    if protect_formulas and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


async def csv_lines(
    rows: AsyncIterator[dict[str, Any]], *, protect_formulas: bool = True
) -> AsyncIterator[bytes]:
    """Columns: key, page, then the first record's fields; one chunk per record."""
    columns: list[str] | None = None
    buffer = io.StringIO()
    # Quoted cells keep a separator inside a value from starting a new cell, whatever
    # separator the spreadsheet assumes (`;` in many locales).
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if protect_formulas else csv.QUOTE_MINIMAL)

    def cell(value: Any) -> str | int | float:
        return csv_cell(value, protect_formulas=protect_formulas)

    async for row in rows:
        data = row.get("data") or {}
        if columns is None:
            columns = list(data)
            writer.writerow(["key", "page", *(cell(c) for c in columns)])
        writer.writerow([cell(row["key"]), row.get("page"), *(cell(data.get(c)) for c in columns)])
        yield scrub(buffer.getvalue()).encode()
        buffer.seek(0)
        buffer.truncate()


async def ndjson_lines(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """One JSON object per line, as stored (text that is not Unicode, and NaN, scrubbed)."""
    async for row in rows:
        yield (json_text(row, separators=(",", ":")) + "\n").encode()


def file_response(
    rows: AsyncIterator[dict[str, Any]],
    format: Literal["csv", "ndjson"],
    filename: str,
    *,
    protect_formulas: bool = True,
) -> StreamingResponse:
    """Records streamed as a download named `filename`: CSV or NDJSON."""
    headers = {"content-disposition": f'attachment; filename="{filename}"'}
    if format == "ndjson":
        return StreamingResponse(
            ndjson_lines(rows), media_type="application/x-ndjson", headers=headers
        )
    lines = csv_lines(rows, protect_formulas=protect_formulas)
    return StreamingResponse(lines, media_type="text/csv", headers=headers)
