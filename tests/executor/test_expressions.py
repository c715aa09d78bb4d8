"""Tests for the CEL-subset expression parser and evaluator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerunner.executor.errors import ExpressionError, RegistrationError
from pagerunner.executor.expressions import (
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    Expression,
    compile_expression,
    key_value,
)
from pagerunner.executor.functions import parse_registration


def run(source: str, data: Mapping[str, Any] | None = None, **variables: Any) -> Any:
    if data is not None:
        variables["event"] = {"name": "test/event", "data": data}
    return compile_expression(source).evaluate(variables)


# --- triggers and comparisons -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"function_id": "app-fn"}, True),
        ({"function_id": "app-fn-2"}, False),
        ({"function_id": "APP-FN"}, False),
        ({"function_id": None}, False),
        ({}, False),
    ],
)
def test_on_failure_trigger(data: dict[str, Any], expected: bool) -> None:
    expression = compile_expression("event.data.function_id == 'app-fn'")
    assert expression.matches({"event": {"data": data}}) is expected
    assert expression.evaluate({"event": {"data": data}}) is expected


def test_matches_with_no_event_at_all() -> None:
    assert compile_expression("event.data.function_id == 'app-fn'").matches({}) is False


@pytest.mark.parametrize(
    ("n", "expected"),
    [(2, True), (1, False), (0, False), (1.5, True), (1.0, False), (None, False), ("5", False)],
)
def test_greater_than(n: Any, expected: bool) -> None:
    assert run("event.data.n > 1", {"n": n}) is expected


def test_greater_than_with_missing_field() -> None:
    assert run("event.data.n > 1", {}) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 == 1.0", True),
        ("1.0 == 1", True),
        ("2 != 2.0", False),
        ("1 != 1.5", True),
        ("1e3 == 1000", True),
        ("1.5e-1 == 0.15", True),
        ("-2 == 0 - 2", True),
        ("'a' == \"a\"", True),
        ("'1' == 1", False),
        ("true == 1", False),
        ("false == 0", False),
        ("true == true", True),
        ("null == null", True),
        ("null == 0", False),
        ("null == ''", False),
        ("null != false", True),
        ("[1, 2] == [1.0, 2]", True),
        ("[1, 2] == [2, 1]", False),
        ("[true] == [1]", False),
        ("[] == []", True),
    ],
)
def test_equality(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_map_equality_compares_keys_and_values() -> None:
    data = {"a": {"x": 1, "y": [1, 2]}, "b": {"y": [1.0, 2], "x": 1.0}, "c": {"x": 1}}
    assert run("event.data.a == event.data.b", data) is True
    assert run("event.data.a == event.data.c", data) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("null < 1", False),
        ("1 > null", False),
        ("null <= null", False),
        ("null >= null", False),
        ("event.data.missing < 5", False),
        ("'a' < 1", False),
        ("1 < 'a'", False),
        ("'a' < 'b'", True),
        ("'b' <= 'a'", False),
        ("1 < 1.5", True),
        ("2 >= 2.0", True),
        ("false < true", True),
        ("true < 1", False),
        ("[1] < [2]", False),
    ],
)
def test_ordering(source: str, expected: bool) -> None:
    assert run(source, {}) is expected


# --- paths --------------------------------------------------------------------------------

PATH_DATA = {
    "k": "v",
    "a b": 1,
    "key": "k",
    "items": [{"name": "first"}, {"name": "second"}],
    "nested": {"deep": {"x": 42}},
    "s": "text",
    "nothing": None,
    "0": "string zero",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.data.k", "v"),
        ('event.data["k"]', "v"),
        ("event.data['k']", "v"),
        ("event.data['a b']", 1),
        ("event.data[event.data.key]", "v"),
        ("event.data.items[0].name", "first"),
        ("event.data.items[1]['name']", "second"),
        ("event.data.items[0 + 1].name", "second"),
        ("event.data.nested.deep.x", 42),
        ("event.data['nested'][\"deep\"].x", 42),
        ("(event.data).nested.deep.x", 42),
        ("[10, 20, 30][2]", 30),
        ("event.name", "test/event"),
        ("event.data['0']", "string zero"),
    ],
)
def test_path_forms(source: str, expected: Any) -> None:
    assert run(source, PATH_DATA) == expected


@pytest.mark.parametrize(
    "source",
    [
        "event.data.missing",
        "event.data.missing.deeper.still",
        "event.data.nothing.x",
        "event.data.s.x",
        "event.data.s[0]",
        "event.data.k.length",
        "event.data.items[2]",
        "event.data.items[-1]",
        "event.data.items['0']",
        "event.data.items[true]",
        "event.data.items.name",
        "event.data[0]",
        "event.data[[1]]",
        "event.data.nested.deep.x.y",
        "async.data.id",
        "unknown",
        "unknown.field[3]",
        "(1).x",
    ],
)
def test_missing_paths_are_null(source: str) -> None:
    assert run(source, PATH_DATA) is None


def test_unknown_variable_is_reported_but_evaluates_to_null() -> None:
    expression = compile_expression("steps.first == null")
    assert expression.variables() == {"steps"}
    assert expression.evaluate({}) is True


def test_wait_for_event_match_uses_both_variables() -> None:
    expression = compile_expression("async.data.id == event.data.id")
    assert expression.variables() == {"async", "event"}
    event = {"data": {"id": "order-1"}}
    assert expression.matches({"event": event, "async": {"data": {"id": "order-1"}}}) is True
    assert expression.matches({"event": event, "async": {"data": {"id": "order-2"}}}) is False
    assert expression.matches({"event": event, "async": {"data": {}}}) is False
    assert expression.matches({"event": event}) is False
    # Both sides missing are both null, and null == null, as in Inngest's CEL.
    assert expression.matches({"event": {"data": {}}, "async": {"data": {}}}) is True


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("1 + 2", set()),
        ("event.data.x", {"event"}),
        ("lowercase(event.data.a) == async.data.b", {"event", "async"}),
        ("has(steps.x) && event.data[key] in [a, b]", {"steps", "event", "key", "a", "b"}),
        ("event.data.async", {"event"}),
    ],
)
def test_variables(source: str, names: set[str]) -> None:
    assert compile_expression(source).variables() == frozenset(names)


# --- arithmetic and keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": "acct", "b": "user"}, "acct-user"),
        ({"a": "acct", "b": 7}, "acct-7"),
        ({"a": "acct", "b": 7.0}, "acct-7"),
        ({"a": "acct", "b": 7.5}, "acct-7.5"),
        ({"a": 1, "b": 2}, "1-2"),
        ({"a": "acct", "b": True}, "acct-true"),
        ({"a": "acct", "b": None}, None),
        ({"a": "acct"}, None),
        ({"a": "acct", "b": [1]}, None),
    ],
)
def test_concatenated_key(data: dict[str, Any], expected: str | None) -> None:
    assert run('event.data.a + "-" + event.data.b', data) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("- (2 + 3)", -5),
        ("--2", 2),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7.0 / 2", 3.5),
        ("7.5 % 2", 1.5),
        ("0.5 + 1", 1.5),
        ("1 + 2 == 3", True),
        ("1 / 0", None),
        ("1 % 0", None),
        ("1.0 / 0.0", None),
        ("null + 1", None),
        ("1 - null", None),
        ("'a' - 1", None),
        ("'a' * 3", None),
        ("true + 1", None),
        ("-'a'", None),
        ("-null", None),
        ("'a' + 'b'", "ab"),
        ("'a' + null", None),
        ("[1] + [2, 3]", [1, 2, 3]),
    ],
)
def test_arithmetic(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_arithmetic_overflow_is_null() -> None:
    assert run("event.data.n + 1.5", {"n": 10**400}) is None
    assert run("event.data.n * 2", {"n": 10**400}) == 2 * 10**400


def test_negation_of_a_path() -> None:
    assert run("-event.data.n", {"n": 3}) == -3
    assert run("-event.data.n", {"n": "3"}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (1.0, "1"),
        (-3.0, "-3"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (float("nan"), "NaN"),
        ([1, "a", None, 2.0], '[1,"a",null,2]'),
        ({"b": 1, "a": [True, 1.5]}, '{"a":[true,1.5],"b":1}'),
        ({"z": {"y": 1.0, "x": "é"}}, '{"z":{"x":"é","y":1}}'),
        ((1, 2), "[1,2]"),
    ],
)
def test_key_value(value: Any, expected: str) -> None:
    assert key_value(value) == expected


def test_key_value_makes_equal_values_equal_keys() -> None:
    assert key_value(1) == key_value(1.0)
    assert key_value({"a": 1, "b": [2]}) == key_value({"b": [2.0], "a": 1.0})
    assert key_value(1) != key_value("1.5")
    assert json.loads(key_value({"b": 1, "a": 2})) == {"a": 2, "b": 1}


def test_key_from_expression() -> None:
    expression = compile_expression("event.data.user + ':' + event.data.plan")
    variables = {"event": {"data": {"user": "u1", "plan": 3.0}}}
    assert key_value(expression.evaluate(variables)) == "u1:3"
    assert key_value(compile_expression("event.data.missing").evaluate(variables)) == ""


# --- logic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true || false && false", True),  # && binds tighter than ||
        ("(true || false) && false", False),
        ("false && false || true", True),
        ("1 < 2 && 2 < 3", True),
        ("1 + 1 == 2 && 'a' != 'b'", True),
        ("!true", False),
        ("!!1", True),
        ("!null", True),
        ("!''", True),
        ("![]", True),
        ("!'x'", False),
        ("1 && 'a'", True),  # && and || return booleans, not operands
        ("0 || ''", False),
        ("[] || [0]", True),
    ],
)
def test_logic(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("x", True, False),  # (!a) == b; !(a == b) would be true
        ("x", False, True),
        ("", True, True),
        (0, 0, False),  # !0 is true, and true is not 0
    ],
)
def test_not_binds_tighter_than_equality(a: Any, b: Any, expected: bool) -> None:
    assert compile_expression("!a == b").evaluate({"a": a, "b": b}) is expected


class RecordingScope(Mapping[str, Any]):
    """A variables mapping that records which names were looked up."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._data = values
        self.seen: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.seen.append(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("false && other.x.y == 1", False),
        ("event.data.off && other.x", False),
        ("true || other.x", True),
        ("event.data.on || lowercase(other.x)", True),
        ("1 == 2 && other", False),
    ],
)
def test_short_circuit(source: str, expected: bool) -> None:
    scope = RecordingScope({"event": {"data": {"on": 1, "off": 0}}, "other": {"x": 1}})
    assert compile_expression(source).evaluate(scope) is expected
    assert "other" not in scope.seen


