"""Every shipped preset through the whole durable loop, against its simulated provider.

Each test starts pagerunner in-process (`running_app`) with every preset aimed at
the in-process simulator (`source_origins`) and the presets' credentials in the
environment, runs queries over the API and checks what the user sees: every
page fetched and exactly the provider's items, the last page detected (no
request after it), a rate limit waited out (short) or pausing the query (long),
a spent quota and a bad key failing, each with the provider's own message.
The simulator's knobs keep it fast: small `total:N` queries, a 0.2 s page-token
delay for Places (legacy), short GitHub windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.executor import serve_http
from pagerunner.simulator import Fault, Simulator, SimulatorConfig
from pagerunner.simulator.profiles import apollo, github, places_legacy, places_new, serpapi
from pagerunner.sources.base import (
    Checkpoint,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from pagerunner.sources.loader import PRESETS_DIR, load_sources
from pagerunner.sources.pagination import PaginationState
from tests.conftest import free_port
from tests.e2e.conftest import App, fast_settings, running_app

KEY = "demo-key"  # what the runtime's simulator accepts
ENV_VARS = ("SERPAPI_API_KEY", "GOOGLE_PLACES_API_KEY", "GITHUB_TOKEN", "APOLLO_API_KEY")
LL = "@30.2672,-97.7431,14z"
PLACES_FIELDS = (
    "places.id,places.displayName,places.formattedAddress,places.location,places.rating,"
    "places.userRatingCount,places.types"
)


@dataclass(frozen=True)
class Preset:
    """How to query one preset and what its simulated provider should hand back."""

    name: str
    env: str
    params: Callable[[str], dict[str, Any]]
    expected: Callable[[Simulator, str], list[dict[str, Any]]]
    #: A query text with `pages` pages (its last one short or exactly full).
    text: str
    pages: int
    #: A query text with two pages, for the rate-limit tests.
    two_pages: str
    settings: dict[str, Any] = field(default_factory=dict)


def _github(kind: github.SearchKind, total: int) -> Preset:
    # Pages are 2 s apart (30 searches a minute): few pages keep the tests quick.
    return Preset(
        name=f"github-search-{kind}",
        env="GITHUB_TOKEN",
        params=lambda text: {"q": text},
        expected=lambda sim, text: sim.profile("github").expected_items(text, kind=kind),
        text=f"stars:>10 total:{total}",
        pages=-(-total // 100),
        two_pages="stars:>10 total:150",
    )


PRESETS = {
    p.name: p
    for p in (
        Preset(
            name="serpapi-google-maps",
            env="SERPAPI_API_KEY",
            params=lambda text: {"q": text, "ll": LL},
            expected=lambda sim, text: sim.profile("serpapi").expected_results(text, ll=LL),
            text="coffee total:130",  # Google Maps stops at 120: 6 pages of 20
            pages=6,
            two_pages="coffee total:30",
        ),
        Preset(
            name="google-places-text-search",
            env="GOOGLE_PLACES_API_KEY",
            params=lambda text: {"q": text},
            expected=lambda sim, text: sim.profile("places_new").expected_places(
                text, field_mask=PLACES_FIELDS
            ),
            text="coffee in Austin total:50",
            pages=3,
            two_pages="coffee in Austin total:30",
        ),
        Preset(
            name="google-places-text-search-legacy",
            env="GOOGLE_PLACES_API_KEY",
            params=lambda text: {"q": text},
            expected=lambda sim, text: sim.profile("places_legacy").expected_results(text),
            text="coffee in Austin total:75",  # Google stops at 60: 3 pages of 20
            pages=3,
            two_pages="coffee in Austin total:30",
            # Pages 0.3 s apart: the page token (valid after 0.2 s here) is ready.
            settings={"page_delay_s": 0.3},
        ),
        _github("repositories", 300),  # 3 full pages: the last has no rel="next"
        _github("issues", 150),
        _github("users", 250),
        Preset(
            name="apollo-people-search",
            env="APOLLO_API_KEY",
            params=lambda text: {"q": text, "title": "Owner"},
            expected=lambda sim, text: sim.profile("apollo").expected_people(
                q_keywords=text, person_titles=["Owner"]
            ),
            text="coffee roasters total:250",
            pages=3,
            two_pages="coffee roasters total:150",
        ),
    )
}
ALL = sorted(PRESETS)
WITH_QUOTA = [name for name in ALL if not name.startswith("github-")]  # GitHub has no quota


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ENV_VARS:
        monkeypatch.setenv(var, KEY)
    yield


def preset_app(
    tmp_path: Path, preset: Preset | None = None, **overrides: Any
) -> AbstractAsyncContextManager[App]:
    """`running_app` with every preset aimed at the runtime's simulator."""
    port = free_port()
    origins = dict.fromkeys(ALL, f"http://127.0.0.1:{port}")
    values = {**(preset.settings if preset else {}), **overrides}
    settings = fast_settings(
        str(tmp_path / "pagerunner.db"), demo_port=port, source_origins=origins, **values
    )
    return running_app(settings)


