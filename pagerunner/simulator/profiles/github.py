"""GitHub search: `GET /search/repositories|issues|users?q=…&per_page=…&page=N`.

Token in `Authorization: Bearer …` (or `token …`); anonymous requests are
allowed with a lower limit. Answers `total_count`, `incomplete_results`,
`items`, and a `Link` header (`prev`, `next`, `last`, `first`; URLs on the
simulator's host). At most 1,000 results per search: a page starting past
them is 422 "Only the first 1000 search results are available".

Limits: the **primary** limit is a fixed window per token (30 requests per
60 s, 10 anonymous), announced on every answer by `x-ratelimit-limit`,
`-remaining`, `-reset` (epoch seconds), `-used` and `-resource: search`; over
it: 403 (or 429) with `x-ratelimit-remaining: 0`. The **secondary** limit is
403 "You have exceeded a secondary rate limit" with `retry-after`: what the
simulator's own per-key rate limit (`sim.set_limits`) answers here, and a
`rate_limit` fault with `retry_after_s`; without it, the fault is a primary
limit answer. GitHub has no quota: quota faults and spent quotas answer as
the primary limit. With `secondary_answer="abuse"`, going too fast gets the
older answer recorded from the real API instead: 403 "You have triggered an
abuse detection mechanism" with `retry-after` and no `x-ratelimit-*` headers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from .. import data
from ..answers import Answer
from .base import Call, Profile, ProfileRequestError, http_phrase, retry_after, with_headers
from .github_items import KINDS, SearchKind, items
from .windows import FixedWindows, WindowLimit, WindowState

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "ABUSE_LIMIT",
    "DEFAULT_PER_PAGE",
    "DOCS_ABUSE_LIMITS",
    "MAX_PER_PAGE",
    "SECONDARY_LIMIT",
    "GitHubProfile",
    "GitHubSearch",
    "GitHubSettings",
    "user_id",
]

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
DOCS_RATE_LIMITS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
DOCS_SEARCH = "https://docs.github.com/v3/search"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
ABUSE_LIMIT = (
    "You have triggered an abuse detection mechanism. "
    "Please wait a few minutes before you try again."
)
DOCS_ABUSE_LIMITS = "https://developer.github.com/v3/#abuse-rate-limits"
_ANONYMOUS_LIMIT = (
    "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests "
    "get a higher rate limit. Check out the documentation for more details.)"
)


@dataclass(frozen=True)
class GitHubSettings:
    """Primary limit per token (`limit` per `window_s`), answer statuses, the result cap."""

    limit: int = 30
    anonymous_limit: int = 10
    window_s: float = 60.0
    allow_anonymous: bool = True
    max_results: int = 1000
    rate_limit_status: int = 403  # GitHub answers the primary limit with 403 or 429
    secondary_status: int = 403
    #: What going too fast gets: the secondary limit, or the older abuse-detection answer.
    secondary_answer: Literal["secondary", "abuse"] = "secondary"

    def __post_init__(self) -> None:
        if self.limit < 1 or self.anonymous_limit < 1:
            raise ValueError("limit and anonymous_limit must be 1 or more")
        if self.window_s <= 0:
            raise ValueError("window_s must be greater than 0")
        if self.max_results < 1:
            raise ValueError("max_results must be 1 or more")
        if {self.rate_limit_status, self.secondary_status} - {403, 429}:
            raise ValueError("rate_limit_status and secondary_status must be 403 or 429")


@dataclass(frozen=True)
class GitHubSearch:
    kind: SearchKind
    q: str
    per_page: int
    page: int


class _BeyondCap(ProfileRequestError):
    """The page starts past the first `max_results` results."""


class GitHubProfile(Profile[GitHubSettings, GitHubSearch]):
    """GitHub search"""

    name = "github"
    routes = tuple(("GET", f"/search/{kind}") for kind in KINDS)
    settings_type = GitHubSettings
    announces_retry_after = True  # the simulator's limiter answers as the secondary limit

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self._windows = FixedWindows()

    def reset(self) -> None:
        self._windows.reset()

    # -- what tests use --------------------------------------------------------------------

    def expected_items(self, q: str, kind: SearchKind = "repositories") -> list[dict[str, Any]]:
        """Every item a client can page through for `q` (at most `max_results`), in order."""
        return items(kind, q, 0, min(self._total(q), self.settings.max_results))

    def total_count(self, q: str) -> int:
        """`total_count` for `q`: may exceed what can be fetched."""
        return self._total(q)

    def rate_limit(self, key: str | None) -> WindowState:
        """Where `key` (None: anonymous) stands in its primary window."""
        return self._windows.state(key or "", self._window(key))

    # -- answers ----------------------------------------------------------------------------

    def key_of(self, call: Call) -> str | None:
        header = call.headers.get("authorization", "").strip()
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip():
            return token.strip()
        return header  # another scheme: never a valid token

    def refuse_key(self, call: Call, key: str | None) -> Answer | None:
        if key is None and self.settings.allow_anonymous:
            return None
        return super().refuse_key(call, key)

    def invalid_key(self, call: Call, key: str | None) -> Answer:
        message = "Bad credentials" if key else "Requires authentication"
        return Answer(
            401, {"message": message, "documentation_url": "https://docs.github.com/rest"}
        )

    def throttled(self, call: Call, key: str | None, retry_after_s: float | None) -> Answer:
        if retry_after_s is None:
            return self._primary_limit(key)
        if self.settings.secondary_answer == "abuse":
            body = {"message": ABUSE_LIMIT, "documentation_url": DOCS_ABUSE_LIMITS}
            return Answer(self.settings.secondary_status, body, retry_after(retry_after_s))
        body = {"message": SECONDARY_LIMIT, "documentation_url": DOCS_RATE_LIMITS}
        headers = {**self._headers(self.rate_limit(key)), **retry_after(retry_after_s)}
        return Answer(self.settings.secondary_status, body, headers)

    def own_limits(self, call: Call, key: str | None) -> Answer | None:
        if self._windows.take(key or "", [self._window(key)]) is None:
            return None
        return self._primary_limit(key)

    def quota_exceeded(self, call: Call, key: str | None) -> Answer:
        return self._primary_limit(key)

    def bad_request(self, call: Call, error: ProfileRequestError) -> Answer:
        if isinstance(error, _BeyondCap):
            return Answer(422, {"message": str(error), "documentation_url": DOCS_SEARCH})
        body = {
            "message": "Validation Failed",
            "errors": [{"resource": "Search", "field": "q", "code": "missing"}],
            "documentation_url": DOCS_SEARCH,
        }
        return Answer(422, body)

    def server_error(self, call: Call, status: int) -> Answer:
        return Answer(status, {"message": http_phrase(status)})

    def parse(self, call: Call) -> GitHubSearch:
        params = call.params
        kind = next(k for k in KINDS if call.path.endswith(f"/{k}"))
        q = params.get("q", "")
        if not q.strip():
            raise ProfileRequestError("Validation Failed")
        # GitHub ignores nonsense and caps per_page at 100.
        per_page = min(_int_or(params.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = _int_or(params.get("page"), 1)
        cap = self.settings.max_results
        if (page - 1) * per_page >= cap:
            raise _BeyondCap(f"Only the first {cap} search results are available")
        return GitHubSearch(kind=kind, q=q, per_page=per_page, page=page)

    def page(self, call: Call, request: GitHubSearch) -> Answer:
        total = self._total(request.q)
        reachable = min(total, self.settings.max_results)
        start = (request.page - 1) * request.per_page
        stop = min(start + request.per_page, reachable)
        body = {
            "total_count": total,
            "incomplete_results": False,
            "items": items(request.kind, request.q, start, stop) if start < stop else [],
        }
        last = max(1, math.ceil(reachable / request.per_page))
        link = _link(call, request.page, last)
        return Answer(200, body, {"Link": link} if link else {})

    def decorate(self, answer: Answer, key: str | None) -> Answer:
        if answer.body is not None and answer.body.get("message") == ABUSE_LIMIT:
            return answer  # recorded without any x-ratelimit-* header
        return with_headers(answer, self._headers(self.rate_limit(key)))

    # -- limits -----------------------------------------------------------------------------

    def _window(self, key: str | None) -> WindowLimit:
        limit = self.settings.limit if key else self.settings.anonymous_limit
        return WindowLimit("search", limit, self.settings.window_s)

    def _primary_limit(self, key: str | None) -> Answer:
        state = self.rate_limit(key)
        exhausted = WindowState(state.limit, state.limit, state.reset_at)
        if key:
            message = f"API rate limit exceeded for user ID {user_id(key)}."
        else:
            message = _ANONYMOUS_LIMIT
        body = {"message": message, "documentation_url": DOCS_RATE_LIMITS}
        return Answer(self.settings.rate_limit_status, body, self._headers(exhausted))

    def _headers(self, state: WindowState) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(state.limit),
            "x-ratelimit-remaining": str(state.remaining),
            "x-ratelimit-reset": str(math.ceil(state.reset_at)),
            "x-ratelimit-used": str(min(state.used, state.limit)),
            "x-ratelimit-resource": "search",
        }

    def _total(self, q: str) -> int:
        return data.query_total(q, self.sim.config.total_results)


def user_id(token: str) -> int:
    """The (made-up, stable) user id GitHub names in the primary-limit message of `token`."""
    return int(hashlib.sha1(token.encode(), usedforsecurity=False).hexdigest(), 16) % 10**8


def _int_or(text: str | None, default: int) -> int:
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 9 or int(value) < 1:
        return default
    return int(value)


def _link(call: Call, page: int, last: int) -> str:
    """GitHub's `Link` header for `page` of `last` (empty when there is a single page)."""
    if last <= 1 and page <= 1:
        return ""

    def url(number: int) -> str:
        params = [(n, v) for n, v in call.query if n != "page"] + [("page", str(number))]
        return f"<{call.base_url}{call.path}?{urlencode(params)}>"

    rels = []
    if page > 1:
        rels.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        rels += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
    if page > 1:
        rels.append(f'{url(1)}; rel="first"')
    return ", ".join(rels)