def test_no_short_circuit_when_needed() -> None:
    scope = RecordingScope({"other": {"x": 1}})
    assert compile_expression("true && other.x == 1").evaluate(scope) is True
    assert scope.seen == ["other"]


def test_long_or_chain_is_flattened() -> None:
    source = " || ".join(f"n == {i}" for i in range(3 * MAX_DEPTH))
    expression = compile_expression(source)
    assert expression.matches({"n": 3 * MAX_DEPTH - 1}) is True
    assert expression.matches({"n": 3 * MAX_DEPTH}) is False


# --- in, functions, literals --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2 in [1, 2, 3]", True),
        ("4 in [1, 2, 3]", False),
        ("2.0 in [1, 2]", True),
        ("true in [1]", False),
        ("null in [null]", True),
        ("'b' in ['a', 'b',]", True),
        ("1 in []", False),
        ("'k' in event.data", True),
        ("'z' in event.data", False),
        ("'x' in event.data.tags", True),
        ("event.data.k in ['v', 'w']", True),
        ("1 in event.data.missing", False),
        ("'a' in 'abc'", False),
        ("[1] in [[1], [2]]", True),
        ("1 + 1 in [2]", True),
    ],
)
def test_in_operator(source: str, expected: bool) -> None:
    assert run(source, {"k": "v", "tags": ["x", "y"]}) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("lowercase('AbC')", "abc"),
        ("lowercase(event.data.name) == 'alice'", True),
        ("uppercase('AbC')", "ABC"),
        ("lowercase(1)", None),
        ("uppercase(event.data.missing)", None),
        ("size('héllo')", 5),
        ("size(event.data.list)", 3),
        ("size(event.data)", 4),
        ("size([])", 0),
        ("size(1)", None),
        ("size(event.data.missing)", None),
        ("has(event.data.name)", True),
        ("has(event.data.empty)", True),  # present with an explicit null
        ("has(event.data.missing)", False),
        ("has(event.data.name.first)", False),
        ("has(event.data['list'][2])", True),
        ("has(event.data.list[3])", False),
        ("has(event)", True),
        ("has(async)", False),
        ("has(async.data.x)", False),
    ],
)
def test_functions(source: str, expected: Any) -> None:
    data = {"name": "ALICE", "list": [1, 2, 3], "empty": None, "z": 0}
    assert run(source, data) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'a\\nb\\tc\\rd'", "a\nb\tc\rd"),
        ('"single \' inside"', "single ' inside"),
        ("'double \" inside'", 'double " inside'),
        ("''", ""),
        ("'héllo ✓'", "héllo ✓"),
        ("0", 0),
        ("42", 42),
        ("-2", -2),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2E-2", 0.02),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 'a', null, [true]]", [1, "a", None, [True]]),
        ("  \n\t 7 \n", 7),
    ],
)
def test_literals(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_list_literal_is_fresh_each_time() -> None:
    expression = compile_expression("[1, 2]")
    first = expression.evaluate({})
    first.append(3)
    assert expression.evaluate({}) == [1, 2]


def test_variables_mapping_is_not_modified() -> None:
    variables = {"event": {"data": {"a": [1]}}}
    compile_expression("event.data.a + [2]").evaluate(variables)
    assert variables == {"event": {"data": {"a": [1]}}}


# --- CEL that Inngest users write: methods, macros, timestamps -----------------------------

TEXT_DATA = {
    "email": "Ada@Example.com",
    "title": "release v2.1",
    "tags": ["urgent", "billing"],
    "plan": {"name": "pro", "seats": 3},
    "n": 7,
    "empty": "",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.data.email.endsWith('@Example.com')", True),
        ("event.data.email.endsWith('@example.com')", False),  # case matters, as in CEL
        ("event.data.email.startsWith('Ada')", True),
        ("event.data.title.contains('v2')", True),
        ("event.data.title.contains('v3')", False),
        ("event.data.empty.startsWith('')", True),
        ("lowercase(event.data.email).endsWith('@example.com')", True),
        # false, not an error, on anything but strings (Inngest: false on a missing field)
        ("event.data.n.startsWith('7')", False),
        ("event.data.tags.contains('urgent')", False),  # lists use `in`
        ("event.data.missing.contains('x')", False),
        ("event.data.title.contains(event.data.missing)", False),
        ("!event.data.missing.endsWith('x')", True),
        ("event.data.title.size()", 12),
        ("event.data.tags.size()", 2),
        ("event.data.plan.size()", 2),
        ("event.data.tags.size() == size(event.data.tags)", True),
        ("event.data.missing.size()", None),
        ("event.data.n.size()", None),
        ("'héllo'.size()", 5),
        ("[1, 2, 3].size() > 2", True),
    ],
)
def test_string_and_size_methods(source: str, expected: Any) -> None:
    assert run(source, TEXT_DATA) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.data.title.matches('v[0-9]+')", True),  # found anywhere, as CEL's matches
        ("event.data.title.matches('^v[0-9]+')", False),
        (r"event.data.title.matches('^release v\\d+\\.\\d+$')", True),
        ("event.data.email.matches('(?i)^ada@')", True),
        ("event.data.email.matches('^ada@')", False),
        ("matches(event.data.title, 'release')", True),
        ("event.data.n.matches('7')", False),
        ("event.data.missing.matches('.*')", False),
        ("event.data.title.matches(event.data.pattern)", True),
        ("event.data.title.matches(event.data.bad_pattern)", False),  # invalid at run time
        ("event.data.title.matches(event.data.missing)", False),
    ],
)
def test_matches(source: str, expected: bool) -> None:
    data = {**TEXT_DATA, "pattern": "v2\\.", "bad_pattern": "(unclosed"}
    assert run(source, data) is expected


