"""The models of a source file: what `docs/sources.md` documents, field by field.

A source file (TOML or YAML) is parsed into plain data by the loader, then
`sourcefile.parse_spec` validates it into a `SourceSpec`. The models check
each field and refuse a pagination with no way to stop. This module does no
I/O and makes no HTTP requests.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    model_validator,
)

from .base import Limits
from .jsonpath import JsonPathError, compile_path

__all__ = [
    "STRATEGIES",
    "Action",
    "AuthSpec",
    "CursorPagination",
    "ErrorRule",
    "ErrorsSpec",
    "LimitsSpec",
    "LinkHeaderPagination",
    "NextUrlPagination",
    "OffsetPagination",
    "PageNumberPagination",
    "Pagination",
    "ParamSpec",
    "PythonSourceSpec",
    "RecordsSpec",
    "RequestSpec",
    "SinglePagePagination",
    "SourceSpec",
]

STRATEGIES = ("page_number", "offset", "cursor", "next_url", "link_header", "single_page")
Action = Literal[
    "retry", "rate_limited", "quota_exhausted", "invalid_credentials", "fail", "ignore"
]
Scalar = str | int | float | bool


def _json_path(text: str) -> str:
    try:
        compile_path(text)
    except JsonPathError as exc:
        raise ValueError(str(exc)) from None
    return text


def _header_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", text):
        raise ValueError(f"{text!r} is not a valid header name")
    return text


def _json_paths(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list) and not value:
        raise ValueError("give a JSON path, or a list of at least one")
    for text in [value] if isinstance(value, str) else value:
        _json_path(text)
    return value


JsonPathText = Annotated[str, AfterValidator(_json_path)]
#: One JSON path, or alternatives tried in order (the first that finds a value counts).
JsonPaths = Annotated[str | list[str], AfterValidator(_json_paths)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamSpec(_Model):
    """One parameter of a query (`params.q`)."""

    help: str = ""
    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    default: Scalar | None = None
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _required_has_no_default(self) -> ParamSpec:
        if self.required and self.default is not None:
            raise ValueError("a required parameter cannot have a default")
        return self


class RequestSpec(_Model):
    """What to send: the method, URL and the templated headers, query and JSON body."""

    method: Literal["GET", "POST"] = "GET"
    url: str
    headers: dict[HeaderName, str] = {}
    query: dict[str, Scalar] = {}
    body: dict[str, Any] | None = Field(None, alias="json")

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            return {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _literal_origin(self) -> RequestSpec:
        match = re.match(r"(?i)(https?)://([^/?#]*)", self.url)
        if match is None:
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if "{" in match.group(2):
            raise ValueError("the host of the url cannot be templated (only its path and query)")
        if "@" in match.group(2):
            raise ValueError("no user or password in the url: use [auth] with an env variable")
        return self


class AuthSpec(_Model):
    """How the secret is sent; the secret itself is read from the env variable `env`."""

    type: Literal["api_key", "bearer"]
    env: EnvVarName
    location: Literal["header", "query"] = Field("header", alias="in")
    name: str | None = None
    prefix: str = ""
    #: When true, a missing variable sends no credentials instead of failing.
    optional: bool = False

    @model_validator(mode="after")
    def _api_key_needs_a_name(self) -> AuthSpec:
        if self.type == "api_key" and not self.name:
            raise ValueError("api_key auth needs `name`: the header or query parameter to send")
        if self.type == "bearer" and self.location != "header":
            raise ValueError("bearer auth is sent in the Authorization header only")
        return self


class _Stops(_Model):
    has_more_path: JsonPathText | None = None
    total_path: JsonPaths | None = None
    stop_on_empty_page: bool = False
    stop_on_short_page: bool = False
    #: The source's page cap: a query stops after this many pages (with a note when
    #: the provider had more), unless it asks for another cap itself.
    max_pages: PositiveInt | None = None
    page_size: PositiveInt | None = None

    def _needs_a_stop(self, strategy: str, extra: tuple[object, ...] = ()) -> None:
        if self.stop_on_short_page and self.page_size is None:
            raise ValueError("stop_on_short_page needs page_size (the size of a full page)")
        stops = (self.has_more_path, self.total_path, self.max_pages, *extra)
        if not (self.stop_on_empty_page or self.stop_on_short_page or any(stops)):
            raise ValueError(
                f"{strategy} pagination has no way to stop: set has_more_path, total_path, "
                + ("total_pages_path, " if strategy == "page_number" else "")
                + "stop_on_empty_page, stop_on_short_page (with page_size) or max_pages"
            )


class PageNumberPagination(_Stops):
    type: Literal["page_number"]
    param: str = "page"
    start: Annotated[int, Field(ge=0)] = 1
    location: Literal["query", "body"] = Field("query", alias="in")
    page_size_param: str | None = None
    total_pages_path: JsonPaths | None = None

    @model_validator(mode="after")
    def _stops(self) -> PageNumberPagination:
        self._needs_a_stop("page_number", (self.total_pages_path,))
        return self


class OffsetPagination(_Stops):
    type: Literal["offset"]
    param: str = "offset"
    start: Annotated[int, Field(ge=0)] = 0
    location: Literal["query", "body"] = Field("query", alias="in")
    page_size: PositiveInt | None = Field(None, validation_alias=AliasChoices("limit", "page_size"))
    page_size_param: str | None = Field(
        None, validation_alias=AliasChoices("limit_param", "page_size_param")
    )

    @model_validator(mode="after")
    def _stops(self) -> OffsetPagination:
        self._needs_a_stop("offset")
        return self


class CursorPagination(_Stops):
    """The next cursor from the body (`cursor_path`) or a header, sent back as `param`."""

    type: Literal["cursor"]
    cursor_path: JsonPathText | None = None
    cursor_header: HeaderName | None = None
    param: str
    location: Literal["query", "header", "body"] = Field("query", alias="in")
    page_size_param: str | None = None

    @model_validator(mode="after")
    def _one_cursor(self) -> CursorPagination:
        if (self.cursor_path is None) == (self.cursor_header is None):
            raise ValueError("set exactly one of cursor_path and cursor_header")
        if self.stop_on_short_page and self.page_size is None:
            raise ValueError("stop_on_short_page needs page_size (the size of a full page)")
        return self


class NextUrlPagination(_Stops):
    """The next page's URL from the body; it must stay on the source's own host."""

    type: Literal["next_url"]
    next_url_path: JsonPathText


class LinkHeaderPagination(_Stops):
    """The next page's URL from the `Link` header (`rel="next"`)."""

    type: Literal["link_header"]
    rel: str = "next"


