"""Provider profiles of the simulator, served over real HTTP and paged the way each provider's
docs say, with a plain httpx client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from pagerunner.executor import serve_http
from pagerunner.simulator import Fault, Simulator, SimulatorConfig
from pagerunner.simulator.profiles import apollo, github, places_legacy, places_new, serpapi
from tests.conftest import free_port

KEY, OTHER = "demo-key", "other-key"
LL = "@30.2672,-97.7431,14z"


@contextlib.asynccontextmanager
async def running(
    config: SimulatorConfig | None = None,
) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    """A simulator on a free port and a client with no credentials of its own."""
    sim = Simulator(config or SimulatorConfig(api_keys=(KEY, OTHER)))
    port = free_port()
    async with (
        serve_http(sim.app, host="127.0.0.1", port=port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client,
    ):
        yield sim, client


# -- one request of each provider, and what of its answer to compare -------------------------


def serpapi_get(client: httpx.AsyncClient, key: str | None = KEY, **params: Any) -> Any:
    query = {"engine": "google_maps", "type": "search", "q": "coffee", **params}
    return client.get("/search.json", params={**query, **({"api_key": key} if key else {})})


def legacy_get(client: httpx.AsyncClient, key: str | None = KEY, **params: Any) -> Any:
    query = {"query": "coffee in Austin", **params, **({"key": key} if key else {})}
    return client.get("/maps/api/place/textsearch/json", params=query)


NEW_MASK = "places.id,places.displayName,places.formattedAddress,places.rating,nextPageToken"


def new_post(
    client: httpx.AsyncClient, key: str | None = KEY, mask: str | None = NEW_MASK, **body: Any
) -> Any:
    headers = {"X-Goog-Api-Key": key or "", "X-Goog-FieldMask": mask or ""}
    return client.post(
        "/v1/places:searchText", json={"textQuery": "coffee", **body}, headers=headers
    )


def github_get(
    client: httpx.AsyncClient, key: str | None = KEY, kind: str = "repositories", **params: Any
) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(f"/search/{kind}", params={"q": "coffee", **params}, headers=headers)


def apollo_post(client: httpx.AsyncClient, key: str | None = KEY, **body: Any) -> Any:
    return client.post(
        "/api/v1/mixed_people/api_search",
        json={"q_keywords": "coffee", **body},
        headers={"x-api-key": key or ""},
    )


Send = Callable[..., Awaitable[httpx.Response]]
SUMMARIES: dict[str, tuple[Send, Callable[[httpx.Response], tuple[Any, ...]]]] = {
    "serpapi": (serpapi_get, lambda r: (r.status_code, r.json()["error"])),
    "places_legacy": (
        legacy_get,
        lambda r: (r.status_code, r.json()["status"], r.json().get("error_message")),
    ),
    "places_new": (
        new_post,
        lambda r: (r.status_code, r.json()["error"]["status"], r.json()["error"]["message"]),
    ),
    "github": (github_get, lambda r: (r.status_code, r.json()["message"])),
    "apollo": (apollo_post, lambda r: (r.status_code, r.json()["error"])),
}

USER_LIMIT = f"API rate limit exceeded for user ID {github.user_id(KEY)}."
# Per profile: the answers to a rate-limit fault, a quota fault, a bad key, a 503.
EXPECTED: dict[str, dict[str, tuple[Any, ...]]] = {
    "serpapi": {
        "rate_limit": (429, serpapi.HOURLY_LIMIT),
        "quota": (429, serpapi.OUT_OF_SEARCHES),
        "invalid_key": (401, serpapi.INVALID_KEY),
        "server_error": (503, "Service Unavailable. Please retry your search later."),
    },
    "places_legacy": {
        "rate_limit": (200, "OVER_QUERY_LIMIT", places_legacy.RATE_LIMIT),
        "quota": (200, "OVER_QUERY_LIMIT", places_legacy.QUOTA),
        "invalid_key": (200, "REQUEST_DENIED", places_legacy.INVALID_KEY),
        "server_error": (200, "UNKNOWN_ERROR", places_legacy.UNKNOWN),
    },
    "places_new": {
        "rate_limit": (429, "RESOURCE_EXHAUSTED", places_new.RATE_LIMIT),
        "quota": (429, "RESOURCE_EXHAUSTED", places_new.QUOTA),
        "invalid_key": (400, "INVALID_ARGUMENT", places_new.INVALID_KEY),
        "server_error": (503, "UNAVAILABLE", "The service is currently unavailable."),
    },
    "github": {
        "rate_limit": (403, USER_LIMIT),
        "quota": (403, USER_LIMIT),
        "invalid_key": (401, "Bad credentials"),
        "server_error": (503, "Service Unavailable"),
    },
    "apollo": {
        "rate_limit": (429, apollo.over_limit_message(200, "minute")),
        "quota": (429, apollo.over_limit_message(2000, "day")),
        "invalid_key": (401, apollo.INVALID_KEY),
        "server_error": (503, "Service Unavailable"),
    },
}


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_faults_limits_and_keys_answer_in_the_providers_shape(name: str) -> None:
    send, summary = SUMMARIES[name]
    async with running() as (sim, client):
        for kind, expected in EXPECTED[name].items():
            sim.add_fault(Fault(kind=kind, times=1))  # type: ignore[arg-type]
            assert summary(await send(client)) == expected, kind
        assert summary(await send(client, key="wrong")) == EXPECTED[name]["invalid_key"]

        sim.set_limits(KEY, quota=1)  # the simulator's quota: one search, then the provider's no
        assert (await send(client)).status_code == 200
        assert summary(await send(client)) == EXPECTED[name]["quota"]

        sim.set_limits(OTHER, rate_per_s=1)  # the simulator's limiter, the provider's answer
        assert (await send(client, key=OTHER)).status_code == 200
        limited = await send(client, key=OTHER)
        if name == "github":  # too fast for GitHub is its secondary limit
            assert summary(limited) == (403, github.SECONDARY_LIMIT)
            assert limited.headers["retry-after"] == "1"
        else:
            assert summary(limited) == EXPECTED[name]["rate_limit"]
            assert "retry-after" not in limited.headers
        stats = sim.stats
    assert stats.requests_by_key == {KEY: 6, "wrong": 1, OTHER: 2}
    assert stats.searches_by_key == {KEY: 1, OTHER: 1}


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_drop_malformed_and_key_scoped_faults_work_on_every_profile(name: str) -> None:
    send, summary = SUMMARIES[name]
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="server_error", key=OTHER))
        sim.add_fault(Fault(kind="drop", times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            await send(client)
        sim.add_fault(Fault(kind="malformed", times=1))
        assert (await send(client)).headers["content-type"] == "application/json"
        assert (await send(client)).status_code == 200
        assert summary(await send(client, key=OTHER)) == EXPECTED[name]["server_error"]
    assert sim.stats.dropped == 1


# -- SerpApi Google Maps --------------------------------------------------------------------


async def test_serpapi_pages_through_next_urls_until_there_is_none() -> None:
    async with running() as (sim, client):
        pages = [(await serpapi_get(client, ll=LL)).json()]
        while "serpapi_pagination" in pages[-1]:
            next_url = pages[-1]["serpapi_pagination"]["next"]
            assert next_url.startswith(str(client.base_url)) and "api_key" not in next_url
            pages.append((await client.get(f"{next_url}&api_key={KEY}")).json())
        capped = [await serpapi_get(client, q="tea total:500", ll=LL, start=s) for s in (100, 120)]

    assert [len(p["local_results"]) for p in pages] == [20, 20, 20, 20, 15]
    assert {p["search_metadata"]["status"] for p in pages} == {"Success"}
    assert [p["search_parameters"]["start"] for p in pages] == [0, 20, 40, 60, 80]
    results = [r for p in pages for r in p["local_results"]]
    assert results == sim.profile("serpapi").expected_results("coffee", ll=LL)
    assert [r["position"] for r in results] == list(range(1, 96))
    first = results[0]
    assert first["place_id"].startswith("ChIJ") and first["title"] and first["type"]
    assert {"address", "rating", "reviews", "phone", "website"} <= set(first)
    # Google Maps stops at 120 results (start=100 is the last page).
    assert "serpapi_pagination" not in capped[0].json() and capped[0].json()["local_results"]
    assert capped[1].json()["error"] == serpapi.EMPTY_RESULT


async def test_serpapi_requests_errors_and_empty_results() -> None:
    async with running() as (_, client):
        no_ll = await serpapi_get(client, start=20)
        first_without_ll = await serpapi_get(client)
        missing_q = await serpapi_get(client, q=" ")
        bad_ll = await serpapi_get(client, ll="Austin")
        engine = await serpapi_get(client, engine="google")
        empty = await serpapi_get(client, q="unicorn total:0")

    assert no_ll.status_code == 400 and "`ll`" in no_ll.json()["error"]
    assert first_without_ll.status_code == 200 and first_without_ll.json()["local_results"]
    assert missing_q.json() == {"error": "Missing query `q` parameter."}
    assert (missing_q.status_code, bad_ll.status_code, engine.status_code) == (400, 400, 400)
    assert empty.status_code == 200
    body = empty.json()
    assert body["search_metadata"]["status"] == "Success"
    assert body["error"] == "Google Maps hasn't returned any results for this query."
    assert "local_results" not in body and "serpapi_pagination" not in body


# -- Google Places Text Search (legacy) -----------------------------------------------------


async def test_places_legacy_token_is_valid_only_after_its_delay() -> None:
    async with running() as (sim, client):
        assert sim.profile("places_legacy").settings.token_delay_s == 2.0
        sim.profile("places_legacy").configure(token_delay_s=0.4)
        pages = [(await legacy_get(client)).json()]
        too_early = await legacy_get(client, pagetoken=pages[0]["next_page_token"])
        while "next_page_token" in pages[-1]:
            await asyncio.sleep(0.45)
            token = pages[-1]["next_page_token"]
            pages.append((await legacy_get(client, query="", pagetoken=token)).json())
        again = await legacy_get(client, pagetoken=pages[0]["next_page_token"])  # a retry
        unknown = await legacy_get(client, pagetoken="AUc-not-a-token")

    assert too_early.status_code == 200
    assert too_early.json() == {"html_attributions": [], "results": [], "status": "INVALID_REQUEST"}
    assert [len(p["results"]) for p in pages] == [20, 20, 20]  # 95 results, shown: 60
    assert {p["status"] for p in pages} == {"OK"}
    results = [r for p in pages for r in p["results"]]
    assert results == sim.profile("places_legacy").expected_results("coffee in Austin")
    assert {"place_id", "name", "formatted_address", "rating", "user_ratings_total", "types"} <= (
        set(results[0])
    )
    assert again.json()["results"] == pages[1]["results"]
    assert unknown.json()["status"] == "INVALID_REQUEST"


async def test_places_legacy_statuses_are_all_http_200() -> None:
    async with running() as (_, client):
        zero = await legacy_get(client, query="unicorn total:0")
        short = await legacy_get(client, query="tea total:15")
        missing = await legacy_get(client, query="")
        no_key = await legacy_get(client, key=None)

    assert {r.status_code for r in (zero, short, missing, no_key)} == {200}
    assert zero.json() == {"html_attributions": [], "results": [], "status": "ZERO_RESULTS"}
    assert len(short.json()["results"]) == 15 and "next_page_token" not in short.json()
    assert missing.json()["status"] == "INVALID_REQUEST" and missing.json()["error_message"]
    assert (no_key.json()["status"], no_key.json()["error_message"]) == (
        "REQUEST_DENIED",
        places_legacy.MISSING_KEY,
    )


# -- Google Places Text Search (new) --------------------------------------------------------


async def test_places_new_pages_with_the_token_the_field_mask_asks_for() -> None:
    async with running() as (sim, client):
        pages = [(await new_post(client, textQuery="coffee", pageSize=7)).json()]
        while "nextPageToken" in pages[-1]:
            token = pages[-1]["nextPageToken"]
            pages.append((await new_post(client, pageSize=7, pageToken=token)).json())
        big = (await new_post(client, pageSize=50)).json()
        no_token = (await new_post(client, mask="places.id")).json()
        everything = (await new_post(client, mask="*")).json()
        empty = await new_post(client, textQuery="unicorn total:0")
        other_query = await new_post(client, textQuery="tea", pageToken=pages[0]["nextPageToken"])

    assert [len(p["places"]) for p in pages] == [7] * 8 + [4]  # 60 places at most
    places = [p for page in pages for p in page["places"]]
    assert places == sim.profile("places_new").expected_places("coffee", NEW_MASK)
    assert set(places[0]) == {"id", "displayName", "formattedAddress", "rating"}
    assert places[0]["displayName"]["text"]
    assert len(big["places"]) == 20
    assert set(no_token) == {"places"} and set(no_token["places"][0]) == {"id"}
    assert {"userRatingCount", "types"} <= set(everything["places"][0])
    assert "nextPageToken" in everything
    assert (empty.status_code, empty.json()) == (200, {})
    assert other_query.status_code == 400
    assert other_query.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_places_new_errors_use_googles_envelope() -> None:
    async with running() as (_, client):
        no_mask = await new_post(client, mask=None)
        no_key = await new_post(client, key=None)
        bad_key = await new_post(client, key="wrong")
        no_query = await new_post(client, textQuery="")

    assert no_mask.status_code == 400
    assert no_mask.json()["error"] == {
        "code": 400,
        "message": places_new.MISSING_FIELD_MASK,
        "status": "INVALID_ARGUMENT",
    }
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    error = bad_key.json()["error"]
    assert (bad_key.status_code, error["message"]) == (400, places_new.INVALID_KEY)
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    assert no_query.status_code == 400


async def test_google_profiles_show_the_same_places_for_the_same_query() -> None:
    sim = Simulator()
    ids = [r["place_id"] for r in sim.profile("places_legacy").expected_results("coffee")]
    assert [p["id"] for p in sim.profile("places_new").expected_places("coffee")] == ids
    assert [r["place_id"] for r in sim.profile("serpapi").expected_results("coffee")][:60] == ids
    assert sim.profile("serpapi").expected_results("coffee", ll=LL)[0]["place_id"] != ids[0]


# -- GitHub search ------------------------------------------------------------------------


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: str(link["url"]) for rel, link in response.links.items()}


async def follow_links(client: httpx.AsyncClient, first: httpx.Response) -> list[httpx.Response]:
    pages = [first]
    while "next" in pages[-1].links:
        url = links(pages[-1])["next"]
        pages.append(await client.get(url, headers={"Authorization": f"token {KEY}"}))
        assert pages[-1].status_code == 200, pages[-1].text
    return pages


async def test_github_pages_through_the_link_header_with_rate_limit_headers() -> None:
    async with running() as (sim, client):
        first = await github_get(client, q="coffee total:250", per_page=100)
        pages = await follow_links(client, first)
        issues = await github_get(client, kind="issues", q="coffee total:250", per_page=100)

    assert [len(p.json()["items"]) for p in pages] == [100, 100, 50]
    assert {p.json()["total_count"] for p in pages} == {250}
    assert {p.json()["incomplete_results"] for p in pages} == {False}
    items = [item for p in pages for item in p.json()["items"]]
    assert items == sim.profile("github").expected_items("coffee total:250")
    assert links(pages[0])["last"].endswith("page=3") and "prev" not in pages[0].links
    assert set(pages[-1].links) == {"prev", "first"}
    assert links(pages[0])["next"].startswith(str(client.base_url) + "/search/repositories?")
    headers = [p.headers for p in pages]
    assert [h["x-ratelimit-remaining"] for h in headers] == ["29", "28", "27"]
    assert [h["x-ratelimit-used"] for h in headers] == ["1", "2", "3"]
    assert {h["x-ratelimit-limit"] for h in headers} == {"30"}
    assert {h["x-ratelimit-resource"] for h in headers} == {"search"}
    reset = int(headers[0]["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 61
    assert (
        issues.json()["items"]
        == sim.profile("github").expected_items("coffee total:250", kind="issues")[:100]
    )


async def test_github_serves_the_first_1000_results_only() -> None:
    async with running() as (sim, client):
        sim.profile("github").configure(limit=100)
        pages = await follow_links(
            client, await github_get(client, q="python total:5000", per_page=100)
        )
        beyond = await github_get(client, q="python total:5000", per_page=100, page=11)
        by_30 = await github_get(client, q="python total:5000")
        page_34 = await github_get(client, q="python total:5000", page=34)
        page_35 = await github_get(client, q="python total:5000", page=35)

    assert len(pages) == 10 and pages[-1].json()["total_count"] == 5000
    items = [item for p in pages for item in p.json()["items"]]
    assert items == sim.profile("github").expected_items("python total:5000")
    assert len(items) == 1000
    assert beyond.status_code == 422
    assert beyond.json()["message"] == "Only the first 1000 search results are available"
    assert beyond.json()["documentation_url"]
    assert links(by_30)["last"].endswith("page=34")
    assert len(page_34.json()["items"]) == 10 and "next" not in page_34.links
    assert page_35.status_code == 422


async def test_github_primary_limit_is_a_window_per_token() -> None:
    async with running() as (sim, client):
        sim.profile("github").configure(limit=3, window_s=1.0)
        served = [await github_get(client, page=p) for p in (1, 2, 3)]
        limited = await github_get(client)
        other = await github_get(client, key=OTHER)
        sim.profile("github").configure(rate_limit_status=429)
        as_429 = await github_get(client)
        await asyncio.sleep(1.05)
        after_reset = await github_get(client)

    assert [r.status_code for r in served] == [200, 200, 200]
    assert limited.status_code == 403
    assert limited.json()["message"] == USER_LIMIT
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-used"] == "3"
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time()) - 1
    assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "2"
    assert as_429.status_code == 429 and as_429.headers["x-ratelimit-remaining"] == "0"
    assert after_reset.status_code == 200 and after_reset.headers["x-ratelimit-remaining"] == "2"


async def test_github_secondary_limit_tokens_and_anonymous_use() -> None:
    async with running() as (sim, client):
        sim.add_fault(Fault(kind="rate_limit", retry_after_s=30, times=1))
        secondary = await github_get(client)
        as_token = await client.get(
            "/search/users", params={"q": "x"}, headers={"Authorization": f"token {KEY}"}
        )
        basic = await client.get(
            "/search/users", params={"q": "x"}, headers={"Authorization": "Basic x"}
        )
        anonymous = [await github_get(client, key=None) for _ in range(11)]
        missing_q = await github_get(client, q="")
        sim.profile("github").configure(allow_anonymous=False)
        required = await github_get(client, key=None)

    assert secondary.status_code == 403
    assert secondary.json()["message"] == github.SECONDARY_LIMIT
    assert secondary.headers["retry-after"] == "30"
    assert as_token.status_code == 200
    assert as_token.json()["items"] == sim.profile("github").expected_items("x", kind="users")[:30]
    assert (basic.status_code, basic.json()["message"]) == (401, "Bad credentials")
    assert [r.status_code for r in anonymous] == [200] * 10 + [403]
    assert anonymous[0].headers["x-ratelimit-limit"] == "10"
    assert "Authenticated requests get a higher rate limit" in anonymous[-1].json()["message"]
    assert missing_q.status_code == 422 and missing_q.json()["message"] == "Validation Failed"
    assert (required.status_code, required.json()["message"]) == (401, "Requires authentication")


async def test_github_abuse_detection_answer_has_retry_after_and_no_rate_limit_headers() -> None:
    """The older answer to going too fast, as recorded: 403, `Retry-After`, no x-ratelimit-*."""
    async with running() as (sim, client):
        sim.profile("github").configure(secondary_answer="abuse")
        sim.add_fault(Fault(kind="rate_limit", retry_after_s=60, times=1))
        abuse = await github_get(client)
        sim.set_limits(OTHER, rate_per_s=1)  # the simulator's limiter answers the same way
        first = await github_get(client, key=OTHER)
        limited = await github_get(client, key=OTHER)
        sim.add_fault(Fault(kind="rate_limit", times=1))  # no retry_after: the primary limit
        primary = await github_get(client)

    expected = {"message": github.ABUSE_LIMIT, "documentation_url": github.DOCS_ABUSE_LIMITS}
    for answer, wait in ((abuse, "60"), (limited, "1")):
        assert answer.status_code == 403 and answer.json() == expected
        assert answer.headers["retry-after"] == wait
        assert not [name for name in answer.headers if name.startswith("x-ratelimit")]
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining"] == "29"
    assert primary.status_code == 403 and primary.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in primary.headers


# -- Apollo people search -----------------------------------------------------------------


async def test_apollo_pages_to_total_pages_with_window_headers() -> None:
    filters = {"q_keywords": "coffee total:250", "person_titles": ["Owner", "Barista"]}
    async with running() as (sim, client):
        pages = [(await apollo_post(client, page=1, per_page=100, **filters))]
        while (
            pages[-1].json()["pagination"]["page"] < pages[-1].json()["pagination"]["total_pages"]
        ):
            page = pages[-1].json()["pagination"]["page"] + 1
            pages.append(await apollo_post(client, page=page, per_page=100, **filters))
        as_query = await client.post(
            "/api/v1/mixed_people/api_search",
            params=[
                ("person_titles[]", "Barista"),
                ("person_titles[]", "Owner"),
                ("page", "1"),
                ("q_keywords", "coffee total:250"),
                ("per_page", "100"),
            ],
            headers={"x-api-key": KEY},
        )
        too_big = await apollo_post(client, per_page=500)

    bodies = [p.json() for p in pages]
    assert [len(b["people"]) for b in bodies] == [100, 100, 50]
    assert bodies[0]["pagination"] == {
        "page": 1,
        "per_page": 100,
        "total_entries": 250,
        "total_pages": 3,
    }
    people = [person for b in bodies for person in b["people"]]
    assert people == sim.profile("apollo").expected_people(**filters)
    assert {p["title"] for p in people} == {"Owner", "Barista"}
    assert people[0]["organization"]["name"] and people[0]["linkedin_url"]
    assert as_query.json()["people"] == bodies[0]["people"]
    assert [p.headers["x-minute-requests-left"] for p in pages] == ["199", "198", "197"]
    assert [p.headers["x-hourly-requests-left"] for p in pages] == ["399", "398", "397"]
    assert {p.headers["x-rate-limit-minute"] for p in pages} == {"200"}
    assert {p.headers["x-rate-limit-hourly"] for p in pages} == {"400"}
    assert {p.headers["x-rate-limit-daily"] for p in pages} == {"2000"}
    assert too_big.json()["pagination"]["per_page"] == 100


async def test_apollo_windows_keys_and_display_cap() -> None:
    async with running() as (sim, client):
        sim.profile("apollo").configure(per_minute=2, per_hour=3, minute_s=0.5)
        minute = [await apollo_post(client) for _ in range(3)]
        await asyncio.sleep(0.55)
        hour = [await apollo_post(client) for _ in range(2)]
        sim.profile("apollo").configure(per_minute=None, per_hour=None, restricted_keys=(OTHER,))
        restricted = await apollo_post(client, key=OTHER)
        capped = await apollo_post(client, q_keywords="cafe total:60000", page=500, per_page=100)
        past = await apollo_post(client, q_keywords="cafe total:60000", page=501, per_page=100)

    assert [r.status_code for r in minute] == [200, 200, 429]
    assert minute[2].json() == {"error": apollo.over_limit_message(2, "minute")}
    assert minute[2].headers["x-minute-requests-left"] == "0"
    assert [r.status_code for r in hour] == [200, 429]
    assert hour[1].json() == {"error": apollo.over_limit_message(3, "hour")}
    assert restricted.status_code == 403 and "master API key" in restricted.json()["error"]
    pagination = capped.json()["pagination"]
    assert (pagination["total_entries"], pagination["total_pages"]) == (60000, 500)
    assert len(capped.json()["people"]) == 100 and past.json()["people"] == []
    assert sim.profile("apollo").requests_left(KEY) == {"daily": 2000 - 5}


async def test_apollo_recorded_shape_top_level_total_and_message_bodies() -> None:
    """`total_at="top_level"`: `total_entries` beside `people`, no `pagination`;
    `error_shape="message"`: errors in `message`, a bad key as plain text."""
    filters = {"q_keywords": "coffee total:150", "per_page": 100}
    async with running() as (sim, client):
        sim.profile("apollo").configure(
            total_at="top_level", error_shape="message", per_minute=2, restricted_keys=(OTHER,)
        )
        pages = [await apollo_post(client, page=n, **filters) for n in (1, 2)]
        limited = await apollo_post(client, page=3, **filters)
        bad = await apollo_post(client, key="wrong")
        sim.add_fault(Fault(kind="invalid_key", times=1))
        bad_by_fault = await apollo_post(client)
        restricted = await apollo_post(client, key=OTHER)

    bodies = [p.json() for p in pages]
    assert [sorted(b) for b in bodies] == [["people", "total_entries"]] * 2
    assert [b["total_entries"] for b in bodies] == [150, 150]
    people = [person for b in bodies for person in b["people"]]
    assert people == sim.profile("apollo").expected_people(q_keywords="coffee total:150")
    assert limited.status_code == 429
    assert limited.json() == {"message": apollo.over_limit_message(2, "minute")}
    for answer in (bad, bad_by_fault):
        assert answer.status_code == 401 and answer.text == apollo.INVALID_KEY
        assert answer.headers["content-type"].startswith("text/plain")
    assert restricted.status_code == 403 and "master API key" in restricted.json()["message"]


# -- configuration -------------------------------------------------------------------------------


async def test_admin_configures_profiles_and_reset_forgets_their_state() -> None:
    async with running() as (sim, client):
        listed = (await client.get("/_admin/profiles")).json()["profiles"]
        changed = await client.post("/_admin/profiles/github", json={"limit": 1})
        bad = await client.post("/_admin/profiles/github", json={"limit": 0})
        unknown_field = await client.post("/_admin/profiles/github", json={"colour": 1})
        unknown = await client.post("/_admin/profiles/yahoo", json={})
        assert (await github_get(client)).status_code == 200
        assert (await github_get(client)).status_code == 403
        await client.post("/_admin/reset")
        after_reset = await github_get(client)

    assert set(listed) == {"serpapi", "places_legacy", "places_new", "github", "apollo"}
    assert listed["github"]["routes"] == [
        f"GET /search/{k}" for k in ("repositories", "issues", "users")
    ]
    assert changed.json()["settings"]["limit"] == 1
    assert bad.status_code == 422 and unknown_field.status_code == 422
    assert unknown.status_code == 404
    assert after_reset.status_code == 200  # windows are gone, settings stay
    assert sim.profile("github").settings.limit == 1
    with pytest.raises(ValueError, match="token_delay_s"):
        sim.profile("places_legacy").configure(token_delay_s=-1)
    with pytest.raises(KeyError):
        sim.profile("yahoo")