def test_matches_takes_linear_time() -> None:
    # A pattern that makes a backtracking engine take exponential time; RE2 does not backtrack.
    expression = compile_expression("event.data.text.matches('^(a+)+$')")
    start = time.perf_counter()
    assert expression.evaluate({"event": {"data": {"text": "a" * 5000 + "!"}}}) is False
    assert time.perf_counter() - start < 1.0


MACRO_DATA = {
    "tags": ["urgent", "billing", "vip"],
    "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 0}],
    "counts": {"x": 1, "y": 2},
    "groups": [[1, 2], [3], []],
    "empty": [],
    "n": 5,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.data.tags.exists(t, t == 'vip')", True),
        ("event.data.tags.exists(t, t == 'other')", False),
        ("event.data.items.exists(i, i.sku == 'b' && i.qty == 0)", True),
        ("event.data.items.all(i, i.qty > 0)", False),
        ("event.data.items.all(i, has(i.sku))", True),
        ("event.data.tags.exists_one(t, t.startsWith('u'))", True),
        ("event.data.tags.exists_one(t, t.size() > 3)", False),
        ("event.data.tags.filter(t, t != 'billing')", ["urgent", "vip"]),
        ("event.data.items.map(i, i.qty * 10)", [20, 0]),
        ("event.data.items.filter(i, i.qty > 0).map(i, i.sku)", ["a"]),
        ("event.data.tags.filter(t, t.size() > 3).size()", 2),
        # a map's keys
        ("event.data.counts.exists(k, k == 'y')", True),
        ("event.data.counts.all(k, event.data.counts[k] > 0)", True),
        ("event.data.counts.map(k, k)", ["x", "y"]),
        # nested, with the inner variable shadowing nothing and the outer one still bound
        ("event.data.groups.exists(g, g.all(x, x > 2))", True),  # [] is vacuously all
        ("event.data.groups.all(g, g.exists(x, x > 0))", False),
        ("event.data.groups.map(g, g.size())", [2, 1, 0]),
        ("event.data.groups.exists(g, g.exists(x, x == event.data.n - 2))", True),
        # truthiness of the predicate, as for &&
        ("['', 'a', null].filter(s, s)", ["a"]),
        # empty, missing and wrong types
        ("event.data.empty.exists(x, true)", False),
        ("event.data.empty.all(x, false)", True),
        ("event.data.missing.exists(x, true)", False),
        ("event.data.missing.all(x, true)", False),
        ("event.data.n.exists(x, true)", False),
        ("event.data.missing.filter(x, true)", None),
        ("event.data.missing.map(x, x)", None),
        # the variable shadows a top-level name inside the macro only
        ("[1, 2].exists(event, event == 2) && event.data.n == 5", True),
    ],
)
def test_macros(source: str, expected: Any) -> None:
    assert run(source, MACRO_DATA) == expected


