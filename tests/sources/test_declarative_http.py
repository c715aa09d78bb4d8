"""DeclarativeSource over real HTTP against a small FastAPI provider on a free port.

Each pagination strategy end to end, the error rules and their defaults,
HTTP-200 error bodies, waits from Retry-After / reset headers / the body, the
same-origin rule for next-page links, and secrets kept out of every message.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from pagerunner.executor import serve_http
from pagerunner.sources.base import (
    BadRequestError,
    Checkpoint,
    InvalidCredentialsError,
    Page,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from pagerunner.sources.declarative import DeclarativeSource
from pagerunner.sources.sourcefile import parse_spec
from tests.conftest import free_port

KEY = "sk-test-0123456789abcdef"
CREDENTIALS = {"api_key": KEY}
TOTAL = 23
ITEMS = [{"id": i, "name": f"item {i}", "rank": i * 10} for i in range(TOTAL)]


PROVIDER = FastAPI()


def authorised(request: Request) -> bool:
    sent = (
        request.headers.get("x-api-key")
        or request.query_params.get("api_key")
        or request.headers.get("authorization", "").removeprefix("Bearer ")
    )
    return sent == KEY


def denied(request: Request) -> JSONResponse:
    # Some providers echo the key they were sent: it must not reach our messages.
    sent = request.headers.get("x-api-key") or request.query_params.get("api_key") or ""
    return JSONResponse({"error": {"message": f"Invalid API key {sent}"}}, status_code=401)


@PROVIDER.get("/pages")
async def pages(request: Request, page: int = 1, per_page: int = 5) -> Any:
    if not authorised(request):
        return denied(request)
    start = (page - 1) * per_page
    return {"items": ITEMS[start : start + per_page], "has_more": start + per_page < TOTAL}


@PROVIDER.get("/session")
async def session(request: Request) -> Any:
    """Answers with the cookie it was sent, and sets one for the key it was called with."""
    item = {"id": 1, "cookie": request.headers.get("cookie", "")}
    answer = JSONResponse({"items": [item]})
    answer.set_cookie("session", request.headers.get("x-api-key", ""))
    return answer


@PROVIDER.get("/offset")
async def offset(request: Request, offset: int = 0, limit: int = 5) -> Any:
    return {"data": ITEMS[offset : offset + min(limit, 4)], "total": TOTAL}  # caps at 4


@PROVIDER.post("/cursor")
async def cursor(request: Request) -> Any:
    if not authorised(request):
        return denied(request)
    body = await request.json()
    at = int(body.get("after") or 0)
    following = at + 6
    return {
        "query": body.get("q"),
        "results": ITEMS[at:following],
        "next": str(following) if following < TOTAL else None,
    }


@PROVIDER.get("/next")
async def next_url(request: Request, start: int = 0, away: str = "") -> Any:
    if not authorised(request):
        return denied(request)
    following = start + 10
    link = None
    if following < TOTAL:
        link = f"/next?start={following}&q={request.query_params.get('q', '')}"
        if away:
            link = f"{away}/next?start={following}"
    return {"items": ITEMS[start:following], "pagination": {"next": link}}


@PROVIDER.get("/link")
async def link(request: Request, page: int = 1) -> Any:
    start = (page - 1) * 10
    headers = {}
    if start + 10 < TOTAL:
        base = str(request.url.remove_query_params("page"))
        headers["Link"] = f'<{base}&page={page + 1}>; rel="next", <{base}&page=3>; rel="last"'
    return JSONResponse({"items": ITEMS[start : start + 10]}, headers=headers)


@PROVIDER.get("/status/{code}")
async def status(code: int, request: Request) -> Any:
    headers = {k: v for k, v in request.query_params.items() if k != "message"}
    message = request.query_params.get("message", f"failure {code}")
    return JSONResponse({"error": {"message": message}}, status_code=code, headers=headers)


@PROVIDER.get("/plain/{code}")
async def plain(code: int) -> Any:
    # Apollo answers a bad key with a bare line of text, not JSON.
    return PlainTextResponse("Invalid access credentials.", status_code=code)


@PROVIDER.get("/totals")
async def totals(page: int = 1, shape: str = "nested") -> Any:
    """Pages of 5; the total sits where `shape` says (Apollo has answered both ways)."""
    start = (page - 1) * 5
    body: dict[str, Any] = {"items": ITEMS[start : start + 5]}
    if shape == "nested":
        body["pagination"] = {"total_entries": TOTAL}
    else:
        body["total_entries"] = TOTAL
    return body


@PROVIDER.get("/google")
async def google(status: str = "OK") -> Any:
    if status == "OK":
        return {"status": "OK", "results": ITEMS[:3]}
    return {"status": status, "error_message": f"google says {status}", "results": []}


@PROVIDER.get("/slow")
async def slow() -> Any:
    await asyncio.sleep(0.6)
    return {"items": []}


@PROVIDER.get("/text")
async def text() -> Any:
    return PlainTextResponse("<html>maintenance</html>")


# One provider for the whole module: its tests share one event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base() -> AsyncIterator[str]:
    port = free_port()
    async with serve_http(PROVIDER, host="127.0.0.1", port=port):
        yield f"http://127.0.0.1:{port}"


def source(data: dict[str, Any], **options: Any) -> DeclarativeSource:
    spec = {"name": "test", "params": {"q": {"help": "query"}}, **data}
    return DeclarativeSource(parse_spec(spec, "test.toml"), **{"timeout_s": 1.0, **options})


async def fetch_all(
    src: DeclarativeSource, params: dict[str, Any] | None = None, limit: int = 20
) -> tuple[list[Page], list[Any]]:
    checkpoint: Checkpoint | None = Checkpoint()
    pages: list[Page] = []
    while checkpoint is not None and len(pages) < limit:
        page = await src.fetch_page(params or {}, checkpoint, CREDENTIALS)
        pages.append(page)
        checkpoint = page.next_checkpoint
    assert checkpoint is None, "did not stop"
    return pages, [r.key for p in pages for r in p.records]


def all_keys() -> list[str]:
    return [str(i) for i in range(TOTAL)]


API_KEY_HEADER = {"type": "api_key", "in": "header", "name": "X-API-Key", "env": "TEST_KEY"}


async def test_page_number(base: str) -> None:
    src = source(
        {
            "request": {"url": f"{base}/pages"},
            "auth": API_KEY_HEADER,
            "pagination": {
                "type": "page_number",
                "page_size_param": "per_page",
                "page_size": 5,
                "has_more_path": "has_more",
            },
            "records": {"path": "items", "key": "id", "fields": {"title": "name"}},
        }
    )
    pages, keys = await fetch_all(src)
    assert keys == all_keys() and len(pages) == 5
    assert pages[0].records[0].data == {"title": "item 0"}
    assert [p.next_checkpoint.page for p in pages[:-1] if p.next_checkpoint] == [2, 3, 4, 5]


async def test_offset_with_a_provider_that_caps_the_limit(base: str) -> None:
    src = source(
        {
            "request": {"url": f"{base}/offset"},
            "pagination": {
                "type": "offset",
                "limit_param": "limit",
                "limit": 5,
                "total_path": "total",
            },
            "records": {"path": "data", "key": "id"},
        }
    )
    pages, keys = await fetch_all(src)
    assert keys == all_keys() and len(pages) == 6  # 4 per page, though 5 were asked for
    assert pages[0].meta["total"] == TOTAL


async def test_cursor_in_a_json_body_with_bearer_auth(base: str) -> None:
    src = source(
        {
            "request": {"method": "POST", "url": f"{base}/cursor", "json": {"q": "{q}"}},
            "auth": {"type": "bearer", "env": "TEST_TOKEN"},
            "pagination": {"type": "cursor", "cursor_path": "next", "param": "after", "in": "body"},
            "records": {"path": "results", "key": "id"},
        }
    )
    pages, keys = await fetch_all(src, {"q": "coffee"})
    assert keys == all_keys() and len(pages) == 4


async def test_next_url_relative_with_the_key_in_the_query(base: str) -> None:
    src = source(
        {
            "request": {"url": f"{base}/next", "query": {"q": "{q}"}},
            "auth": {"type": "api_key", "in": "query", "name": "api_key", "env": "TEST_KEY"},
            "pagination": {"type": "next_url", "next_url_path": "pagination.next"},
            "records": {"path": "items", "key": "id"},
        }
    )
    pages, keys = await fetch_all(src, {"q": "tea"})
    assert keys == all_keys() and len(pages) == 3
    cursor = pages[0].next_checkpoint.cursor if pages[0].next_checkpoint else ""
    assert "/next?start=10" in str(cursor) and KEY not in str(cursor)


async def test_link_header(base: str) -> None:
    src = source(
        {
            "request": {"url": f"{base}/link", "query": {"q": "{q}"}},
            "pagination": {"type": "link_header"},
            "records": {"path": "items"},  # key: a hash of the record
        }
    )
    pages, keys = await fetch_all(src, {"q": "x"})
    assert len(keys) == TOTAL == len(set(keys)) and len(pages) == 3
    assert all(len(k) == 32 for k in keys)


async def test_single_page_and_a_200_body_ending_the_query(base: str) -> None:
    rules = [
        {"path": "status", "value": "ZERO_RESULTS", "action": "ignore"},
        {"path": "status", "value": "OVER_QUERY_LIMIT", "action": "quota_exhausted"},
        {"path": "status", "value": "REQUEST_DENIED", "action": "invalid_credentials"},
        {"path": "status", "value": ["UNKNOWN_ERROR"], "action": "retry"},
        {"path": "status", "value": "INVALID_REQUEST", "action": "fail"},
    ]
    src = source(
        {
            "params": {"status": {"help": "status to answer"}},
            "request": {"url": f"{base}/google", "query": {"status": "{status}"}},
            "records": {"path": "results", "key": "id"},
            "errors": {"rules": rules},
        }
    )
    ok = await src.fetch_page({"status": "OK"}, Checkpoint(), {})
    assert len(ok.records) == 3 and ok.next_checkpoint is None
    empty = await src.fetch_page({"status": "ZERO_RESULTS"}, Checkpoint(), {})
    assert empty.records == [] and empty.next_checkpoint is None
    expected: dict[str, type[SourceError]] = {
        "OVER_QUERY_LIMIT": QuotaExhaustedError,
        "REQUEST_DENIED": InvalidCredentialsError,
        "UNKNOWN_ERROR": TransientError,
        "INVALID_REQUEST": ProviderError,  # fail on a 200 is no bad request
    }
    for status, error in expected.items():
        with pytest.raises(error) as caught:
            await src.fetch_page({"status": status}, Checkpoint(), {})
        assert caught.value.message == f"google says {status} (HTTP 200)"


async def test_a_rule_for_later_pages_only(base: str) -> None:
    """INVALID_REQUEST on a page after the first (a page token too early) retries; on the
    first page (a real bad request) it fails."""
    rules = [
        {"path": "status", "value": "INVALID_REQUEST", "page": "later", "action": "retry"},
        {"path": "status", "value": "INVALID_REQUEST", "action": "fail"},
    ]
    src = source(
        {
            "params": {"status": {"help": "status to answer"}},
            "request": {"url": f"{base}/google", "query": {"status": "{status}"}},
            "records": {"path": "results", "key": "id"},
            "errors": {"rules": rules},
        }
    )
    params = {"status": "INVALID_REQUEST"}
    with pytest.raises(ProviderError):
        await src.fetch_page(params, Checkpoint(), {})
    with pytest.raises(TransientError, match="google says INVALID_REQUEST"):
        await src.fetch_page(params, Checkpoint(2, '{"next":"token","seen":20}'), {})


def status_source(base: str, **extra: Any) -> DeclarativeSource:
    return source(
        {
            "params": {
                "code": {"help": "status", "required": True},
                "retry_after": {"help": "Retry-After header"},
                "reset": {"help": "x-ratelimit-reset header"},
                "remaining": {"help": "x-ratelimit-remaining header"},
                "message": {"help": "error message"},
            },
            "request": {
                "url": f"{base}/status/{{code}}",
                "query": {
                    "Retry-After": "{retry_after}",
                    "x-ratelimit-reset": "{reset}",
                    "x-ratelimit-remaining": "{remaining}",
                    "message": "{message}",
                },
            },
            "records": {"path": "items"},
            **extra,
        },
        clock=lambda: 1_700_000_000.0,
    )


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (500, TransientError),
        (503, TransientError),
        (408, TransientError),
        (401, InvalidCredentialsError),
        (403, InvalidCredentialsError),
        (402, QuotaExhaustedError),
        (429, RateLimitedError),
        (400, BadRequestError),
        (404, BadRequestError),
        (302, ProviderError),
    ],
)
async def test_default_classification(base: str, code: int, error: type[SourceError]) -> None:
    src = status_source(base)
    with pytest.raises(error) as caught:
        await src.fetch_page({"code": code}, Checkpoint(), CREDENTIALS)
    assert caught.value.http_status == code
    assert caught.value.message == f"failure {code} (HTTP {code})"


ABUSE = "You have triggered an abuse detection mechanism. Please wait a few minutes."


@pytest.mark.parametrize(
    ("code", "params", "error", "wait_s"),
    [
        # GitHub's abuse answer: 403, Retry-After, no x-ratelimit-remaining.
        (403, {"retry_after": "60", "message": ABUSE}, RateLimitedError, 60),
        # A Retry-After makes a 403 or 429 a rate limit whatever its wording.
        (403, {"retry_after": "7", "message": "Bad credentials"}, RateLimitedError, 7),
        (429, {"retry_after": "7", "message": "Bad credentials"}, RateLimitedError, 7),
        # Remaining 0 and a reset header: wait for the reset (common names, none configured).
        (403, {"remaining": "0", "reset": "1700000030"}, RateLimitedError, 30),
        (403, {"remaining": "0"}, RateLimitedError, None),  # no reset known: the query pauses
        # Wording alone: a rate limit with no known wait (the query pauses).
        (403, {"message": "You have exceeded a secondary rate limit"}, RateLimitedError, None),
        (403, {"message": ABUSE}, RateLimitedError, None),
        # Budget left and no Retry-After: the 403 is about the credentials.
        (403, {"remaining": "12", "reset": "1700000030"}, InvalidCredentialsError, None),
        (403, {"message": "Bad credentials"}, InvalidCredentialsError, None),
        # A 401 is a bad key even with a Retry-After.
        (401, {"retry_after": "60", "message": "Bad credentials"}, InvalidCredentialsError, None),
    ],
)
async def test_a_403_or_429_with_a_rate_limit_signal_is_a_rate_limit(
    base: str, code: int, params: dict[str, str], error: type[SourceError], wait_s: float | None
) -> None:
    src = status_source(base)
    with pytest.raises(error) as caught:
        await src.fetch_page({"code": code, **params}, Checkpoint(), {})
    assert caught.value.http_status == code
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after_s == wait_s


async def test_the_configured_rate_limit_headers_signal_a_rate_limit_too(base: str) -> None:
    """A provider's own names (`[limits] remaining_header`, `reset_header`) count as well."""
    src = source(
        {
            "params": {"left": {"help": "requests left"}},
            "request": {
                "url": f"{base}/status/403",
                "query": {"x-minute-left": "{left}", "x-minute-reset": "12"},
            },
            "limits": {"remaining_header": "X-Minute-Left", "reset_header": "X-Minute-Reset"},
        }
    )
    with pytest.raises(RateLimitedError) as caught:
        await src.fetch_page({"left": "0"}, Checkpoint(), {})
    assert caught.value.retry_after_s == pytest.approx(12, abs=1)
    with pytest.raises(InvalidCredentialsError):
        await src.fetch_page({"left": "3"}, Checkpoint(), {})