class SinglePagePagination(_Model):
    type: Literal["single_page"]


Pagination = Annotated[
    PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination
    | SinglePagePagination,
    Field(discriminator="type"),
]


def _record_key(text: str) -> str:
    return text if text == "hash" else _json_path(text)


class RecordsSpec(_Model):
    """Where the records are, what identifies one, and which fields to keep."""

    path: JsonPathText = ""
    key: Annotated[str, AfterValidator(_record_key)] = "hash"
    fields: dict[str, JsonPathText] | None = None


_STATUS_RANGE = re.compile(r"([1-5])xx|(\d{3})-(\d{3})")


def _status(value: int | list[int] | str | None) -> int | list[int] | str | None:
    if isinstance(value, str) and not _STATUS_RANGE.fullmatch(value.lower()):
        raise ValueError(f"status {value!r}: use a code, a list of codes, '5xx' or '500-599'")
    return value


class ErrorRule(_Model):
    """A response matching every condition given here gets `action`."""

    status: Annotated[int | list[int] | str | None, AfterValidator(_status)] = None
    body_contains: str | None = None
    path: JsonPathText | None = None
    value: Scalar | list[Scalar] | None = None
    headers: dict[str, str] | None = None
    #: Only on the query's first page, or only on the pages after it (a cursor was sent).
    page: Literal["first", "later"] | None = None
    action: Action
    message_path: JsonPaths | None = None
    #: Seconds to wait before retrying (rate_limited), when the provider does not say.
    wait_s: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _has_a_condition(self) -> ErrorRule:
        if (self.status, self.body_contains, self.path, self.headers) == (None,) * 4:
            raise ValueError("a rule needs status, body_contains, path or headers to match")
        if self.value is not None and self.path is None:
            raise ValueError("value is compared with the value at `path`: set path too")
        return self

    def matches_status(self, status: int) -> bool:
        if self.status is None:
            return True
        if isinstance(self.status, int):
            return status == self.status
        if isinstance(self.status, list):
            return status in self.status
        match = _STATUS_RANGE.fullmatch(self.status.lower())
        assert match is not None  # checked by the validator
        if match.group(1):
            return status // 100 == int(match.group(1))
        return int(match.group(2)) <= status <= int(match.group(3))

    def matches_page(self, page: int) -> bool:
        """Whether the rule applies to the query's page number `page` (1 is the first)."""
        if self.page is None:
            return True
        return (page <= 1) == (self.page == "first")


class ErrorsSpec(_Model):
    """Rules (checked in order, on every response, 200 included) and where waits come from."""

    rules: list[ErrorRule] = []
    message_path: JsonPaths | None = None
    retry_after_path: JsonPathText | None = None
    reset_path: JsonPathText | None = None
    max_wait_s: Annotated[float, Field(ge=0)] | None = None


class LimitsSpec(_Model):
    """The credential's limits, and the headers that announce its remaining budget."""

    per_second: Annotated[float, Field(gt=0)] | None = None
    per_minute: Annotated[float, Field(gt=0)] | None = None
    per_hour: Annotated[float, Field(gt=0)] | None = None
    page_delay_s: Annotated[float, Field(ge=0)] = 1.0
    daily_budget: Annotated[int, Field(ge=0)] | None = None
    monthly_budget: Annotated[int, Field(ge=0)] | None = None
    remaining_header: HeaderName | None = None
    reset_header: HeaderName | None = None

    def to_limits(self) -> Limits:
        return Limits(
            per_second=self.per_second,
            per_minute=self.per_minute,
            per_hour=self.per_hour,
            daily_budget=self.daily_budget,
            monthly_budget=self.monthly_budget,
        )


class SourceSpec(_Model):
    """A whole declarative source."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = ""
    params: dict[Identifier, ParamSpec] = {}
    request: RequestSpec
    auth: AuthSpec | None = None
    pagination: Pagination = SinglePagePagination(type="single_page")
    records: RecordsSpec = RecordsSpec()
    errors: ErrorsSpec = ErrorsSpec()
    limits: LimitsSpec = LimitsSpec()


class PythonSourceSpec(_Model):
    """A source written in Python, named by `module:attribute` in a source file."""

    name: str | None = None
    python: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]
    #: Credential name -> env variable, passed to `fetch_page` as `credentials`.
    credentials: dict[str, EnvVarName] = {}
    #: Keyword arguments for the class or factory.
    options: dict[str, Any] = {}