def test_macro_stops_once_the_answer_is_known() -> None:
    scope = RecordingScope({"xs": [1, 2], "other": {"y": 1}})
    assert compile_expression("xs.exists(x, x == 1 || other.y == 1)").evaluate(scope) is True
    assert compile_expression("xs.all(x, x == 2 && other.y == 1)").evaluate(scope) is False
    assert "other" not in scope.seen


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("event.data.tags.exists(t, t == 'a')", {"event"}),
        ("event.data.tags.exists(t, t == async.data.tag)", {"event", "async"}),
        ("[1].exists(event, event == 1)", set()),
        ("xs.map(x, x).exists(y, x == y)", {"xs", "x"}),  # x is bound in map() only
    ],
)
def test_variables_of_macros(source: str, names: set[str]) -> None:
    assert compile_expression(source).variables() == frozenset(names)


TIME_DATA = {
    "created": "2025-03-01T10:00:00+01:00",
    "paid": "2025-03-01T09:45:30.250Z",
    "bad": "yesterday",
    "window": "15m",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("timestamp(event.data.created) == timestamp('2025-03-01T09:00:00Z')", True),
        ("timestamp(event.data.created) < timestamp(event.data.paid)", True),
        ("timestamp(event.data.created) >= timestamp('2025-03-01T09:00:00.000001Z')", False),
        ("timestamp(event.data.paid) - timestamp(event.data.created) > duration('45m')", True),
        (
            "timestamp(event.data.created) + duration(event.data.window) "
            "== timestamp('2025-03-01T09:15:00Z')",
            True,
        ),
        ("timestamp(event.data.paid) - duration('1h') < timestamp(event.data.created)", True),
        ("duration('1h30m') == duration('90m')", True),
        ("duration('1h') + duration('30m') == duration('5400s')", True),
        ("duration('-1h') < duration('0s')", True),
        ("-duration('1h') == duration('-60m')", True),
        ("duration('1.5s') > duration('1500ms')", False),
        # lenient, like every other operation: a bad or missing value is null
        ("timestamp(event.data.bad) == null", True),
        ("timestamp(event.data.missing) < timestamp('2025-01-01T00:00:00Z')", False),
        ("timestamp(event.data.missing) > timestamp('2025-01-01T00:00:00Z')", False),
        ("timestamp(event.data.created) > event.data.created", False),  # not a string
        ("duration('1h') == 3600", False),
        ("timestamp(event.data.created) + 1 == null", True),
        ("timestamp(event.data.created) + timestamp(event.data.paid) == null", True),
        ("timestamp('9999-12-31T23:00:00Z') + duration('2h') == null", True),  # overflow
    ],
)
def test_timestamps_and_durations(source: str, expected: bool) -> None:
    assert run(source, TIME_DATA) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("timestamp(event.data.created)", "2025-03-01T09:00:00Z"),
        ("timestamp(event.data.paid)", "2025-03-01T09:45:30.250000Z"),
        ("timestamp(event.data.paid) - timestamp(event.data.created)", "2730.25s"),
        ("duration('1h30m')", "5400s"),
        ("duration('-90s')", "-90s"),
        ("duration('1ms')", "0.001s"),
        ("[duration('2s'), timestamp(event.data.created)]", '["2s","2025-03-01T09:00:00Z"]'),
        ("event.data.window + ':' + duration(event.data.window)", None),  # not joined
    ],
)
def test_keys_from_timestamps_and_durations(source: str, expected: str | None) -> None:
    value = run(source, TIME_DATA)
    assert (None if value is None else key_value(value)) == expected


