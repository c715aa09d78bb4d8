"""The `demo` source: the simulated provider's search API, over real HTTP.

It is also the reference for how a source classifies a provider's answers:
httpx errors and 5xx are transient, 429 is a rate limit (with Retry-After),
401/403 bad credentials, 402 an exhausted quota, other 4xx a bad request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from .base import (
    BadRequestError,
    Checkpoint,
    InvalidCredentialsError,
    Limits,
    Page,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    Record,
    SourceError,
    TransientError,
)
from .http import provider_client

__all__ = ["DemoSource"]

PARAMS = {"q": "what to search for", "location": "where (optional)"}


class DemoSource:
    """Search the simulated provider: `q` (required) and `location`."""

    name = "demo"
    description = "The simulated provider (local, no API key needed)."
    params_help: Mapping[str, str] = PARAMS
    credential_id = "env:PAGERUNNER_DEMO_API_KEY"
    max_wait_s: float | None = None
    max_pages: int | None = None  # the global default cap

    def __init__(
        self,
        base_url: str,
        *,
        page_size: int = 20,
        page_delay_s: float = 1.0,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.page_delay_s = page_delay_s
        self._client = client or provider_client(timeout_s)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise BadRequestError(f"params.{unknown[0]}: unknown parameter for source 'demo'")
        q = params.get("q")
        if not isinstance(q, str) or not q.strip():
            raise BadRequestError("params.q: a non-empty search text is required")
        location = params.get("location", "")
        if not isinstance(location, str):
            raise BadRequestError("params.location: must be text")
        return {"q": q.strip(), "location": location.strip()}

    async def fetch_page(
        self, params: Mapping[str, Any], checkpoint: Checkpoint, credentials: Mapping[str, str]
    ) -> Page:
        query = {
            "q": params["q"],
            "location": params.get("location", ""),
            "page": checkpoint.page,
            "page_size": self.page_size,
        }
        headers = {"X-API-Key": credentials.get("api_key", "")}
        try:
            response = await self._client.get(
                f"{self.base_url}/v1/search", params=query, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out after {exc.__class__.__name__}") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"network error: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200:
            raise classify(response)
        try:
            body = response.json()
            records = [Record(key=str(r["id"]), data=r) for r in body["results"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError(f"malformed response from provider: {exc}") from exc
        next_checkpoint = Checkpoint(page=checkpoint.page + 1) if body.get("has_more") else None
        return Page(
            records=records,
            next_checkpoint=next_checkpoint,
            http_status=200,
            meta={"total_results": body.get("total_results")},
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def classify(response: httpx.Response) -> SourceError:
    """The error for a non-200 answer, carrying the provider's own message."""
    status = response.status_code
    message = _provider_message(response)
    if status == 429:
        return RateLimitedError(message, retry_after_s=_retry_after(response), http_status=status)
    if status in (401, 403):
        return InvalidCredentialsError(message, http_status=status)
    if status == 402:
        return QuotaExhaustedError(message, http_status=status)
    if status == 408 or status >= 500:
        return TransientError(message, http_status=status)
    if 400 <= status < 500:
        return BadRequestError(message, http_status=status)
    return ProviderError(message, http_status=status)


def _provider_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return f"{error['message']} (HTTP {response.status_code})"
    if isinstance(error, str):
        return f"{error} (HTTP {response.status_code})"
    return f"HTTP {response.status_code}: {json.dumps(response.text[:200])}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