async def test_a_plain_text_error_is_the_message(base: str) -> None:
    src = source({"request": {"url": f"{base}/plain/401"}})
    with pytest.raises(InvalidCredentialsError) as caught:
        await src.fetch_page({}, Checkpoint(), {})
    assert caught.value.message == "Invalid access credentials. (HTTP 401)"
    # Markup is no message: it is quoted as a snippet of the body.
    html = source({"request": {"url": f"{base}/text"}, "errors": {"rules": [_FAIL_200]}})
    with pytest.raises(ProviderError) as caught:
        await html.fetch_page({}, Checkpoint(), {})
    assert caught.value.message == '"<html>maintenance</html>" (HTTP 200)'


_FAIL_200 = {"status": 200, "action": "fail"}


@pytest.mark.parametrize("shape", ["nested", "top_level"])
async def test_a_total_from_whichever_path_the_answer_carries(base: str, shape: str) -> None:
    src = source(
        {
            "params": {"shape": {"help": "where the total is"}},
            "request": {"url": f"{base}/totals", "query": {"shape": "{shape}"}},
            "pagination": {
                "type": "page_number",
                "total_path": ["pagination.total_entries", "total_entries"],
            },
            "records": {"path": "items", "key": "id"},
        }
    )
    pages, keys = await fetch_all(src, {"shape": shape})
    assert keys == all_keys()
    assert len(pages) == 5  # 23 records in pages of 5: no empty page asked for after them
    assert pages[0].meta["total"] == TOTAL