@pytest.mark.parametrize(
    ("source", "position", "fragment"),
    [
        ("timestamp('yesterday')", 10, "invalid timestamp 'yesterday'"),
        ("timestamp(1)", 10, "invalid timestamp 1"),
        ("duration('1x')", 9, "invalid duration '1x'"),
        ("x.matches('(a')", 10, "invalid regular expression '(a': missing )"),
        ("x.matches('(a)\\\\1')", 10, "invalid regular expression"),  # no backreferences
        ("matches(x, 1)", 11, "matches() needs a string pattern"),
        ("matches('a')", 0, "matches() takes 2 arguments, got 1"),
        ("x.startsWith()", 2, ".startsWith() takes 1 argument, got 0"),
        ("x.size(1)", 2, ".size() takes 0 arguments, got 1"),
        ("x.exists(y)", 2, ".exists() takes 2 arguments, got 1"),
        ("x.all(y.z, true)", 7, ".all() needs a variable name first"),
        ("x.map(1, 2)", 6, ".map() needs a variable name first"),
        ("x.lowercase()", 2, "unknown method 'lowercase'"),
        ("startsWith(x, 'a')", 0, "unknown function 'startsWith'"),
    ],
)
def test_compile_errors_of_the_cel_additions(source: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    message = str(caught.value)
    assert f"at position {position} " in message
    assert fragment in message


# --- compiling ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "fragment"),
    [
        ("event.data.x == )", 16, "unexpected token ')'"),
        ("event.data.x ==", 15, "unexpected end of expression"),
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("'abc", 0, "unterminated string"),
        ("event.data.x == 'abc", 16, "unterminated string"),
        ("'abc\\", 0, "unterminated string"),
        ("'a\\qb'", 2, "unknown escape sequence '\\\\q'"),
        ("event.data.x = 1", 13, "unexpected character '='"),
        ("a & b", 2, "unexpected character '&'"),
        ("a | b", 2, "unexpected character '|'"),
        ("a @ b", 2, "unexpected character '@'"),
        ("a b", 2, "unexpected token 'b'"),
        ("event.data.x == 1 2", 18, "unexpected token '2'"),
        ("1,2", 1, "unexpected token ','"),
        ("(1 + 2", 6, "expected ')'"),
        ("[1, 2", 5, "expected ',' or ']'"),
        ("x[1", 3, "expected ']'"),
        ("()", 1, "unexpected token ')'"),
        ("1 +* 2", 3, "unexpected token '*'"),
        ("a..b", 2, "unexpected token '.'"),
        ("a.1", 2, "unexpected token '1'"),
        ("a.'b'", 2, "unexpected token \"'b'\""),
        ("in", 0, "unexpected token 'in'"),
        ("1 in", 4, "unexpected end of expression"),
        ("12abc", 0, "malformed number '12abc'"),
        ("x == 1e", 5, "malformed number '1e'"),
        ("foo(1)", 0, "unknown function 'foo'"),
        ("event.data.x == bar()", 16, "unknown function 'bar'"),
        ("lowercase(1, 2)", 0, "lowercase() takes 1 argument, got 2"),
        ("size()", 0, "size() takes 1 argument, got 0"),
        ("lowercase(1 2)", 12, "expected ',' or ')'"),
        ("has(1)", 4, "has() needs a field path"),
        ("has(lowercase(x))", 4, "has() needs a field path"),
        ("event.data.foo()", 11, "unknown method 'foo'"),
        ("é", 0, "unexpected character 'é'"),
    ],
)
def test_compile_errors(source: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    message = str(caught.value)
    assert f"at position {position} " in message
    assert fragment in message
    assert repr(source) in message


def test_error_message_example() -> None:
    with pytest.raises(ExpressionError, match=r"^unexpected token '\)' at position 16 in "):
        compile_expression("event.data.x == )")


def test_error_in_long_source_shows_a_window() -> None:
    source = "event.data.x == 1 && " * 20 + "event.data.y == )"
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    message = str(caught.value)
    assert f"at position {len(source) - 1} " in message
    assert message.endswith("in '...&& event.data.x == 1 && event.data.y == )'")
    assert len(message) < 200
    with pytest.raises(ExpressionError) as caught:
        compile_expression("event.data.y == ) && " + "event.data.x == 1 && " * 20 + "true")
    assert str(caught.value).endswith(
        " in 'event.data.y == ) && event.data.x == 1 && event.data.x =...'"
    )


@pytest.mark.parametrize(
    "source",
    [
        "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "!" * (MAX_DEPTH + 1) + "true",
        "-" * (MAX_DEPTH + 1) + "1",
        "x" + "[0]" * (MAX_DEPTH + 1),
        "event" + ".a" * (MAX_DEPTH + 1),
        "1" + " + 1" * (MAX_DEPTH + 1),
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "size(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "(" * 4000,
        "!" * 4000,
        "a" + ".b" * 2000,
        "[" * 4000,
    ],
)
def test_depth_limit(source: str) -> None:
    assert len(source) <= MAX_SOURCE_LENGTH
    with pytest.raises(ExpressionError, match=rf"nests more than {MAX_DEPTH} levels deep"):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "(" * 30 + "1" + ")" * 30,
        "!" * 30 + "true",
        "event" + ".a" * 30,
        "1" + " + 1" * 30,
    ],
)
def test_moderate_nesting_is_fine(source: str) -> None:
    compile_expression(source).evaluate({})


