"""`priority.run` factors: seconds from the event, clamped as Inngest clamps them."""

from __future__ import annotations

from typing import Any

import pytest

from pagerunner.executor.expressions import compile_expression
from pagerunner.executor.flow import priority_factor


@pytest.mark.parametrize(
    ("value", "factor"),
    [
        (120, 120),
        (-30, -30),
        (5.7, 5),
        (10_000, 600),
        (-1e12, -600),
        (float("inf"), 600),
        (float("nan"), 0),
        (None, 0),
        ("120", 0),
        (True, 0),
    ],
)
def test_factor_of_the_expression_value(value: Any, factor: int) -> None:
    event = {"name": "e", "data": {"p": value}}
    assert priority_factor(compile_expression("event.data.p"), event) == factor


def test_no_expression_and_a_missing_field_give_no_factor() -> None:
    assert priority_factor(None, {"name": "e", "data": {}}) == 0
    assert priority_factor(compile_expression("event.data.p"), {"name": "e", "data": {}}) == 0
    tiers = compile_expression("event.data.plan == 'enterprise' ? 120 : 0")
    assert priority_factor(tiers, {"name": "e", "data": {"plan": "enterprise"}}) == 120