async def test_rules_decide_before_the_defaults(base: str) -> None:
    rules = [
        {"status": 429, "body_contains": "RUN OUT of searches", "action": "quota_exhausted"},
        {
            "status": [403],
            "body_contains": "secondary rate limit",
            "action": "rate_limited",
            "wait_s": 60,
        },
        {"status": "4xx", "body_contains": "first 1000", "action": "ignore"},
        {"status": 500, "action": "fail", "message_path": "error.message"},
    ]
    src = status_source(base, errors={"rules": rules})
    quota = "Your account has run out of searches."
    with pytest.raises(QuotaExhaustedError, match="run out of searches"):
        await src.fetch_page({"code": 429, "message": quota}, Checkpoint(), {})
    with pytest.raises(RateLimitedError) as caught:
        await src.fetch_page({"code": 429, "message": "hourly limit"}, Checkpoint(), {})
    assert caught.value.retry_after_s is None  # no rule, no header: the query pauses
    with pytest.raises(RateLimitedError) as caught:
        message = "You have exceeded a secondary rate limit"
        await src.fetch_page({"code": 403, "message": message}, Checkpoint(), {})
    assert caught.value.retry_after_s == 60
    page = await src.fetch_page(
        {"code": 422, "message": "Only the first 1000 search results"}, Checkpoint(), {}
    )
    assert page.records == [] and page.next_checkpoint is None
    with pytest.raises(ProviderError):
        await src.fetch_page({"code": 500}, Checkpoint(), {})