def test_source_length_limit() -> None:
    compile_expression("1" + " " * (MAX_SOURCE_LENGTH - 1))
    with pytest.raises(ExpressionError, match="characters long; the limit is 4096"):
        compile_expression("1" + " " * MAX_SOURCE_LENGTH)


def test_compiled_expressions_are_cached_and_immutable() -> None:
    first = compile_expression("event.data.cached == 1")
    assert compile_expression("event.data.cached == 1") is first
    assert isinstance(first, Expression)
    assert first.source == "event.data.cached == 1"
    assert repr(first) == "Expression(source='event.data.cached == 1')"
    with pytest.raises(AttributeError):
        first.source = "other"  # type: ignore[misc]


def test_non_string_source_is_an_expression_error() -> None:
    source: Any = 1
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(source)


def test_deeply_nested_data_does_not_raise() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    other: Any = 1
    for _ in range(5000):
        other = [other]
    expression = compile_expression("event.data.a == event.data.b")
    assert expression.evaluate({"event": {"data": {"a": deep, "b": other}}}) is None


# --- property -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def value_and_literal(draw: st.DrawFn) -> tuple[Any, int]:
    literal = draw(st.integers(min_value=-(2**200), max_value=2**200))
    near = st.sampled_from([literal, float(literal), literal + 1, bool(literal % 2)])
    return draw(st.one_of(json_values, near)), literal


