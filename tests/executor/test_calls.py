"""The body of a call: memos stored as canonical JSON text are spliced in as they are,
and the body is still exactly the JCS form of the whole payload (what gets signed)."""

from __future__ import annotations

import json

from pagerunner.executor.calls import RawJSON, build_request
from pagerunner.executor.signing import canonical_json

EVENT = {"name": "app/go", "data": {"steps": {}, "é": [1.0, None]}, "id": "01", "ts": 1, "user": {}}
MEMOS = {
    "b2": {"data": {"z": 1, "a": "\u2028"}},
    "a1": {"error": {"name": "E"}},
    "\U0001f600": None,
}


def request(memo: dict[str, object]) -> bytes:
    body, _ = build_request(
        run_id="run",
        events=[EVENT],
        memo=memo,
        stack=list(memo),
        attempt=2,
        max_attempts=4,
        force_plan=True,
        signing_key="signkey-test-abc",
    )
    return body


def test_raw_memos_give_the_canonical_body_of_the_payload() -> None:
    raw = {k: RawJSON(canonical_json(v).decode()) for k, v in MEMOS.items()}
    body = request(raw)
    assert body == request(MEMOS)
    assert body == canonical_json(json.loads(body))
    assert json.loads(body)["steps"] == MEMOS