async def test_waits_from_retry_after_seconds_date_and_reset_header(base: str) -> None:
    now = 1_700_000_000.0
    src = status_source(base, limits={"reset_header": "x-ratelimit-reset"})
    with pytest.raises(RateLimitedError) as caught:
        await src.fetch_page({"code": 429, "retry_after": "7"}, Checkpoint(), {})
    assert caught.value.retry_after_s == 7
    date = email.utils.formatdate(now + 90, usegmt=True)
    with pytest.raises(RateLimitedError) as caught:
        await src.fetch_page({"code": 429, "retry_after": date}, Checkpoint(), {})
    assert caught.value.retry_after_s == pytest.approx(90)
    with pytest.raises(RateLimitedError) as caught:
        await src.fetch_page({"code": 429, "reset": str(int(now) + 300)}, Checkpoint(), {})
    assert caught.value.retry_after_s == pytest.approx(300)
    assert caught.value.reset_at == now + 300


async def test_wait_from_the_body_and_max_wait(base: str) -> None:
    app = FastAPI()

    @app.get("/limited")
    async def limited() -> Any:
        return JSONResponse({"error": "slow down", "retry_in": 12}, status_code=429)

    port = free_port()
    async with serve_http(app, host="127.0.0.1", port=port):
        src = source(
            {
                "request": {"url": f"http://127.0.0.1:{port}/limited"},
                "errors": {"retry_after_path": "retry_in", "max_wait_s": 5},
            }
        )
        assert src.max_wait_s == 5
        with pytest.raises(RateLimitedError) as caught:
            await src.fetch_page({}, Checkpoint(), {})
    assert caught.value.retry_after_s == 12 and caught.value.message == "slow down (HTTP 429)"


