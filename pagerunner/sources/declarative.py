"""`DeclarativeSource`: a `Source` built from a source file's `SourceSpec`, over httpx.

It renders the request from the query's params, adds the credential, sends it,
classifies the answer (`classify`), extracts records, and asks the pagination
strategy for the next checkpoint. httpx errors become `TransientError`s here
and never leak. The source only ever calls its own scheme and host: a next-page
URL or `Link` that points elsewhere is refused. Secrets are redacted from every
message it produces.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from .base import (
    Checkpoint,
    InvalidCredentialsError,
    Page,
    ProviderError,
    RateLimitState,
    Record,
    TransientError,
)
from .classify import Answer, decide, error_for, parse_reset, redact
from .http import provider_client
from .jsonpath import compile_path, first_of
from .pagination import PageRequest, PageResponse, PaginationState, strategy_for
from .params import validate_params
from .spec import LinkHeaderPagination, NextUrlPagination, SourceSpec
from .templates import render_text, render_value

__all__ = ["CREDENTIAL", "DeclarativeSource", "same_origin"]

#: The name of the secret in the credentials mapping given to `fetch_page`.
CREDENTIAL = "api_key"
#: Response headers shown in `Page.meta` (and by `pagerunner sources check`).
RATE_LIMIT_HEADER_PREFIXES = ("x-ratelimit", "ratelimit", "x-rate-limit", "retry-after")


def same_origin(url: str, origin: httpx.URL) -> bool:
    """Whether `url` has the scheme, host and port of `origin`."""
    try:
        other = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return (other.scheme, other.host, other.port) == (origin.scheme, origin.host, origin.port)


class DeclarativeSource:
    """A source defined by a file: see `docs/sources.md`."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
        origin: str | None = None,
        page_delay_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`origin` (scheme://host:port) replaces the URL's own, e.g. to aim at a simulator."""
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.params_help: Mapping[str, str] = {k: p.help for k, p in spec.params.items()}
        self.required_params = frozenset(k for k, p in spec.params.items() if p.required)
        self.page_delay_s = spec.limits.page_delay_s if page_delay_s is None else page_delay_s
        self.limits = spec.limits.to_limits()
        #: Longer rate-limit waits pause the query (None: the global setting).
        self.max_wait_s = spec.errors.max_wait_s
        #: The page cap of the source's queries (None: the global default).
        self.max_pages: int | None = getattr(spec.pagination, "max_pages", None)
        auth = spec.auth
        #: Queries of every source on the same env variable share one rate limit and budget.
        self.credential_id = f"env:{auth.env}" if auth else f"source:{spec.name}"
        #: Credential name -> the env variable it is read from (never the value).
        self.credential_env: Mapping[str, str] = {CREDENTIAL: auth.env} if auth else {}
        if origin is not None and not re.fullmatch(r"https?://[^/?#@{}]+/?", origin):
            raise ValueError(f"origin must be scheme://host[:port], got {origin!r}")
        self._url = _with_origin(spec.request.url, origin) if origin else spec.request.url
        self._origin = httpx.URL(self._url.split("{", 1)[0])
        self._strategy = strategy_for(spec.pagination)
        self._clock = clock
        self._owns_client = client is None
        self._client = client or provider_client(timeout_s)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return validate_params(self.spec, params)

    async def fetch_page(
        self, params: Mapping[str, Any], checkpoint: Checkpoint, credentials: Mapping[str, str]
    ) -> Page:
        secret = credentials.get(CREDENTIAL, "")
        secrets = [secret] if secret else []
        self._check_credential(secret)
        values = {**_defaults(self.spec), **params}
        request = self._build(values, self._strategy.request(checkpoint), secret)
        public_url = redact(str(request.url), secrets)
        if not same_origin(str(request.url), self._origin):
            raise _foreign_url(public_url, self._origin)
        response = await self._send(request, secrets)
        answer = _answer(response)
        verdict = decide(self.spec.errors, answer, page=checkpoint.page, limits=self.spec.limits)
        if verdict.action == "ignore":
            return Page(
                records=[],
                next_checkpoint=None,
                http_status=answer.status,
                meta={"ignored": redact(answer.text[:200], secrets)},
            )
        if verdict.action != "success":
            raise error_for(
                verdict,
                self.spec.errors,
                self.spec.limits,
                answer,
                now=self._clock(),
                secrets=secrets,
            )
        if answer.body is None:
            raise TransientError(
                f"malformed response from provider: not JSON (HTTP {answer.status}): "
                + json.dumps(redact(answer.text[:200], secrets))
            )
        records = self._records(answer.body)
        page_url = _without_auth(request.url, self.spec, secret)
        next_checkpoint = self._strategy.next_checkpoint(
            checkpoint, PageResponse(answer.body, answer.headers, len(records), page_url)
        )
        self._check_next_url(next_checkpoint, secrets)
        return Page(
            records=records,
            next_checkpoint=next_checkpoint,
            http_status=answer.status,
            meta=self._meta(answer, secrets),
            rate_limit=self._rate_limit(answer),
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- request --------------------------------------------------------------------------

    def _check_credential(self, secret: str) -> None:
        auth = self.spec.auth
        if auth is not None and not secret and not auth.optional:
            raise InvalidCredentialsError(
                f"the environment variable {auth.env} is not set: export it with the API key "
                f"for source '{self.name}'"
            )

    def _build(self, values: Mapping[str, Any], page: PageRequest, secret: str) -> httpx.Request:
        spec = self.spec.request
        query = {} if page.url else _present(render_value(spec.query, values))
        query.update(page.query)
        headers = _present(render_value(spec.headers, values))
        headers.update(page.headers)
        body: dict[str, Any] | None = None
        if spec.body is not None or page.body:
            body = {**_present(render_value(spec.body or {}, values)), **page.body}
        self._add_auth(query, headers, secret)
        base = page.url or render_text(self._url, values, url_path=True)
        try:
            url = httpx.URL(base).copy_merge_params({k: _query_text(v) for k, v in query.items()})
        except httpx.InvalidURL as exc:
            raise ProviderError(f"cannot call {redact(base, [secret])!r}: {exc}") from None
        return self._client.build_request(
            spec.method, url, headers={k: str(v) for k, v in headers.items()}, json=body
        )

    def _add_auth(self, query: dict[str, Any], headers: dict[str, Any], secret: str) -> None:
        auth = self.spec.auth
        if auth is None or not secret:
            return
        if auth.type == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        elif auth.location == "query":
            query[auth.name or ""] = f"{auth.prefix}{secret}"
        else:
            headers[auth.name or ""] = f"{auth.prefix}{secret}"

    async def _send(self, request: httpx.Request, secrets: Sequence[str]) -> httpx.Response:
        try:
            return await self._client.send(request)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out: {exc.__class__.__name__}") from None
        except httpx.HTTPError as exc:
            text = redact(f"{exc.__class__.__name__}: {exc}", secrets)
            raise TransientError(f"network error: {text}") from None

    # -- response -------------------------------------------------------------------------

    def _records(self, body: Any) -> list[Record]:
        spec = self.spec.records
        path = compile_path(spec.path)
        if path.has_wildcard:
            items: Any = path.find(body)
        else:
            items = path.first(body)
        if items is None:
            items = []
        elif isinstance(items, Mapping):
            items = [items]
        elif not isinstance(items, list):
            raise ProviderError(
                f"records.path {spec.path!r} is a {type(items).__name__} in the response, "
                "not a list of records"
            )
        return [self._record(item) for item in items]

    def _record(self, item: Any) -> Record:
        spec = self.spec.records
        raw = item if isinstance(item, Mapping) else {"value": item}
        if spec.fields is None:
            data = dict(raw)
        else:
            data = {out: compile_path(path).first(raw) for out, path in spec.fields.items()}
        key = None if spec.key == "hash" else compile_path(spec.key).first(raw)
        if key is None or isinstance(key, bool):
            return Record(key=_hash(data), data=data)
        return Record(key=key if isinstance(key, str) else _canonical(key), data=data)

    def _check_next_url(self, checkpoint: Checkpoint | None, secrets: Sequence[str]) -> None:
        if checkpoint is None:
            return
        if isinstance(self.spec.pagination, NextUrlPagination | LinkHeaderPagination):
            url = str(PaginationState.from_checkpoint(checkpoint).next)
            if not same_origin(url, self._origin):
                raise _foreign_url(redact(url, secrets), self._origin)

    def _rate_limit(self, answer: Answer) -> RateLimitState | None:
        limits = self.spec.limits
        remaining = reset_at = None
        if limits.remaining_header is not None:
            value = answer.headers.get(limits.remaining_header.lower(), "")
            remaining = int(value) if value.strip().isdigit() else None
        if limits.reset_header is not None:
            reset_at = parse_reset(answer.headers.get(limits.reset_header.lower()), self._clock())
        if remaining is None and reset_at is None:
            return None
        return RateLimitState(remaining=remaining, reset_at=reset_at)

    def _meta(self, answer: Answer, secrets: Sequence[str]) -> dict[str, Any]:
        limits = self.spec.limits
        names = {h.lower() for h in (limits.remaining_header, limits.reset_header) if h}
        headers = {
            name: redact(value, secrets)
            for name, value in answer.headers.items()
            if name in names or name.startswith(RATE_LIMIT_HEADER_PREFIXES)
        }
        meta: dict[str, Any] = {"rate_limit_headers": headers} if headers else {}
        total_path = getattr(self.spec.pagination, "total_path", None)
        if total_path is not None:
            meta["total"] = first_of(total_path, answer.body)
        return meta


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(response.status_code, headers, body, response.text)


def _foreign_url(url: str, origin: httpx.URL) -> ProviderError:
    own = f"{origin.scheme}://{origin.netloc.decode()}"
    return ProviderError(
        f"refusing to call {url}: the provider's next-page link leaves the source's own "
        f"origin {own} (a source only calls the host in its file)"
    )


def _with_origin(url: str, origin: str) -> str:
    own = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", url)
    return origin.rstrip("/") + url[own.end() if own else 0 :]


def _without_auth(url: httpx.URL, spec: SourceSpec, secret: str) -> str:
    auth = spec.auth
    if auth is not None and auth.location == "query" and auth.name:
        url = url.copy_remove_param(auth.name)
    return redact(str(url), [secret])


def _defaults(spec: SourceSpec) -> dict[str, Any]:
    return {k: p.default for k, p in spec.params.items() if p.default is not None}


def _present(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _hash(data: Any) -> str:
    return hashlib.sha256(_canonical(data).encode()).hexdigest()[:32]
