"""Talking to a running pagerunner over its HTTP API (for the CLI).

`ApiClient` turns connection failures and error answers into `ApiError` with
a message a user can act on; `follow` polls a query and renders its progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["TERMINAL", "ApiClient", "ApiError", "follow"]

TERMINAL = frozenset({"completed", "failed", "paused", "cancelled"})


class ApiError(Exception):
    """The API could not be reached or refused the request (`status`: its HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiClient:
    """The API of the pagerunner at `base_url`; `token` is its PAGERUNNER_API_TOKEN, if any."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                f"no pagerunner answering at {self.base_url} ({exc.__class__.__name__}); "
                "start it with `pagerunner serve` or pass --api-url"
            ) from exc
        if response.status_code == 401:
            raise ApiError(
                f"{_error_text(response)} (set PAGERUNNER_API_TOKEN to the token of the "
                f"pagerunner at {self.base_url})"
            )
        if response.status_code >= 400:
            raise ApiError(_error_text(response), response.status_code)
        return response.json()

    async def alive(self) -> bool:
        try:
            await self.request("GET", "/healthz")
        except ApiError:
            return False
        return True

    async def stream(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[bytes]:
        try:
            async with self._client.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ApiError(_error_text(response))
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.HTTPError as exc:
            raise ApiError(f"download from {self.base_url} failed: {exc}") from exc


def _error_text(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return f"HTTP {response.status_code}: {detail}"


async def follow(
    api: ApiClient, query_id: str, console: Console, *, interval_s: float = 0.5
) -> dict[str, Any]:
    """Poll until the query stops; show pages, records, state and retries."""
    columns = (
        TextColumn("[bold]{task.fields[status]:<9}"),
        BarColumn(),
        TextColumn(
            "pages {task.fields[pages]}  records {task.fields[records]} "
            "(new {task.fields[inserted]})  retries {task.fields[retries]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            query_id, total=None, status="pending", pages=0, records=0, inserted=0, retries=0
        )
        while True:
            query: dict[str, Any] = await api.request("GET", f"/api/queries/{query_id}")
            # The number of pages is known once the last one is in (the cap is only a ceiling).
            total = None if query["has_more"] else query["pages_fetched"]
            progress.update(
                task,
                total=total,
                completed=query["pages_fetched"],
                status=query["status"],
                pages=query["pages_fetched"],
                records=query["records_fetched"],
                inserted=query["records_inserted"],
                retries=query.get("retries", 0),
            )
            if query["status"] in TERMINAL:
                return query
            await asyncio.sleep(interval_s)