async def test_rate_limit_headers_reach_the_page(base: str) -> None:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> Any:
        headers = {"x-ratelimit-remaining": "41", "x-ratelimit-reset": "1700000060"}
        return JSONResponse({"items": [{"id": 1}]}, headers=headers)

    port = free_port()
    async with serve_http(app, host="127.0.0.1", port=port):
        src = source(
            {
                "request": {"url": f"http://127.0.0.1:{port}/ok"},
                "records": {"path": "items", "key": "id"},
                "limits": {
                    "remaining_header": "X-RateLimit-Remaining",
                    "reset_header": "X-RateLimit-Reset",
                    "per_minute": 30,
                },
            }
        )
        page = await src.fetch_page({}, Checkpoint(), {})
    assert page.rate_limit is not None
    assert (page.rate_limit.remaining, page.rate_limit.reset_at) == (41, 1_700_000_060)
    assert page.meta["rate_limit_headers"]["x-ratelimit-remaining"] == "41"
    assert src.limits.per_minute == 30 and src.credential_id == "source:test"


async def test_a_next_url_to_another_host_is_refused(base: str) -> None:
    elsewhere = base.replace("127.0.0.1", "localhost")  # same server, another host name
    src = source(
        {
            "params": {"away": {"help": "where the next link points"}},
            "request": {"url": f"{base}/next", "query": {"away": "{away}"}},
            "auth": {"type": "api_key", "in": "query", "name": "api_key", "env": "TEST_KEY"},
            "pagination": {"type": "next_url", "next_url_path": "pagination.next"},
            "records": {"path": "items", "key": "id"},
        }
    )
    with pytest.raises(ProviderError) as caught:
        await src.fetch_page({"away": elsewhere}, Checkpoint(), CREDENTIALS)
    assert "leaves the source's own origin" in caught.value.message
    assert elsewhere in caught.value.message and KEY not in caught.value.message
    # A checkpoint tampered with in the database is refused before any request.
    forged = Checkpoint(2, '{"next": "https://evil.test/steal", "seen": 10}')
    with pytest.raises(ProviderError, match=r"refusing to call https://evil\.test/steal"):
        await src.fetch_page({}, forged, CREDENTIALS)