def tune(sim: Simulator) -> None:
    sim.profile("places_legacy").configure(token_delay_s=0.2)


async def run(app: App, preset: Preset, text: str, timeout_s: float = 30) -> dict[str, Any]:
    body = {"source": preset.name, "params": preset.params(text)}
    response = await app.api.post("/api/queries/run", json=body)
    assert response.status_code == 202, response.text
    return await app.until(response.json()["id"], timeout_s=timeout_s)


async def stored(app: App, query_id: str) -> list[dict[str, Any]]:
    response = await app.api.get(f"/api/queries/{query_id}/results", params={"limit": 1000})
    return [item["data"] for item in response.json()["items"]]


# -- every page, exactly the provider's items, the last page detected ----------------------


@pytest.mark.parametrize("name", ALL)
async def test_every_page_and_exactly_the_providers_items(tmp_path: Path, name: str) -> None:
    preset = PRESETS[name]
    async with preset_app(tmp_path, preset) as app:
        tune(app.sim)
        query = await run(app, preset, preset.text)
        assert query["status"] == "completed", query
        expected = preset.expected(app.sim, preset.text)
        assert len(expected) > 0
        assert await stored(app, query["id"]) == expected
        assert query["pages_fetched"] == preset.pages
        assert query["records_inserted"] == len(expected)
        assert query["has_more"] is False
        # The last page was recognised as such: not one request more, and none refused.
        assert app.sim.stats.total_requests == preset.pages
        assert app.sim.stats.responses_by_status == {200: preset.pages}
        # Every page carried the key (SerpApi's next URL leaves it out: the preset adds it).
        assert app.sim.stats.requests_by_key == {KEY: preset.pages}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("serpapi-google-maps", "coffee total:0"),  # 200 with "hasn't returned any results"
        ("google-places-text-search", "coffee total:0"),  # {}
        ("google-places-text-search-legacy", "coffee total:0"),  # ZERO_RESULTS
        ("github-search-repositories", "nothing total:0"),
        ("apollo-people-search", "nobody total:0"),
    ],
)
async def test_no_results_is_a_normal_empty_end(tmp_path: Path, name: str, text: str) -> None:
    preset = PRESETS[name]
    async with preset_app(tmp_path, preset) as app:
        query = await run(app, preset, text)
        assert query["status"] == "completed", query
        assert (query["pages_fetched"], query["records_inserted"]) == (1, 0)
        assert app.sim.stats.total_requests == 1


# -- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
async def test_a_short_rate_limit_is_waited_out(tmp_path: Path, name: str) -> None:
    """Page 2 is refused once (Retry-After: 1 where the provider sends one): wait, go on."""
    preset = PRESETS[name]
    async with preset_app(tmp_path, preset) as app:
        tune(app.sim)
        app.sim.add_fault(Fault(kind="rate_limit", after=1, times=1, retry_after_s=1))
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == "completed", query
        assert await stored(app, query["id"]) == preset.expected(app.sim, preset.two_pages)
        assert query["pages_fetched"] == 2
        assert query["retries"] == 0  # a wait, not a retry of a failure
        assert app.sim.stats.total_requests == 3  # page 2 was asked again after the wait


LONG_RATE_LIMITS = {
    # SerpApi's hourly limit: no Retry-After, the preset waits an hour, so it pauses.
    "serpapi-google-maps": serpapi.HOURLY_LIMIT + " (HTTP 429)",
    # Apollo's hourly window (1 an hour here) is full.
    "apollo-people-search": apollo.over_limit_message(1, "hour") + " (HTTP 429)",
    # GitHub's primary limit with its window resetting in 10 minutes.
    "github-search-repositories": f"API rate limit exceeded for user ID {github.user_id(KEY)}. "
    "(HTTP 403)",
}


