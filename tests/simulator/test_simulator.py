"""The simulated provider, served for real over HTTP on 127.0.0.1 and driven with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import pagerunner.simulator as simulator_package
from pagerunner.executor import serve_http
from pagerunner.simulator import (
    Fault,
    KeyLimits,
    Simulator,
    SimulatorConfig,
    max_in_window,
)
from pagerunner.simulator.traffic import Traffic
from tests.conftest import free_port

KEY = "demo-key"


@contextlib.asynccontextmanager
async def running(
    config: SimulatorConfig | None = None, *, timeout_s: float = 5.0
) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    """A simulator on a free port and a client that sends the demo key."""
    sim = Simulator(config)
    port = free_port()
    async with (
        serve_http(sim.app, host="127.0.0.1", port=port),
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}, timeout=timeout_s
        ) as client,
    ):
        yield sim, client


async def search(client: httpx.AsyncClient, q: str = "coffee", **params: Any) -> httpx.Response:
    return await client.get("/v1/search", params={"q": q, **params})


async def all_pages(
    client: httpx.AsyncClient, q: str, location: str = "", **params: Any
) -> list[dict[str, Any]]:
    """Follow `next_page` until `has_more` is false; return every page body."""
    bodies: list[dict[str, Any]] = []
    page: int | None = 1
    while page is not None:
        response = await search(client, q, location=location, page=page, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        assert body["next_page"] == (page + 1 if body["has_more"] else None)
        page = body["next_page"]
        assert len(bodies) < 100, "paging never ended"
    return bodies


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def eventually(condition: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


# -- paging and records ---------------------------------------------------------------


async def test_paging_yields_exactly_the_expected_records_then_stops() -> None:
    async with running() as (sim, client):
        bodies = await all_pages(client, "coffee", "Austin, TX")
        past_the_end = await search(client, "coffee", location="Austin, TX", page=6)

    assert [len(b["results"]) for b in bodies] == [20, 20, 20, 20, 15]  # the short last page
    assert [b["has_more"] for b in bodies] == [True, True, True, True, False]
    assert {b["total_results"] for b in bodies} == {95}
    fetched = [r for b in bodies for r in b["results"]]
    assert fetched == sim.expected_records("coffee", "Austin, TX")
    assert len({r["id"] for r in fetched}) == 95
    assert [r["position"] for r in fetched] == list(range(1, 96))
    end = past_the_end.json()
    assert past_the_end.status_code == 200
    assert (end["results"], end["has_more"], end["next_page"]) == ([], False, None)


async def test_page_size_changes_the_cut_not_the_records() -> None:
    async with running(SimulatorConfig(page_size=7, total_results=30)) as (sim, client):
        default_size = await all_pages(client, "dentist")
        size_13 = await all_pages(client, "dentist", page_size=13)

    assert [b["page_size"] for b in default_size] == [7] * 5
    assert [len(b["results"]) for b in size_13] == [13, 13, 4]
    expected = sim.expected_records("dentist")
    assert len(expected) == 30
    assert [r for b in default_size for r in b["results"]] == expected
    assert [r for b in size_13 for r in b["results"]] == expected


async def test_records_are_the_same_on_two_simulators_and_look_real() -> None:
    async with running() as (_, first), running() as (_, second):
        one = (await search(first, "plumber", location="Denver, CO", page=3)).json()
        two = (await search(second, "plumber", location="Denver, CO", page=3)).json()

    assert one == two
    for record in one["results"]:
        assert record["id"].startswith("pl_") and len(record["id"]) == 19
        assert 1.0 <= record["rating"] <= 5.0 and round(record["rating"], 1) == record["rating"]
        assert isinstance(record["reviews"], int) and record["reviews"] >= 0
        assert record["address"].endswith(", Denver, CO")
        assert record["phone"].startswith("+1 (") and record["website"].startswith("https://")
        assert "Plumber" in record["name"]
        assert (record["query"], record["location"]) == ("plumber", "Denver, CO")


def test_record_identity_ignores_case_spacing_and_the_total_token() -> None:
    sim = Simulator()
    ids = [r["id"] for r in sim.expected_records("coffee", "Austin, TX")]
    assert [r["id"] for r in sim.expected_records("  COFFEE ", "austin,  tx")] == ids
    assert [r["id"] for r in sim.expected_records("coffee total:10", "Austin, TX")] == ids[:10]
    assert not set(ids) & {r["id"] for r in sim.expected_records("tea", "Austin, TX")}
    assert not set(ids) & {r["id"] for r in sim.expected_records("coffee", "Boise, ID")}
    assert len(sim.expected_records("coffee", total=3)) == 3


async def test_total_token_in_the_query_sets_the_number_of_results() -> None:
    async with running() as (sim, client):
        many = await all_pages(client, "tea total:250")
        none = await all_pages(client, "tea total:0")
        exact = await all_pages(client, "tea total:40")  # no empty page after a full one
        one_over = await all_pages(client, "tea total:41")

    assert len(many) == 13 and len(many[-1]["results"]) == 10
    assert {b["total_results"] for b in many} == {250}
    assert [r for b in many for r in b["results"]] == sim.expected_records("tea total:250")
    assert len(sim.expected_records("tea total:250")) == 250
    assert [len(b["results"]) for b in exact] == [20, 20]
    assert [len(b["results"]) for b in one_over] == [20, 20, 1]
    assert none == [
        {
            "results": [],
            "page": 1,
            "page_size": 20,
            "total_results": 0,
            "has_more": False,
            "next_page": None,
        }
    ]


# -- request errors ---------------------------------------------------------------------


BAD_PARAMETERS = [
    ({}, "Missing required parameter: q"),
    ({"q": "   "}, "Missing required parameter: q"),
    ({"q": "x", "page": "0"}, "page"),
    ({"q": "x", "page": "two"}, "page"),
    ({"q": "x", "page": "9" * 5000}, "page"),
    ({"q": "x", "page_size": "101"}, "page_size"),
    ({"q": "x", "page_size": "0"}, "page_size"),
    ({"q": "x", "total": "5"}, "total:N"),
]


async def test_bad_parameters_are_400_with_a_message() -> None:
    async with running() as (sim, client):
        for params, needle in BAD_PARAMETERS:
            response = await client.get("/v1/search", params=params)
            assert response.status_code == 400, params
            assert error_code(response) == "bad_request"
            assert needle in response.json()["error"]["message"], params
        assert sim.stats.searches_by_key == {}
        assert sim.stats.responses_by_status == {400: len(BAD_PARAMETERS)}


async def test_api_key_is_checked_and_may_come_as_a_query_parameter() -> None:
    async with running(SimulatorConfig(api_keys=("k1", "k2"))) as (sim, client):
        wrong = await search(client)  # the client sends demo-key, not accepted here
        missing = await client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": ""})
        in_query = await client.get(
            "/v1/search", params={"q": "x", "api_key": "k2"}, headers={"X-API-Key": ""}
        )
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_api_key"
    assert wrong.json()["error"]["message"] == (
        "Invalid API key. Check the key you sent in X-API-Key."
    )
    assert missing.status_code == 401 and error_code(missing) == "invalid_api_key"
    assert in_query.status_code == 200
    assert sim.stats.requests_by_key == {"demo-key": 1, "": 1, "k2": 1}


async def test_latency_is_added_to_every_search() -> None:
    async with running(SimulatorConfig(latency_s=0.2)) as (_, client):
        started = time.monotonic()
        response = await search(client)
        elapsed = time.monotonic() - started
        health = await client.get("/healthz")
    assert response.status_code == 200 and elapsed >= 0.2
    assert health.json() == {"status": "ok"}


# -- faults -------------------------------------------------------------------------------


ERROR_FAULTS = [
    (Fault(kind="server_error"), 503, "unavailable"),
    (Fault(kind="server_error", status=500), 500, "server_error"),
    (Fault(kind="rate_limit"), 429, "rate_limited"),
    (Fault(kind="quota"), 402, "quota_exceeded"),
    (Fault(kind="invalid_key"), 401, "invalid_api_key"),
]


async def test_error_faults_answer_like_a_provider() -> None:
    async with running() as (sim, client):
        for fault, status, code in ERROR_FAULTS:
            sim.add_fault(fault)
            response = await search(client)
            sim.clear_faults()
            assert response.status_code == status, fault
            assert error_code(response) == code, fault
            assert response.json()["error"]["message"]
            assert "retry-after" not in response.headers
        assert (await search(client)).status_code == 200


async def test_rate_limit_fault_sends_retry_after_when_set() -> None:
    async with running() as (sim, client):
        for retry_after_s, header in [(2, "2"), (0.25, "0.25"), (3.0, "3")]:
            sim.add_fault(Fault(kind="rate_limit", retry_after_s=retry_after_s, times=1))
            response = await search(client)
            assert response.status_code == 429
            assert response.headers["retry-after"] == header


async def test_malformed_fault_is_a_200_that_is_not_json() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="malformed", times=1))
        bad = await search(client)
        good = await search(client)
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        bad.json()
    assert good.json()["results"]


async def test_slow_fault_delays_a_normal_answer() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="slow", delay_s=0.3))
        started = time.monotonic()
        response = await search(client)
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["results"]
    assert elapsed >= 0.3


async def test_delays_add_up_and_the_next_fault_decides() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="slow", delay_s=0.15))
        sim.add_fault(Fault(kind="slow", delay_s=0.15))
        sim.add_fault(Fault(kind="server_error", status=502))
        started = time.monotonic()
        response = await search(client)
        elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert elapsed >= 0.3


async def test_timeout_fault_makes_the_client_time_out_and_lets_the_server_stop() -> None:
    async with running(timeout_s=0.3) as (sim, client):
        sim.add_fault(Fault(kind="timeout", delay_s=2.0, times=1))
        with pytest.raises(httpx.ReadTimeout):
            await search(client)
        await eventually(lambda: sim.stats.abandoned == 1)
        after = await search(client)
        stopping = time.monotonic()
    assert after.status_code == 200
    assert time.monotonic() - stopping < 1.5  # the 2 s sleep ended with the client
    assert sim.stats.responses_by_status == {200: 1}


async def test_timeout_fault_defaults_to_30_seconds() -> None:
    assert Fault(kind="timeout").effective_delay_s == 30.0
    assert Fault(kind="slow").effective_delay_s == 1.0
    assert Fault(kind="timeout", delay_s=0.5).effective_delay_s == 0.5


async def test_drop_fault_closes_the_connection_without_an_answer() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="drop", times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            await search(client)
        after = await search(client)
    assert after.status_code == 200
    assert sim.stats.dropped == 1
    assert sim.stats.responses_by_status == {200: 1}  # no 500 was sent for the drop


async def test_drop_fault_through_an_asgi_transport_raises_the_same_error() -> None:
    sim = Simulator()
    sim.add_fault(Fault(kind="drop"))
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": KEY})


# -- fault scope ------------------------------------------------------------------------------


async def statuses(client: httpx.AsyncClient, pages: int, **headers: str) -> list[int]:
    return [
        (await client.get("/v1/search", params={"q": "x", "page": p}, headers=headers)).status_code
        for p in range(1, pages + 1)
    ]


async def test_times_limits_how_often_a_fault_fires() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="server_error", times=2))
        assert await statuses(client, 4) == [503, 503, 200, 200]
        assert sim.faults == ()


async def test_after_lets_requests_through_first_to_fail_on_page_3() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="server_error", after=2, times=1))
        assert await statuses(client, 5) == [200, 200, 503, 200, 200]


async def test_a_fault_without_times_lasts_until_cleared() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="server_error"))
        assert await statuses(client, 3) == [503, 503, 503]
        sim.clear_faults()
        assert await statuses(client, 2) == [200, 200]


async def test_key_scope_fails_only_that_key() -> None:
    async with running(SimulatorConfig(api_keys=("a", "b"))) as (sim, client):
        sim.add_fault(Fault(kind="server_error", key="b", after=1))
        assert await statuses(client, 3, **{"X-API-Key": "a"}) == [200, 200, 200]
        assert await statuses(client, 3, **{"X-API-Key": "b"}) == [200, 503, 503]


async def test_probability_is_reproducible_with_the_seed() -> None:
    async def pattern(seed: int) -> list[int]:
        async with running(SimulatorConfig(seed=seed)) as (_, client):
            response = await client.post(
                "/_admin/faults", json={"kind": "server_error", "probability": 0.5}
            )
            assert response.status_code == 201, response.text
            return await statuses(client, 40)

    first, again, other = await pattern(7), await pattern(7), await pattern(8)
    assert first == again
    assert first != other
    assert 5 < first.count(503) < 35 and set(first) == {200, 503}


# -- per-key limits ---------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after_and_never_serves_more_than_r() -> None:
    config = SimulatorConfig(api_keys=(KEY, "other"))
    async with running(config) as (sim, client):
        sim.set_limits(KEY, rate_per_s=5)
        burst = await asyncio.gather(*(search(client, page=p) for p in range(1, 21)))
        # Then a steady stream at ~25 requests per second for 1.5 s.
        stream = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            stream.append(await search(client))
            await asyncio.sleep(0.04)
        other = await client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": "other"})
        stats = sim.stats

    assert sorted(r.status_code for r in burst) == [200] * 5 + [429] * 15
    limited = [r for r in burst + stream if r.status_code == 429]
    assert all(r.headers["retry-after"] == "1" for r in limited)
    assert {error_code(r) for r in limited} == {"rate_limited"}
    assert limited[0].json()["error"]["message"] == (
        "Rate limit exceeded: 5 requests per second allowed for this key."
    )
    assert 200 in {r.status_code for r in stream}  # the window slides: it lets more through
    assert other.status_code == 200
    served = stats.served_at[KEY]
    assert len(served) == sum(r.status_code == 200 for r in burst + stream)
    assert stats.max_served_per_second[KEY] == 5 == max_in_window(served)
    assert stats.max_received_per_second[KEY] > 5  # the client really did go faster
    assert stats.rate_limited == len(limited)


def test_max_in_window_counts_half_open_one_second_windows() -> None:
    # Window (t - 1, t]: at 1.4375 the request at 0.5 is still inside, at 1.5 it is not.
    assert max_in_window([0.0, 0.25, 0.5, 1.25, 1.375, 1.4375, 1.5]) == 4
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([]) == 0


def test_rate_window_for_fractional_rates_and_retry_after_rounds_up() -> None:
    now = [100.0]
    traffic = Traffic(clock=lambda: now[0])
    half = KeyLimits(rate_per_s=0.5)  # one request per 2 s
    assert half.window() == (1, 2.0)
    assert KeyLimits(rate_per_s=2.5).window() == (2, 1.0)
    assert traffic.admit("k", half) is None
    now[0] = 100.1
    assert traffic.admit("k", half) == 2  # 1.9 s to wait, rounded up
    now[0] = 102.0
    assert traffic.admit("k", half) is None
    with pytest.raises(ValueError, match="rate_per_s"):
        KeyLimits(rate_per_s=0)


async def test_quota_is_spent_by_successful_searches_only() -> None:
    async with running(SimulatorConfig(api_keys=(KEY, "other"))) as (sim, client):
        sim.set_limits(KEY, quota=3)
        results = [
            await search(client),
            await client.get("/v1/search"),  # 400: does not count
            await search(client),
            await search(client),
            await search(client),
            await search(client, page=2),
        ]
        other = await client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": "other"})
    assert [r.status_code for r in results] == [200, 400, 200, 200, 402, 402]
    assert error_code(results[-1]) == "quota_exceeded"
    assert results[-1].json()["error"]["message"] == (
        "Monthly search quota exhausted (3 of 3 searches used). "
        "Upgrade your plan or wait for the next billing period."
    )
    assert other.status_code == 200
    assert sim.stats.searches_by_key == {KEY: 3, "other": 1}


# -- admin API ------------------------------------------------------------------------------------


INVALID_ADMIN_BODIES: list[tuple[str, Any, set[str]]] = [
    ("/_admin/faults", {"kind": "explode"}, {"kind"}),
    ("/_admin/faults", {"kind": "slow", "probability": 2}, {"probability"}),
    ("/_admin/faults", {"kind": "server_error", "status": 404}, {"status"}),
    ("/_admin/faults", {"kind": "drop", "times": 0, "after": -1}, {"times", "after"}),
    ("/_admin/faults", {"kind": "drop", "colour": "red"}, {"colour"}),
    ("/_admin/faults", ["drop"], set()),
    ("/_admin/limits", {"key": "", "rate_per_s": -1}, {"key", "rate_per_s"}),
    ("/_admin/limits", {"quota": 5}, {"key"}),
    ("/_admin/limits", {"key": KEY, "quota": -1}, {"quota"}),
]


async def test_admin_validates_bodies_naming_the_fields() -> None:
    async with running() as (sim, client):
        for path, body, fields in INVALID_ADMIN_BODIES:
            response = await client.post(path, json=body)
            assert response.status_code == 422, body
            named = {str(error["loc"][-1]) for error in response.json()["detail"]}
            assert fields <= named, (body, named)
        assert sim.faults == () and sim.limits(KEY) == KeyLimits()


async def test_admin_drives_faults_limits_stats_and_reset() -> None:
    async with running() as (_, client):
        added = await client.post("/_admin/faults", json={"kind": "server_error", "times": 1})
        listed = (await client.get("/_admin/faults")).json()
        failed = await search(client)
        await client.post("/_admin/faults", json={"kind": "drop"})
        cleared = (await client.delete("/_admin/faults")).json()
        ok = await search(client)
        limits = await client.post("/_admin/limits", json={"key": KEY, "quota": 1})
        spent = await search(client)
        stats = (await client.get("/_admin/stats")).json()
        reset = await client.post("/_admin/reset")
        after_reset = await search(client)
        stats_after = (await client.get("/_admin/stats")).json()

    assert added.status_code == 201 and added.json()["added"]["kind"] == "server_error"
    assert listed["faults"][0]["fault"]["times"] == 1 and listed["faults"][0]["fired"] == 0
    assert failed.status_code == 503
    assert cleared == {"cleared": 1}
    assert ok.status_code == 200
    assert limits.json() == {"key": KEY, "rate_per_s": None, "quota": 1}
    assert spent.status_code == 402
    assert stats["total_requests"] == 3
    assert stats["responses_by_status"] == {"503": 1, "200": 1, "402": 1}
    assert stats["searches_by_key"] == {KEY: 1}
    assert stats["max_served_per_second"] == {KEY: 2}
    assert len(stats["received_at"][KEY]) == 3
    assert reset.json() == {"reset": True}
    assert after_reset.status_code == 200  # quota and limits are gone
    assert stats_after["total_requests"] == 1


async def test_admin_routes_are_absent_when_disabled() -> None:
    async with running(SimulatorConfig(admin=False)) as (_, client):
        assert (await client.get("/_admin/stats")).status_code == 404
        assert (await client.post("/_admin/faults", json={"kind": "drop"})).status_code == 404
        assert (await search(client)).status_code == 200


# -- configuration and package ------------------------------------------------------------------


def test_config_and_faults_refuse_nonsense() -> None:
    for bad in (
        {"api_keys": ()},
        {"page_size": 0},
        {"page_size": 101},
        {"total_results": -1},
        {"latency_s": -0.1},
    ):
        with pytest.raises(ValueError):
            SimulatorConfig(**bad)
    with pytest.raises(ValueError):
        Fault(kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault(kind="slow", probability=1.5)


def test_public_names_are_exported() -> None:
    for name in simulator_package.__all__:
        assert getattr(simulator_package, name) is not None


def test_demo_api_command_serves_until_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pagerunner", "demo-api", "--port", str(port), "--key", "k"],
        env={**os.environ, "PAGERUNNER_LOG_LEVEL": "warning"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v1/search",
                    params={"q": "x total:3"},
                    headers={"X-API-Key": "k"},
                )
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "demo-api did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