async def test_secrets_never_reach_error_messages(base: str) -> None:
    src = source(
        {
            "request": {"url": f"{base}/pages"},
            "auth": API_KEY_HEADER,
            "pagination": {"type": "page_number", "max_pages": 1},
            "records": {"path": "items"},
        }
    )
    wrong = {"api_key": "sk-wrong-key-that-the-provider-echoes"}
    with pytest.raises(InvalidCredentialsError) as caught:
        await src.fetch_page({}, Checkpoint(), wrong)
    assert caught.value.message == "Invalid API key [redacted] (HTTP 401)"
    with pytest.raises(InvalidCredentialsError, match="TEST_KEY is not set"):
        await src.fetch_page({}, Checkpoint(), {})


async def test_transport_errors_timeouts_and_non_json_are_transient(base: str) -> None:
    port = free_port()  # nothing listens there
    auth = {"type": "api_key", "in": "query", "name": "api_key", "env": "TEST_KEY"}
    closed = source({"request": {"url": f"http://127.0.0.1:{port}/x"}, "auth": auth})
    with pytest.raises(TransientError, match="network error") as caught:
        await closed.fetch_page({}, Checkpoint(), CREDENTIALS)
    assert KEY not in caught.value.message
    slow = source({"request": {"url": f"{base}/slow"}}, timeout_s=0.2)
    with pytest.raises(TransientError, match="timed out"):
        await slow.fetch_page({}, Checkpoint(), {})
    text = source({"request": {"url": f"{base}/text"}})
    with pytest.raises(TransientError, match="not JSON"):
        await text.fetch_page({}, Checkpoint(), {})


async def test_origin_override_aims_a_source_at_another_server(base: str) -> None:
    src = source(
        {
            "request": {"url": "https://api.example.com/pages"},
            "auth": API_KEY_HEADER,
            "pagination": {"type": "page_number", "max_pages": 1},
            "records": {"path": "items", "key": "id"},
        },
        origin=base,
    )
    page = await src.fetch_page({}, Checkpoint(), CREDENTIALS)
    assert [r.key for r in page.records] == ["0", "1", "2", "3", "4"]


async def test_no_cookie_goes_from_one_answer_to_a_later_request(base: str) -> None:
    # One client serves every credential of a source (and every source of a registry):
    # a session cookie set on one key's answer must not ride on another key's request.
    src = source(
        {
            "request": {"url": f"{base}/session"},
            "auth": API_KEY_HEADER,
            "pagination": {"type": "page_number", "max_pages": 1},
            "records": {"path": "items", "key": "id"},
        }
    )
    keys = ("key-of-alice", "key-of-bob", "key-of-alice")
    sent = []
    for key in keys:
        page = await src.fetch_page({}, Checkpoint(), {"api_key": key})
        sent.append(page.records[0].data["cookie"])
    assert sent == ["", "", ""]
    # The provider does set the cookie: a client that keeps cookies sends it on.
    async with httpx.AsyncClient(base_url=base) as keeping:
        echoed = [
            (await keeping.get("/session", headers={"X-API-Key": key})).json()["items"][0]["cookie"]
            for key in keys
        ]
    assert echoed == ["", "session=key-of-alice", "session=key-of-bob"]