@pytest.mark.parametrize("name", sorted(LONG_RATE_LIMITS))
async def test_a_long_rate_limit_pauses_with_the_providers_message(
    tmp_path: Path, name: str
) -> None:
    preset = PRESETS[name]
    async with preset_app(tmp_path, preset) as app:
        if name == "apollo-people-search":
            app.sim.profile("apollo").configure(per_hour=1)
        elif name == "github-search-repositories":
            app.sim.profile("github").configure(window_s=600)
            app.sim.add_fault(Fault(kind="rate_limit", after=1, times=1))  # the primary limit
        else:
            app.sim.add_fault(Fault(kind="rate_limit", after=1, times=1))
        query = await run(app, preset, preset.text)
        assert query["status"] == "paused", query
        assert query["pause_reason"] == f"rate limited by the provider: {LONG_RATE_LIMITS[name]}"
        assert query["resume_hint"] is not None
        assert query["pages_fetched"] == 1 and query["has_more"]
        items = await stored(app, query["id"])
        assert items == preset.expected(app.sim, preset.text)[: len(items)]
        assert len(items) == query["records_inserted"] > 0


async def test_github_primary_limit_waits_until_the_reset(tmp_path: Path) -> None:
    """403 with x-ratelimit-remaining: 0 and a reset 2 s away: wait for it, then go on."""
    preset = PRESETS["github-search-issues"]
    async with preset_app(tmp_path, preset) as app:
        app.sim.profile("github").configure(window_s=2.0)
        app.sim.add_fault(Fault(kind="rate_limit", after=1, times=1))  # no retry_after: primary
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == "completed", query
        assert await stored(app, query["id"]) == preset.expected(app.sim, preset.two_pages)
        assert app.sim.stats.responses_by_status == {200: 2, 403: 1}


async def test_github_rate_limit_headers_hold_every_query_back_until_the_reset(
    tmp_path: Path,
) -> None:
    """x-ratelimit-remaining: 0 on a success: the next page waits for x-ratelimit-reset.

    2 searches per 5 s window and pages 2 s apart (30 a minute): page 3 would come at
    4 s and be refused; the headers hold it until the window resets.
    """
    preset = PRESETS["github-search-users"]
    async with preset_app(tmp_path, preset) as app:
        app.sim.profile("github").configure(limit=2, window_s=5.0)
        query = await run(app, preset, preset.text)
        assert query["status"] == "completed", query
        assert await stored(app, query["id"]) == preset.expected(app.sim, preset.text)
        assert app.sim.stats.responses_by_status == {200: 3}


@pytest.mark.parametrize(("retry_after_s", "status"), [(1, "completed"), (600, "paused")])
async def test_github_abuse_detection_is_a_rate_limit_not_a_bad_key(
    tmp_path: Path, retry_after_s: float, status: str
) -> None:
    """403 "You have triggered an abuse detection mechanism" with `Retry-After` and no
    x-ratelimit-remaining (as recorded): wait as the header says, or pause when it is long."""
    preset = PRESETS["github-search-repositories"]
    async with preset_app(tmp_path, preset) as app:
        app.sim.profile("github").configure(secondary_answer="abuse")
        app.sim.add_fault(Fault(kind="rate_limit", after=1, times=1, retry_after_s=retry_after_s))
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == status, query
        assert query["error_code"] is None
        assert app.sim.stats.responses_by_status[403] == 1
        items = await stored(app, query["id"])
        if status == "completed":
            assert items == preset.expected(app.sim, preset.two_pages)
            assert query["retries"] == 0  # a wait, not a retry of a failure
            assert app.sim.stats.total_requests == 3
        else:
            reason = f"rate limited by the provider: {github.ABUSE_LIMIT} (HTTP 403)"
            assert query["pause_reason"] == reason
            assert query["pages_fetched"] == 1 and query["has_more"]
            assert items == preset.expected(app.sim, preset.two_pages)[:100]


async def test_apollo_top_level_total_ends_the_query_at_its_last_page(tmp_path: Path) -> None:
    """`total_entries` beside `people`, no `pagination`: still no paid request after the last."""
    preset = PRESETS["apollo-people-search"]
    async with preset_app(tmp_path, preset) as app:
        app.sim.profile("apollo").configure(total_at="top_level", error_shape="message")
        query = await run(app, preset, preset.text)
        assert query["status"] == "completed", query
        assert await stored(app, query["id"]) == preset.expected(app.sim, preset.text)
        assert query["pages_fetched"] == preset.pages
        assert app.sim.stats.total_requests == preset.pages  # no empty page 4


