"""Each SDK behaviour, end to end, over the in-process and the HTTP transport."""

from __future__ import annotations

from .conftest import Harness


async def test_sequential_steps_complete_with_output(h: Harness) -> None:
    event_id = await h.send("test/sequential", {"n": 41})
    run = await h.finished(event_id)
    assert run["status"] == "Completed"
    assert run["output"] == {"a": 41, "b": 42}
    steps = [e["step"] for e in h.ledger.for_run(run["id"])]
    assert steps == ["first", "second"]  # each step body ran exactly once
