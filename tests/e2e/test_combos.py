"""Combos: list-valued params become one query per combination, under a batch."""

from __future__ import annotations

from .conftest import App


async def test_combos_run_every_combination_once_and_share_records(app: App) -> None:
    body = {
        "source": "demo",
        "params": {
            "q": ["coffee total:40", "tea total:20", "coffee total:40 "],
            "location": ["Austin", "Dallas"],
        },
    }
    response = await app.api.post("/api/combos", json=body)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["queries"] == 4  # 3 x 2 combinations, the padded duplicate removed
    for query_id in created["query_ids"]:
        await app.until(query_id)
    combo = (await app.api.get(f"/api/combos/{created['id']}")).json()
    assert combo["status"] == "completed" and combo["by_status"] == {"completed": 4}
    assert sorted((q["params"]["q"], q["params"]["location"]) for q in combo["queries"]) == [
        ("coffee total:40", "Austin"),
        ("coffee total:40", "Dallas"),
        ("tea total:20", "Austin"),
        ("tea total:20", "Dallas"),
    ]
    assert combo["records_fetched"] == 2 * 40 + 2 * 20
    expected = {
        *app.expected_ids("coffee total:40", "Austin"),
        *app.expected_ids("coffee total:40", "Dallas"),
        *app.expected_ids("tea total:20", "Austin"),
        *app.expected_ids("tea total:20", "Dallas"),
    }
    assert combo["distinct_records"] == len(expected)
    results = (
        await app.api.get(f"/api/combos/{created['id']}/results", params={"limit": 1000})
    ).json()
    assert {r["data"]["id"] for r in results["items"]} == expected
    assert results["total"] == len(expected)


async def test_a_record_found_by_two_combos_is_stored_once(app: App) -> None:
    # "coffee total:40" and "coffee total:20" yield the same first 20 records.
    body = {"source": "demo", "params": {"q": ["coffee total:40", "coffee total:20"]}}
    created = (await app.api.post("/api/combos", json=body)).json()
    done = [await app.until(i) for i in created["query_ids"]]
    assert sum(q["records_inserted"] for q in done) == 40
    assert sum(q["records_fetched"] for q in done) == 60
    combo = (await app.api.get(f"/api/combos/{created['id']}")).json()
    assert combo["distinct_records"] == 40


async def test_combos_are_validated_before_anything_is_created(app: App) -> None:
    too_many = {
        "source": "demo",
        "params": {"q": [f"q{i}" for i in range(30)], "location": [f"l{i}" for i in range(40)]},
    }
    response = await app.api.post("/api/combos", json=too_many)
    assert response.status_code == 422
    assert "1200 combinations exceed the cap of 1000" in response.json()["detail"][0]["msg"]
    bad_value = {"source": "demo", "params": {"q": ["ok", "  "]}}
    response = await app.api.post("/api/combos", json=bad_value)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "params", "q"]
    empty = {"source": "demo", "params": {"q": []}}
    assert (await app.api.post("/api/combos", json=empty)).status_code == 422
    assert (await app.api.get("/api/queries")).json()["total"] == 0
    assert (await app.api.get("/api/combos/NOPE")).status_code == 404