async def test_apollo_messages_are_read_where_apollo_puts_them(tmp_path: Path) -> None:
    """Errors in `message` and a bad key as plain text: the user reads Apollo's own words."""
    preset = PRESETS["apollo-people-search"]
    async with preset_app(tmp_path, preset) as app:
        app.sim.profile("apollo").configure(total_at="top_level", error_shape="message")
        app.sim.add_fault(Fault(kind="invalid_key", times=1))
        failed = await run(app, preset, preset.text)
        assert failed["status"] == "failed", failed
        assert failed["error_code"] == "invalid_credentials"
        assert failed["error_message"] == apollo.INVALID_KEY + " (HTTP 401)"

        app.sim.profile("apollo").configure(per_hour=1)
        paused = await run(app, preset, preset.text)
        assert paused["status"] == "paused", paused
        limit = apollo.over_limit_message(1, "hour")
        assert paused["pause_reason"] == f"rate limited by the provider: {limit} (HTTP 429)"


# -- quota and credentials --------------------------------------------------------------------

QUOTA_MESSAGES = {
    "serpapi-google-maps": serpapi.OUT_OF_SEARCHES + " (HTTP 429)",
    "google-places-text-search": places_new.QUOTA + " (HTTP 429)",
    "google-places-text-search-legacy": f"OVER_QUERY_LIMIT: {places_legacy.QUOTA} (HTTP 200)",
    "apollo-people-search": apollo.over_limit_message(2000, "day") + " (HTTP 429)",
}


@pytest.mark.parametrize("name", WITH_QUOTA)
async def test_a_spent_quota_fails_with_the_providers_message(tmp_path: Path, name: str) -> None:
    preset = PRESETS[name]
    async with preset_app(tmp_path, preset) as app:
        tune(app.sim)
        app.sim.set_limits(KEY, quota=1)  # page 1 is the last search the plan allows
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == "failed", query
        assert query["error_code"] == "quota_exhausted"
        assert query["error_message"] == QUOTA_MESSAGES[name]
        assert query["pages_fetched"] == 1
        assert app.sim.stats.total_requests == 2  # no retry


INVALID_KEY_MESSAGES = {
    "serpapi-google-maps": serpapi.INVALID_KEY + " (HTTP 401)",
    "google-places-text-search": places_new.INVALID_KEY + " (HTTP 400)",
    "google-places-text-search-legacy": f"REQUEST_DENIED: {places_legacy.INVALID_KEY} (HTTP 200)",
    "github-search-repositories": "Bad credentials (HTTP 401)",
    "github-search-issues": "Bad credentials (HTTP 401)",
    "github-search-users": "Bad credentials (HTTP 401)",
    "apollo-people-search": apollo.INVALID_KEY + " (HTTP 401)",
}


@pytest.mark.parametrize("name", ALL)
async def test_an_invalid_key_fails_with_the_providers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    preset = PRESETS[name]
    monkeypatch.setenv(preset.env, "wrong-key-0123")
    async with preset_app(tmp_path, preset) as app:
        query = await run(app, preset, preset.text)
        assert query["status"] == "failed", query
        assert query["error_code"] == "invalid_credentials"
        assert query["error_message"] == INVALID_KEY_MESSAGES[name]
        assert query["pages_fetched"] == 0
        assert app.sim.stats.total_requests == 1  # no retry
        assert "wrong-key-0123" not in str(query)


# -- provider specifics -----------------------------------------------------------------------


async def test_places_legacy_retries_a_page_token_used_too_early(tmp_path: Path) -> None:
    """No delay between pages: the token is refused (INVALID_REQUEST), retried, then taken."""
    preset = PRESETS["google-places-text-search-legacy"]
    async with preset_app(tmp_path, preset, page_delay_s=0, retry_base_s=0.2) as app:
        tune(app.sim)
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == "completed", query
        assert await stored(app, query["id"]) == preset.expected(app.sim, preset.two_pages)
        assert query["retries"] >= 1
        assert query["last_error"] == "INVALID_REQUEST (HTTP 200)"