@given(value_and_literal())
def test_equality_with_int_literal_agrees_with_python(case: tuple[Any, int]) -> None:
    value, literal = case
    expression = compile_expression(f"event.data.v == {literal}")
    # Booleans are not numbers in CEL, so `true == 1` is false where Python says True.
    expected = not isinstance(value, bool) and value == literal
    assert expression.evaluate({"event": {"data": {"v": value}}}) is expected
    assert run(f"event.data.v != {literal}", {"v": value}) is not expected


@given(st.integers(), st.integers())
def test_integer_arithmetic_agrees_with_python(a: int, b: int) -> None:
    assert run(f"{a} + {b}") == a + b
    assert run(f"{a} - {b}") == a - b
    assert run(f"{a} * {b}") == a * b
    assert run(f"{a} < {b}") is (a < b)
    quotient, remainder = run(f"{a} / {b}"), run(f"{a} % {b}")
    if b == 0:
        assert quotient is None
        assert remainder is None
    else:  # truncating division, remainder with the dividend's sign (as in CEL and Go)
        assert quotient * b + remainder == a
        assert abs(remainder) < abs(b)
        assert remainder == 0 or (remainder < 0) == (a < 0)


# --- compiled once per sync ---------------------------------------------------------------


def _registration(**function: Any) -> dict[str, Any]:
    step = {"step": {"id": "step", "runtime": {"url": "http://app/api/inngest?fnId=fn"}}}
    config = {"id": "app-fn", "name": "fn", "steps": step, **function}
    return {"appName": "app", "url": "http://app/api/inngest", "functions": [config]}


