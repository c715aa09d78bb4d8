"""GitHub search items (repositories, issues, users) made from simulator records.

Each kind of search draws its records under its own namespace (the record's
location is `github:<kind>`), so `q=coffee` finds different repositories,
issues and users, each deterministic. Ids are derived from the record id.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal

from .. import data

__all__ = ["KINDS", "SearchKind", "items"]

SearchKind = Literal["repositories", "issues", "users"]
KINDS: tuple[SearchKind, ...] = ("repositories", "issues", "users")

_LANGUAGES = ("Python", "TypeScript", "Go", "Rust", "Java", "Ruby", "C++", "Kotlin")
_API = "https://api.github.com"


def items(kind: SearchKind, q: str, start: int, stop: int) -> list[dict[str, Any]]:
    """The `items` at 0-based positions `start..stop-1` of a `kind` search for `q`."""
    build = _BUILDERS[kind]
    return [build(record) for record in data.records(q, f"github:{kind}", start + 1, stop + 1)]


def _number(record: dict[str, Any], purpose: str, modulo: int = 2**31) -> int:
    digest = hashlib.sha1(f"{purpose}|{record['id']}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:6], "big") % modulo


def _node_id(prefix: str, number: int) -> str:
    return prefix + base64.b64encode(number.to_bytes(8, "big")).decode().rstrip("=")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _owner(record: dict[str, Any]) -> dict[str, Any]:
    words = record["name"].split()
    login = _slug(f"{words[0]} {words[-1]}")
    number = _number(record, "owner", 10**8)
    return {
        "login": login,
        "id": number,
        "node_id": _node_id("O_", number),
        "type": "Organization",
        "html_url": f"https://github.com/{login}",
    }


def _repository(record: dict[str, Any]) -> dict[str, Any]:
    owner = _owner(record)
    name = _slug(record["name"])
    full_name = f"{owner['login']}/{name}"
    number = _number(record, "repository")
    return {
        "id": number,
        "node_id": _node_id("R_", number),
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": owner,
        "html_url": f"https://github.com/{full_name}",
        "description": f"{record['category']}: {record['name']}",
        "fork": False,
        "url": f"{_API}/repos/{full_name}",
        "homepage": record["website"],
        "stargazers_count": record["reviews"],
        "watchers_count": record["reviews"],
        "forks_count": record["reviews"] // 10,
        "language": _LANGUAGES[_number(record, "language", len(_LANGUAGES))],
        "score": 1.0,
    }


def _issue(record: dict[str, Any]) -> dict[str, Any]:
    owner = _owner(record)
    repository = f"{owner['login']}/{_slug(record['category'])}"
    number = _number(record, "issue-number", 5000) + 1
    issue_id = _number(record, "issue")
    user = _user(record)
    street = record["address"].rsplit(", ", 1)[0]  # the rest is the `github:issues` namespace
    return {
        "id": issue_id,
        "node_id": _node_id("I_", issue_id),
        "number": number,
        "title": f"{record['name']}: wrong opening hours at {street}",
        "state": "open" if record["rating"] >= 3.0 else "closed",
        "user": {key: user[key] for key in ("login", "id", "node_id", "type")},
        "comments": record["reviews"] % 50,
        "html_url": f"https://github.com/{repository}/issues/{number}",
        "repository_url": f"{_API}/repos/{repository}",
        "score": 1.0,
    }


def _user(record: dict[str, Any]) -> dict[str, Any]:
    login = _slug(record["name"])
    number = _number(record, "user", 10**8)
    return {
        "login": login,
        "id": number,
        "node_id": _node_id("U_", number),
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
        "score": 1.0,
    }


_BUILDERS: dict[SearchKind, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "repositories": _repository,
    "issues": _issue,
    "users": _user,
}
