"""Every bad input gets a 4xx naming the field or the limit, over real HTTP, and stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import App

RUN = "/api/queries/run"


def _loc(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    loc: list[Any] = detail[0]["loc"]
    return loc


async def _nothing_stored(app: App) -> None:
    assert (await app.api.get("/api/queries")).json()["total"] == 0


@pytest.mark.parametrize(
    ("raw", "loc", "words"),
    [
        ('{"source":"demo","params":{"q":"\\ud800"}}', ["body", "params", "q"], "surrogate"),
        ('{"source":"demo","params":{"q":"a\\u0000b"}}', ["body", "params", "q"], "U+0000"),
        ('{"source":"demo","params":{"q":"x","location":"\\u001b[2J"}}', None, "U+001B"),
        ('{"source":"demo","params":{"q":"x"},"max_pages":NaN}', ["body"], "NaN"),
        ('{"source":"demo","params":{"q":"x"},"max_pages":1e999}', ["body", "max_pages"], "range"),
        ('{"source":"demo","params":{"q":"x"},"max_pages":1e30}', ["body", "max_pages"], ""),
        ('{"source":"\\ud83d","params":{}}', ["body", "source"], "surrogate"),
        ('{"source":"demo","params":{"\\u0000":"x"}}', ["body", "params", "\x00"], "U+0000"),
    ],
)
async def test_text_that_cannot_be_stored_or_shown_is_refused(
    app: App, raw: str, loc: list[Any] | None, words: str
) -> None:
    response = await app.api.post(RUN, content=raw, headers={"content-type": "application/json"})
    found = _loc(response)
    if loc is not None:
        assert found == loc
    assert words in response.json()["detail"][0]["msg"]
    await _nothing_stored(app)


async def test_every_value_and_the_whole_body_are_bounded(app: App) -> None:
    huge = await app.api.post(RUN, json={"source": "demo", "params": {"q": "x" * 10_000_000}})
    assert huge.status_code == 413
    assert "1,048,576 bytes" in huge.json()["detail"]
    long = await app.api.post(
        RUN, json={"source": "demo", "params": {"q": "x", "location": "y" * 200_000}}
    )
    assert _loc(long) == ["body", "params", "location"]
    assert "10,000" in long.json()["detail"][0]["msg"]
    deep = await app.api.post(
        RUN, content="[" * 3000 + "]" * 3000, headers={"content-type": "application/json"}
    )
    assert "deeper than 32" in deep.json()["detail"][0]["msg"]
    await _nothing_stored(app)


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/api/queries?offset=99999999999999999999999", ["query", "offset"]),
        ("/api/queries?limit=-1", ["query", "limit"]),
        ("/api/queries?source=%00", ["query", "source"]),
        ("/?offset=1e9999", ["query", "offset"]),
    ],
)
async def test_query_parameters_are_bounded(app: App, path: str, loc: list[Any]) -> None:
    assert _loc(await app.api.get(path)) == loc


async def test_the_executor_refuses_deep_json_and_keeps_the_connection(app: App) -> None:
    key = "any"
    async with httpx.AsyncClient(base_url=app.runtime.settings.executor_origin) as client:
        deep = await client.post(
            f"/e/{key}",
            content="[" * 3000 + "]" * 3000,
            headers={"content-type": "application/json"},
        )
        assert deep.status_code == 422 and "deeper than 100" in deep.text
        # The same keep-alive connection still answers.
        after = await client.post(f"/e/{key}", json={"name": "test/ok", "data": {}})
        assert after.status_code == 200


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b"not json", ["body"]),
        (b"[" * 100_000 + b"]" * 100_000, ["body"]),  # deeper than the parser goes
        (b"[]", ["body"]),
        (b'{"event": {}, "steps": {}, "ctx": {}, "use_api": false}', ["body", "event", "name"]),
        (b'{"event": {"name": "x"}, "steps": {}, "ctx": {}, "use_api": false}', ["body", "events"]),
        (
            b'{"event": {"name": "x"}, "events": [], "steps": [], "ctx": {}, "use_api": false}',
            ["body", "steps"],
        ),
    ],
)
async def test_a_malformed_call_to_the_serve_endpoint_is_a_4xx(
    app: App, body: bytes, loc: list[Any]
) -> None:
    response = await app.api.post(
        "/api/inngest",
        params={"fnId": "pagerunner-execute-query", "stepId": "step"},
        content=body,
        headers={"content-type": "application/json"},
    )
    assert _loc(response) == loc
    assert "Traceback" not in response.text


async def test_a_call_to_a_function_not_served_here_is_a_404(app: App) -> None:
    response = await app.api.post(
        "/api/inngest", params={"fnId": "elsewhere", "stepId": "step"}, json={}
    )
    assert response.status_code == 404 and "elsewhere" in response.json()["detail"]