def test_a_sync_keeps_the_compiled_expressions_on_the_function() -> None:
    payload = _registration(
        triggers=[{"event": "shop/order", "expression": "event.data.items.exists(i, i.qty > 1)"}],
        concurrency=[{"limit": 1, "key": "event.data.account"}],
        cancel=[{"event": "shop/cancel", "if": "async.data.id == event.data.id"}],
    )
    fn = parse_registration(payload).functions[0]
    trigger = fn.triggers[0]
    assert isinstance(trigger.expression, Expression)
    assert trigger.expression.matches({"event": {"data": {"items": [{"qty": 2}]}}}) is True
    assert fn.concurrency[0].key == compile_expression("event.data.account")
    assert fn.cancel[0].expression is not None
    assert fn.cancel[0].expression.variables() == {"async", "event"}


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ({"triggers": [{"event": "e", "expression": "event.data.x == )"}]}, "unexpected token"),
        (
            {"triggers": [{"event": "e"}], "throttle": {"limit": 1, "period": "1s", "key": "a."}},
            "unexpected end of expression",
        ),
        (
            {"triggers": [{"event": "e", "expression": "event.data.s.matches('(')"}]},
            "invalid regular expression",
        ),
        (
            {"triggers": [{"event": "e", "expression": "timestamp('soon') < timestamp('x')"}]},
            "invalid timestamp 'soon'",
        ),
    ],
)
def test_a_bad_expression_fails_the_sync(function: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RegistrationError, match="function 'app-fn'") as caught:
        parse_registration(_registration(**function))
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("event.data.plan == 'enterprise' ? 120 : 0", {"plan": "enterprise"}, 120),
        ("event.data.plan == 'enterprise' ? 120 : 0", {"plan": "free"}, 0),
        ("event.data.a ? 1 : event.data.b ? 2 : 3", {"a": False, "b": True}, 2),
        ("event.data.a ? 1 : event.data.b ? 2 : 3", {}, 3),
        ("(event.data.n > 1 ? 'many' : 'one') + '!'", {"n": 5}, "many!"),
        ("event.data.ok ? event.data.x.y : 0", {"ok": False}, 0),  # the untaken branch
    ],
)
def test_conditional_operator(source: str, data: dict[str, Any], expected: Any) -> None:
    assert compile_expression(source).evaluate({"event": {"data": data}}) == expected


@pytest.mark.parametrize("source", ["event.data.a ? 1", "event.data.a ? 1 :", "? 1 : 2"])
def test_incomplete_conditional_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source)