async def test_places_legacy_retries_unknown_error(tmp_path: Path) -> None:
    preset = PRESETS["google-places-text-search-legacy"]
    async with preset_app(tmp_path, preset) as app:
        tune(app.sim)
        app.sim.add_fault(Fault(kind="server_error", after=1, times=1))  # UNKNOWN_ERROR, HTTP 200
        query = await run(app, preset, preset.two_pages)
        assert query["status"] == "completed", query
        assert query["retries"] == 1
        assert query["last_error"] == f"UNKNOWN_ERROR: {places_legacy.UNKNOWN} (HTTP 200)"


async def test_serpapi_tells_its_hourly_limit_from_a_spent_plan_by_the_message() -> None:
    """Both are 429 with no Retry-After: the preset's rules make the hourly throughput limit a
    wait of an hour (so the query pauses, and resumes itself after it) and the other a failure."""
    sim = Simulator(SimulatorConfig(api_keys=(KEY,)))
    port = free_port()
    async with (
        serve_http(sim.app, host="127.0.0.1", port=port),
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        loaded = load_sources(
            env={"SERPAPI_API_KEY": KEY},
            presets_dir=PRESETS_DIR,
            entry_points=False,
            client=client,
            origins={"serpapi-google-maps": f"http://127.0.0.1:{port}"},
        )
        entry = loaded["serpapi-google-maps"]
        params = {"q": "coffee", "ll": LL}
        sim.add_fault(Fault(kind="rate_limit", times=1))
        with pytest.raises(RateLimitedError) as hourly:
            await entry.source.fetch_page(params, Checkpoint(), entry.credentials)
        sim.add_fault(Fault(kind="quota", times=1))
        with pytest.raises(QuotaExhaustedError) as spent:
            await entry.source.fetch_page(params, Checkpoint(), entry.credentials)
    assert (hourly.value.http_status, spent.value.http_status) == (429, 429)
    assert hourly.value.message == serpapi.HOURLY_LIMIT + " (HTTP 429)"
    assert hourly.value.retry_after_s == 3600
    assert spent.value.message == serpapi.OUT_OF_SEARCHES + " (HTTP 429)"


# -- the GitHub 1,000-result cap, one page at a time --------------------------------------------


async def test_github_answers_past_the_cap_end_the_query_normally() -> None:
    """A page past the first 1,000 results (a 422) is an empty last page, not a failure."""
    sim = Simulator(SimulatorConfig(api_keys=(KEY,)))
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport) as client:
        loaded = load_sources(
            env={"GITHUB_TOKEN": KEY},
            presets_dir=PRESETS_DIR,
            entry_points=False,
            client=client,
            origins={"github-search-repositories": "http://sim.test"},
        )
        source = loaded["github-search-repositories"].source
        credentials = loaded["github-search-repositories"].credentials
        past = (
            "http://sim.test/search/repositories?q=stars%3A%3E1+total%3A5000&per_page=100&page=11"
        )
        checkpoint = Checkpoint(11, PaginationState(next=past, seen=1000).to_cursor())
        page = await source.fetch_page({"q": "stars:>1 total:5000"}, checkpoint, credentials)
        assert page.records == [] and page.next_checkpoint is None
        assert page.http_status == 422
        # And the tenth page, the last one served, says there is nothing after it.
        tenth = past.replace("page=11", "page=10")
        checkpoint = Checkpoint(10, PaginationState(next=tenth, seen=900).to_cursor())
        page = await source.fetch_page({"q": "stars:>1 total:5000"}, checkpoint, credentials)
        assert len(page.records) == 100 and page.next_checkpoint is None


async def test_places_legacy_invalid_request_on_the_first_page_is_a_failure() -> None:
    """INVALID_REQUEST retries only on a page after the first (an early page token)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "INVALID_REQUEST", "results": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        loaded = load_sources(
            env={"GOOGLE_PLACES_API_KEY": KEY},
            presets_dir=PRESETS_DIR,
            entry_points=False,
            client=client,
        )
        entry = loaded["google-places-text-search-legacy"]
        with pytest.raises(ProviderError, match=r"^INVALID_REQUEST \(HTTP 200\)$"):
            await entry.source.fetch_page({"q": "coffee"}, Checkpoint(), entry.credentials)
        later = Checkpoint(2, PaginationState(next="token", seen=20).to_cursor())
        with pytest.raises(TransientError):
            await entry.source.fetch_page({"q": "coffee"}, later, entry.credentials)
