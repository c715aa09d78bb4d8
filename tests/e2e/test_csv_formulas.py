"""Nothing is exported as a formula: CSV cells a spreadsheet would run are neutralised.

The simulated provider echoes the query's `q` and `location` in every record,
so a user's (or a provider's) text reaches the export exactly as a real
provider's would.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import App, fast_settings, running_app

Q = "=cmd|' /C calc'!A0 total:3"
LOCATION = '@HYPERLINK("http://evil.example","x");=1+1'


async def _export(app: App, format: str) -> tuple[str, list[dict[str, Any]]]:
    query_id = await app.run(Q, LOCATION)
    assert (await app.until(query_id))["status"] == "completed"
    response = await app.api.get(f"/api/queries/{query_id}/results", params={"format": format})
    assert response.status_code == 200
    return response.text, app.sim.expected_records(Q, LOCATION)


async def test_csv_cells_that_would_run_as_formulas_start_with_a_quote(app: App) -> None:
    text, expected = await _export(app, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    for row, record in zip(rows, expected, strict=True):
        assert row["query"] == "'" + Q and row["location"] == "'" + LOCATION
        assert row["phone"] == "'" + record["phone"]  # "+1 (212) 555-0104"
        assert row["name"] == record["name"] and row["rating"] == str(record["rating"])
    # Every cell is quoted: a `;` inside a value cannot start a new cell in a spreadsheet
    # that splits on `;`.
    first = text.splitlines()[1]
    assert f'"\'{LOCATION.replace(chr(34), chr(34) * 2)}"' in first


async def test_ndjson_keeps_the_text_as_it_is(app: App) -> None:
    text, expected = await _export(app, "ndjson")
    assert [json.loads(line)["data"] for line in text.splitlines()] == expected


async def test_protection_can_be_turned_off(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), csv_protect_formulas=False)
    async with running_app(settings) as app:
        text, expected = await _export(app, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["query"], r["location"], r["phone"]) for r in rows] == [
        (Q, LOCATION, r["phone"]) for r in expected
    ]
