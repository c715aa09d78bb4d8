"""Combos: list-valued params become one query per combination, under a batch."""

from __future__ import annotations

from typing import Any

import pytest

from pagerunner.api.services import SchedulingError

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


async def test_a_combos_queries_reach_the_engine_a_hundred_per_request(app: App) -> None:
    """One request per 100 queries: a combo of 1,000 sent as 1,000 requests once held
    the event loop for 30 s (docs/benchmarks.md)."""
    client = app.runtime.services.client
    sent: list[list[str]] = []
    send = client.send

    async def counting_send(events: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append([e.data["queryId"] for e in events])
        return await send(events, *args, **kwargs)

    client.send = counting_send  # type: ignore[method-assign]
    try:
        body = {"source": "demo", "params": {"q": [f"chunk {i} total:20" for i in range(250)]}}
        response = await app.api.post("/api/combos", json=body)
        assert response.status_code == 202, response.text
        created = response.json()
        for query_id in created["query_ids"]:
            await app.until(query_id, timeout_s=120)
    finally:
        client.send = send  # type: ignore[method-assign]
    assert [len(chunk) for chunk in sent] == [100, 100, 50]
    assert [q for chunk in sent for q in chunk] == created["query_ids"]


async def test_an_engine_that_refuses_a_chunk_is_reported_with_a_few_of_its_ids(app: App) -> None:
    services = app.runtime.services
    queries = [await services.store.create("demo", {"q": f"refused {i}"}) for i in range(5)]

    async def refusing_send(events: Any, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("connection refused")

    services.client.send = refusing_send  # type: ignore[method-assign]
    with pytest.raises(SchedulingError) as raised:
        await services.schedule(*queries)
    ids = [q.id for q in queries]
    assert str(raised.value).startswith(f"queries {ids[0]}, {ids[1]}, {ids[2]} and 2 more are")
    assert "connection refused" in str(raised.value) and ids[3] not in str(raised.value)
