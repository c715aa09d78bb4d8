"""Classify a provider's answer: success, or which `SourceError` to raise and how long to wait.

A source file's `[[errors.rules]]` are checked in order on every response,
HTTP 200 included (some providers say "over quota" in a 200 body). The first
matching rule decides; without one, 2xx is a success and the defaults apply:
408 and 5xx retry, 401 invalid credentials, 402 quota exhausted, 429 rate
limited, other statuses fail. A 403 is a rate limit when it says so (a
`Retry-After`, a remaining-requests header at 0, or words such as "rate limit":
GitHub's abuse answer is a 403 with only a `Retry-After`), else invalid
credentials. Messages carry the provider's own words, and every secret is
redacted from them.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from .base import (
    BadRequestError,
    InvalidCredentialsError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from .jsonpath import compile_path
from .spec import Action, ErrorRule, ErrorsSpec, LimitsSpec

__all__ = [
    "Answer",
    "Verdict",
    "decide",
    "default_action",
    "error_for",
    "parse_reset",
    "parse_retry_after",
    "provider_message",
    "redact",
    "signals_rate_limit",
]

REDACTED = "[redacted]"
# Where providers usually put their error message, tried in order.
DEFAULT_MESSAGE_PATHS = (
    "error.message",
    "error_message",
    "error.error_message",
    "error",
    "message",
    "errors[0].message",
    "detail",
)
# A reset header above this is an epoch time; below, seconds from now.
EPOCH_THRESHOLD = 1_000_000_000
# The usual names of the remaining-requests and reset headers, checked after the
# source's own `[limits] remaining_header` and `reset_header`.
REMAINING_HEADERS = ("x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining")
RESET_HEADERS = ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
# Words that make a 403 with no rate-limit header a rate limit all the same.
RATE_LIMIT_WORDS = ("rate limit", "rate-limit", "too many requests", "abuse detection")
# A body that is not JSON is the message itself when it is one printable line this short.
PLAIN_MESSAGE_LENGTH = 200


@dataclass(frozen=True)
class Answer:
    """One HTTP response, decoded: status, lower-case headers, JSON body (or None) and text."""

    status: int
    headers: Mapping[str, str]
    body: Any
    text: str


@dataclass(frozen=True)
class Verdict:
    action: Action | Literal["success"]
    rule: ErrorRule | None = None


def default_action(answer: Answer, limits: LimitsSpec | None = None) -> Action | Literal["success"]:
    """The action for an answer no rule matched: by its status, a 403 also by what it says."""
    status = answer.status
    if 200 <= status < 300:
        return "success"
    if status == 429 or (status == 403 and signals_rate_limit(answer, limits)):
        return "rate_limited"
    if status in (401, 403):
        return "invalid_credentials"
    if status == 402:
        return "quota_exhausted"
    if status == 408 or status >= 500:
        return "retry"
    return "fail"


def decide(
    errors: ErrorsSpec, answer: Answer, *, page: int = 1, limits: LimitsSpec | None = None
) -> Verdict:
    """The first matching rule's action, or the default for the answer.

    `page` is the query's page number (1 is the first), for rules with `page`;
    `limits` names the source's own rate-limit headers.
    """
    for rule in errors.rules:
        if _matches(rule, answer, page):
            return Verdict(rule.action, rule)
    return Verdict(default_action(answer, limits))


def signals_rate_limit(answer: Answer, limits: LimitsSpec | None = None) -> bool:
    """Whether a refusal says it is a rate limit, whatever else its message says.

    A `Retry-After` header, a remaining-requests header at 0 (the source's own
    `remaining_header` or a usual name), or rate-limit words in the body.
    """
    if answer.headers.get("retry-after", "").strip():
        return True
    own = limits.remaining_header if limits is not None else None
    for name in _header_names(own, REMAINING_HEADERS):
        if _is_zero(answer.headers.get(name)):
            return True
    text = answer.text.lower()
    return any(words in text for words in RATE_LIMIT_WORDS)


def _header_names(own: str | None, usual: tuple[str, ...]) -> list[str]:
    return [own.lower(), *usual] if own else list(usual)


def _is_zero(value: str | None) -> bool:
    try:
        return value is not None and float(value) <= 0
    except ValueError:
        return False


def _matches(rule: ErrorRule, answer: Answer, page: int) -> bool:
    if not rule.matches_status(answer.status) or not rule.matches_page(page):
        return False
    if rule.body_contains is not None and rule.body_contains.lower() not in answer.text.lower():
        return False
    if rule.headers is not None:
        for name, expected in rule.headers.items():
            if answer.headers.get(name.lower(), "").strip() != expected:
                return False
    if rule.path is not None:
        found = compile_path(rule.path).find(answer.body)
        if rule.value is None:
            return any(v not in (None, "", False, [], {}) for v in found)
        wanted = rule.value if isinstance(rule.value, list) else [rule.value]
        return any(v in wanted for v in found)
    return True


def provider_message(errors: ErrorsSpec, rule: ErrorRule | None, answer: Answer) -> str:
    """The provider's own message for this answer, with the HTTP status."""
    own = rule.message_path if rule is not None else None
    paths = [*_alternatives(own), *_alternatives(errors.message_path)]
    message = None
    for path in (*paths, *DEFAULT_MESSAGE_PATHS):
        found = compile_path(path).first(answer.body)
        if isinstance(found, str) and found.strip():
            message = found.strip()
            break
    if rule is not None and rule.path is not None:
        value = compile_path(rule.path).first(answer.body)
        if isinstance(value, str) and value and (message is None or value not in message):
            message = f"{value}: {message}" if message else value
    if message is None:
        message = _plain_message(answer)
    if message is None:
        snippet = answer.text.strip()[:200]
        message = json.dumps(snippet) if snippet else "no message"
    return f"{message} (HTTP {answer.status})"


