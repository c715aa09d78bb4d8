"""Refuse source files that hold a secret instead of naming its env variable.

A source file is configuration that people commit and share; an API key in it
leaks. This check runs on the raw file data before validation, so its message
(not a generic "unknown field") tells what to do instead. It looks for
secret-like names with a literal value (`api_key = "..."` in a request's
headers, query or body, or in `[auth]`), user:password in URLs, and values
shaped like well-known tokens anywhere in the request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["find_inline_secrets", "looks_like_secret_name"]

_SECRET_NAME = re.compile(
    r"api[-_]?key|apikey|secret|passw(or)?d|authorization|credential|private[-_]?key"
    r"|access[-_]?key|(^|[-_])token$|^token|^key$|^auth$|^bearer$",
    re.IGNORECASE,
)
# Cursors and page tokens are not secrets even though their names say "token".
_NOT_SECRET = re.compile(r"page|next|cursor|continuation|csrf|count|limit", re.IGNORECASE)
_TOKEN_VALUE = re.compile(
    r"^(ghp_|gho_|ghs_|github_pat_|sk-|sk_live_|rk_live_|xox[abpr]-|AIza|glpat-)[\w-]{8,}"
    r"|^(Bearer|Basic|token)\s+[^{\s][^\s]{7,}$",
)
_AUTH_FIELDS = {"type", "env", "in", "location", "name", "prefix", "optional"}
_HINT = (
    "looks like an inline secret: never write a secret in a source file; "
    'name its environment variable instead, e.g. [auth] env = "PROVIDER_API_KEY"'
)


def looks_like_secret_name(name: str) -> bool:
    """Whether a header, query parameter or field of this name carries a credential."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def find_inline_secrets(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every place of `data` that looks like it holds a secret."""
    problems: list[tuple[str, str]] = []
    auth = data.get("auth")
    if isinstance(auth, Mapping):
        problems += [
            (f"auth.{key}", _HINT)
            for key, value in auth.items()
            if key not in _AUTH_FIELDS and looks_like_secret_name(str(key)) and value
        ]
    request = data.get("request")
    if isinstance(request, Mapping):
        for table in ("headers", "query", "json"):
            problems += _named_secrets(f"request.{table}", request.get(table))
        problems += _url_secrets(request.get("url"))
        problems += _valued_secrets("request", request)
    params = data.get("params")
    if isinstance(params, Mapping):
        problems += [
            (
                f"params.{name}",
                "a secret cannot be a query parameter (params are stored with the query); "
                "use [auth] with an env variable",
            )
            for name in params
            if looks_like_secret_name(str(name))
        ]
    problems += [
        (str(key), _HINT)
        for key, value in data.items()
        if looks_like_secret_name(str(key)) and isinstance(value, str) and value
    ]
    return list(dict.fromkeys(problems))  # a field reported by two checks, once


def _named_secrets(prefix: str, table: Any) -> list[tuple[str, str]]:
    if isinstance(table, list):
        return [p for i, v in enumerate(table) for p in _named_secrets(f"{prefix}[{i}]", v)]
    if not isinstance(table, Mapping):
        return []
    problems = []
    for key, value in table.items():
        field = f"{prefix}.{key}"
        if isinstance(value, Mapping | list):
            problems += _named_secrets(field, value)
        elif looks_like_secret_name(str(key)) and value not in (None, ""):
            problems.append((field, _HINT))
    return problems


def _url_secrets(url: Any) -> list[tuple[str, str]]:
    if not isinstance(url, str):
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []  # the model reports a malformed URL
    problems = []
    if parts.password or parts.username:
        problems.append(("request.url", _HINT + " (no user:password in the url)"))
    problems += [
        (f"request.url?{name}", _HINT)
        for name, value in parse_qsl(parts.query)
        if looks_like_secret_name(name) and value
    ]
    return problems


def _valued_secrets(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Values shaped like a token (ghp_…, sk-…, 'Bearer abc…'), whatever their name."""
    if isinstance(value, str):
        return [(prefix, _HINT)] if _TOKEN_VALUE.search(value) else []
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _valued_secrets(f"{prefix}.{k}", v)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _valued_secrets(f"{prefix}[{i}]", v)]
    return []
