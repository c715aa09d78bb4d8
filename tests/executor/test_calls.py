"""The body of a call: memos stored as canonical JSON text are spliced in as they are,
and the body is still exactly the JCS form of the whole payload (what gets signed)."""

from __future__ import annotations

import json

from pagerunner.executor.calls import RawJSON, build_request, interpret
from pagerunner.executor.signing import canonical_json
from pagerunner.executor.transport import AppResponse

EVENT = {"name": "app/go", "data": {"steps": {}, "é": [1.0, None]}, "id": "01", "ts": 1, "user": {}}
MEMOS = {
    "b2": {"data": {"z": 1, "a": "\u2028"}},
    "a1": {"error": {"name": "E"}},
    "\U0001f600": None,
}


def request(memo: dict[str, object], events: list[dict[str, object]] | None = None) -> bytes:
    body, _ = build_request(
        run_id="run",
        events=events or [EVENT],
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


def test_the_request_version_is_in_the_header_and_the_body() -> None:
    for version in (-1, 1, 2):
        body, headers = build_request(
            run_id="run",
            events=[EVENT],
            memo={},
            stack=[],
            attempt=0,
            max_attempts=4,
            force_plan=False,
            signing_key=None,
            request_version=version,
        )
        assert json.loads(body)["version"] == version
        assert body == canonical_json(json.loads(body))
        assert headers["x-inngest-req-version"] == str(version)


def test_the_version_an_app_answers_is_read_as_inngest_reads_it() -> None:
    def answered(value: str | None) -> int:
        headers = {"x-inngest-sdk": "inngest-js:v3.54.2"}
        if value is not None:
            headers["x-inngest-req-version"] = value
        response = AppResponse(
            status=206, headers=headers, body=b'[{"op": "StepPlanned", "id": "a"}]'
        )
        return interpret(response, ()).request_version

    assert answered("1") == 1
    assert answered("2") == 2
    assert answered(None) == 0  # Go's strconv.Atoi("") fails: 0
    assert answered("two") == 0


def test_a_batchs_events_are_the_canonical_array() -> None:
    second = {"name": "app/go", "data": {"b": 2, "a": [0.5]}, "id": "02", "ts": 2, "user": {}}
    body = request({}, events=[EVENT, second])
    assert body == canonical_json(json.loads(body))
    assert json.loads(body)["events"] == [EVENT, second]
    assert json.loads(body)["event"] == EVENT