def _alternatives(paths: str | list[str] | None) -> list[str]:
    if not paths:
        return []
    return [paths] if isinstance(paths, str) else paths


def _plain_message(answer: Answer) -> str | None:
    """A body that is not JSON but one short line of text (Apollo's 401) is the message."""
    text = answer.text.strip()
    if answer.body is not None or not text or len(text) > PLAIN_MESSAGE_LENGTH:
        return None
    if not text.isprintable() or "<" in text:  # several lines, or markup: quote a snippet
        return None
    return text


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a `Retry-After` header: a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def parse_reset(value: Any, now: float) -> float | None:
    """An epoch time from a reset value: epoch seconds, or seconds from now when small."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    return number if number >= EPOCH_THRESHOLD else now + number


def _waits(
    errors: ErrorsSpec, limits: LimitsSpec, rule: ErrorRule | None, answer: Answer, now: float
) -> tuple[float | None, float | None]:
    """(seconds to wait, reset epoch) for a rate-limited answer, from whatever it says."""
    reset_at = None
    for name in _header_names(limits.reset_header, RESET_HEADERS):
        reset_at = parse_reset(answer.headers.get(name), now)
        if reset_at is not None:
            break
    if reset_at is None and errors.reset_path is not None:
        reset_at = parse_reset(compile_path(errors.reset_path).first(answer.body), now)
    wait = parse_retry_after(answer.headers.get("retry-after"), now)
    if wait is None and errors.retry_after_path is not None:
        found = compile_path(errors.retry_after_path).first(answer.body)
        wait = parse_retry_after(None if found is None else str(found), now)
    if wait is None and reset_at is not None:
        wait = max(0.0, reset_at - now)
    if wait is None and rule is not None:
        wait = rule.wait_s
    return wait, reset_at


def error_for(
    verdict: Verdict,
    errors: ErrorsSpec,
    limits: LimitsSpec,
    answer: Answer,
    *,
    now: float,
    secrets: Iterable[str],
) -> SourceError:
    """The `SourceError` for a non-success verdict, its message redacted."""
    message = redact(provider_message(errors, verdict.rule, answer), secrets)
    status = answer.status
    match verdict.action:
        case "rate_limited":
            wait, reset_at = _waits(errors, limits, verdict.rule, answer, now)
            return RateLimitedError(
                message, retry_after_s=wait, reset_at=reset_at, http_status=status
            )
        case "retry":
            return TransientError(message, http_status=status)
        case "quota_exhausted":
            return QuotaExhaustedError(message, http_status=status)
        case "invalid_credentials":
            return InvalidCredentialsError(message, http_status=status)
        case "fail" if 400 <= status < 500:
            return BadRequestError(message, http_status=status)
    return ProviderError(message, http_status=status)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (also in its URL-encoded forms) replaced by [redacted]."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    return text
