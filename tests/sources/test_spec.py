"""Source file validation: every error names the file and the field."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from pagerunner.sources.base import BadRequestError
from pagerunner.sources.loader import load_sources
from pagerunner.sources.params import validate_params
from pagerunner.sources.sourcefile import SourceSpecError, parse_spec
from pagerunner.sources.spec import ErrorRule, SourceSpec
from pagerunner.sources.templates import render_value

ORIGIN = "sources/github.toml"
VALID: dict[str, Any] = {
    "name": "github-repos",
    "description": "GitHub repository search",
    "params": {
        "q": {"help": "search text", "required": True},
        "sort": {"help": "stars or updated", "choices": ["stars", "updated"]},
        "per_page": {"type": "integer", "default": 100},
    },
    "request": {
        "url": "https://api.github.com/search/repositories",
        "headers": {"Accept": "application/vnd.github+json"},
        "query": {"q": "{q}", "sort": "{sort}", "per_page": "{per_page}"},
    },
    "auth": {"type": "bearer", "env": "GITHUB_TOKEN", "optional": True},
    "pagination": {"type": "link_header", "max_pages": 10},
    "records": {"path": "items", "key": "id", "fields": {"name": "full_name"}},
    "errors": {
        "rules": [
            {"status": 422, "body_contains": "first 1000", "action": "ignore"},
            {
                "status": [403, 429],
                "headers": {"x-ratelimit-remaining": "0"},
                "action": "rate_limited",
            },
            {"status": "5xx", "action": "retry"},
        ]
    },
    "limits": {
        "per_minute": 30,
        "remaining_header": "x-ratelimit-remaining",
        "reset_header": "x-ratelimit-reset",
    },
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """VALID with dotted fields replaced (a None value deletes the field)."""
    data = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        table = data
        for part in parents:
            table = table.setdefault(part, {})
        if value is None:
            table.pop(last, None)
        else:
            table[last] = value
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SourceSpecError) as caught:
        parse_spec(data, ORIGIN)
    assert caught.value.origin == ORIGIN
    text = str(caught.value)
    assert all(line.startswith(f"{ORIGIN}: ") for line in text.splitlines())
    return text.splitlines()


def test_a_valid_file_parses() -> None:
    spec = parse_spec(VALID, ORIGIN)
    assert isinstance(spec, SourceSpec)
    assert spec.pagination.type == "link_header"
    assert spec.limits.to_limits().per_minute == 30


def test_unknown_strategy_names_the_field() -> None:
    lines = problems(spec_with(pagination={"type": "pages"}))
    assert lines[0].startswith(f"{ORIGIN}: pagination.type: unknown strategy 'pages'")
    assert "page_number" in lines[0]


def test_missing_strategy_type() -> None:
    assert problems(spec_with(pagination={"max_pages": 3})) == [
        f"{ORIGIN}: pagination.type: required (one of: page_number, offset, cursor, next_url, "
        "link_header, single_page)"
    ]


def test_a_field_of_the_chosen_strategy_is_reported_without_the_union_tag() -> None:
    lines = problems(spec_with(pagination={"type": "page_number", "max_pages": 0}))
    assert lines == [f"{ORIGIN}: pagination.max_pages: Input should be greater than 0"]


def test_unknown_and_missing_fields() -> None:
    data = spec_with(request__metod="GET")
    del data["request"]["url"]
    lines = problems(data)
    assert f"{ORIGIN}: request.url: required" in lines
    assert f"{ORIGIN}: request.metod: unknown field" in lines


def test_a_bad_json_path_names_its_field() -> None:
    (line,) = problems(spec_with(records__path="items..x"))
    assert line.startswith(f"{ORIGIN}: records.path: invalid JSON path 'items..x'")


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        ({"type": "page_number"}, "page_number"),
        ({"type": "page_number", "page_size": 20}, "page_number"),
        ({"type": "offset", "limit": 50, "limit_param": "limit"}, "offset"),
    ],
)
def test_a_pagination_with_no_way_to_stop_is_refused(strategy: dict[str, Any], field: str) -> None:
    (line,) = problems(spec_with(pagination=strategy))
    assert line.startswith(f"{ORIGIN}: pagination: {field} pagination has no way to stop")
    assert "has_more_path" in line and "max_pages" in line


@pytest.mark.parametrize(
    "stop",
    [
        {"has_more_path": "has_more"},
        {"total_path": "total"},
        {"stop_on_empty_page": True},
        {"stop_on_short_page": True, "page_size": 20},
        {"max_pages": 5},
    ],
)
def test_any_one_stop_condition_is_enough(stop: dict[str, Any]) -> None:
    parse_spec(spec_with(pagination={"type": "offset", **stop}), ORIGIN)
    parse_spec(spec_with(pagination={"type": "page_number", **stop}), ORIGIN)


def test_a_total_or_a_message_may_be_read_from_one_of_several_paths() -> None:
    paths = ["pagination.total_entries", "total_entries"]
    spec = parse_spec(
        spec_with(
            pagination={"type": "page_number", "total_path": paths, "total_pages_path": paths},
            errors__message_path=["error", "message"],
        ),
        ORIGIN,
    )
    assert spec.pagination.total_path == paths  # type: ignore[union-attr]
    assert spec.errors.message_path == ["error", "message"]
    (line,) = problems(spec_with(pagination={"type": "offset", "total_path": ["total", "a..b"]}))
    assert line.startswith(f"{ORIGIN}: pagination.total_path: invalid JSON path 'a..b'")
    (line,) = problems(spec_with(pagination={"type": "offset", "total_path": []}))
    assert line.startswith(f"{ORIGIN}: pagination.total_path: ")
    assert "at least one" in line


def test_short_page_stop_needs_a_page_size() -> None:
    (line,) = problems(spec_with(pagination={"type": "page_number", "stop_on_short_page": True}))
    assert "stop_on_short_page needs page_size" in line


def test_cursor_needs_exactly_one_source_of_cursor() -> None:
    (line,) = problems(spec_with(pagination={"type": "cursor", "param": "after"}))
    assert line == f"{ORIGIN}: pagination: set exactly one of cursor_path and cursor_header"


def test_cursor_and_next_url_stop_by_themselves() -> None:
    cursor = {"type": "cursor", "cursor_path": "next", "param": "after"}
    parse_spec(spec_with(pagination=cursor), ORIGIN)
    parse_spec(spec_with(pagination={"type": "next_url", "next_url_path": "next"}), ORIGIN)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request__headers": {"Authorization": "Bearer abcdef123456"}}, "request.headers"),
        ({"request__query": {"api_key": "abc123"}}, "request.query.api_key"),
        ({"request__json": {"auth": {"password": "hunter2"}}}, "request.json.auth.password"),
        ({"request__json": {"note": "ghp_aaaaaaaaaaaaaaaaaaaa"}}, "request.json.note"),
        ({"request__url": "https://api.test/x?key=abc123"}, "request.url?key"),
        ({"request__url": "https://me:pw@api.test/x"}, "request.url"),
        ({"auth": {"type": "bearer", "env": "T", "token": "abc"}}, "auth.token"),
        ({"api_key": "abc123"}, "api_key"),
        ({"params__api_key": {"help": "your key"}}, "params.api_key"),
    ],
)
def test_an_inline_secret_is_refused(changes: dict[str, Any], field: str) -> None:
    lines = problems(spec_with(**changes))
    assert any(line.startswith(f"{ORIGIN}: {field}") for line in lines), lines
    assert "secret" in "\n".join(lines)
    assert "abc123" not in "\n".join(lines) and "hunter2" not in "\n".join(lines)


def test_cursor_names_are_not_mistaken_for_secrets() -> None:
    body = {"pageToken": "", "next_page_token": "", "pageSize": 20}
    parse_spec(spec_with(request__json=body), ORIGIN)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{missing}", "{missing} is not a declared parameter"),
        ("{q.__class__}", "only {name} of a declared parameter is allowed"),
        ("{q!r}", "only {name} of a declared parameter is allowed"),
        ("{q:>10}", "only {name} of a declared parameter is allowed"),
        ("{q", "unbalanced '{'"),
    ],
)
def test_templates_may_only_name_declared_params(template: str, message: str) -> None:
    (line,) = problems(spec_with(request__query={"q": template}))
    assert line.startswith(f"{ORIGIN}: request.query.q: ")
    assert message in line


def test_the_host_cannot_be_templated() -> None:
    (line,) = problems(spec_with(request__url="https://{q}.example.com/search"))
    assert line.startswith(f"{ORIGIN}: request: ")
    assert "host of the url cannot be templated" in line


def test_literal_braces_are_escaped_by_doubling() -> None:
    parse_spec(spec_with(request__query={"q": "{{literal}} {q}"}), ORIGIN)


def test_error_rule_status_forms() -> None:
    assert ErrorRule(status="5xx", action="retry").matches_status(503)
    assert not ErrorRule(status="5xx", action="retry").matches_status(429)
    assert ErrorRule(status="400-404", action="fail").matches_status(404)
    assert ErrorRule(status=[403, 429], action="rate_limited").matches_status(403)
    (line,) = problems(spec_with(errors={"rules": [{"status": "5x", "action": "retry"}]}))
    assert line.startswith(f"{ORIGIN}: errors.rules.0.status: ")


def test_error_rule_page_forms() -> None:
    later = ErrorRule(path="status", value="INVALID_REQUEST", page="later", action="retry")
    assert not later.matches_page(1) and later.matches_page(2) and later.matches_page(9)
    first = ErrorRule(path="status", value="INVALID_REQUEST", page="first", action="fail")
    assert first.matches_page(1) and not first.matches_page(2)
    assert ErrorRule(status=400, action="fail").matches_page(1)
    rule = {"status": 400, "page": "next", "action": "fail"}
    (line,) = problems(spec_with(errors={"rules": [rule]}))
    assert line.startswith(f"{ORIGIN}: errors.rules.0.page: ")


def test_a_list_of_missing_params_is_left_out_like_a_lone_one() -> None:
    body = {"titles": ["{title}"], "both": ["{title}", "{q}"], "fixed": [], "q": "{q}"}
    assert render_value(body, {"q": "x"}) == {"both": ["x"], "fixed": [], "q": "x"}
    assert render_value(body, {"title": "Owner"}) == {
        "titles": ["Owner"],
        "both": ["Owner"],
        "fixed": [],
    }


def test_an_error_rule_needs_a_condition_and_a_known_action() -> None:
    lines = problems(spec_with(errors={"rules": [{"action": "retry"}, {"status": 500}]}))
    assert any("errors.rules.0: " in line and "needs status" in line for line in lines)
    assert f"{ORIGIN}: errors.rules.1.action: required" in lines


def test_api_key_auth_needs_a_name() -> None:
    (line,) = problems(spec_with(auth={"type": "api_key", "env": "KEY"}))
    assert line.startswith(f"{ORIGIN}: auth: ") and "needs `name`" in line


def test_params_are_checked_and_converted() -> None:
    spec = parse_spec(VALID, ORIGIN)
    assert validate_params(spec, {"q": " rust ", "per_page": "50"}) == {"q": "rust", "per_page": 50}
    assert validate_params(spec, {"q": "x"}) == {"q": "x", "per_page": 100}
    cases = [
        ({}, "params.q: required"),
        ({"q": "x", "nope": 1}, "params.nope: unknown parameter"),
        ({"q": "x", "per_page": "ten"}, "params.per_page: must be an integer"),
        ({"q": "x", "sort": "forks"}, "params.sort: must be one of stars, updated"),
        ({"q": "x\r\nX-Evil: 1"}, "params.q: control characters"),
    ]
    for params, message in cases:
        with pytest.raises(BadRequestError, match=message.replace(".", r"\.")):
            validate_params(spec, params)


def _doc_blocks(language: str) -> list[str]:
    text = (Path(__file__).parents[2] / "docs" / "sources.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_the_examples_in_the_docs_are_valid(tmp_path: Path) -> None:
    """Every complete example and every [pagination] / rule example of docs/sources.md."""
    base = {"name": "doc", "request": {"url": "https://api.test/x"}}
    checked = 0
    for block in _doc_blocks("toml"):
        data = tomllib.loads(block)
        if "sources" in data:  # a pagerunner.toml
            (tmp_path / "pagerunner.toml").write_text(block)
            load_sources(
                env={},
                config_file=tmp_path / "pagerunner.toml",
                presets_dir=None,
                entry_points=False,
            )
        elif "request" in data:
            parse_spec(data, "docs")
        elif set(data) in ({"pagination"}, {"errors"}):
            parse_spec({**base, **data}, "docs")
        else:
            continue
        checked += 1
    for block in _doc_blocks("yaml"):
        parse_spec({"name": "doc", **yaml.safe_load(block)}, "docs")
        checked += 1
    assert checked >= 11
