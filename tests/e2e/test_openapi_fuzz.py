"""Fuzz the OpenAPI of the app and of the executor with schemathesis, over real HTTP.

`pagerunner serve` runs in a subprocess (app, embedded executor and simulated
provider); schemathesis generates valid and invalid requests for every
documented operation. Two checks must hold for all of them: no answer is a 5xx,
and every status code an operation answers is one its OpenAPI documents.
Marked `fuzz` (and `slow`): CI runs it as its own step (`uv run pytest -m fuzz`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from .conftest import process_env

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance]
FUZZ = settings(
    max_examples=int(os.environ.get("PAGERUNNER_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`pagerunner serve` in a subprocess; the origins of its app and its executor."""
    env = process_env(tmp_path_factory.mktemp("fuzz") / "fuzz.db", log_level="warning")
    origins = {
        "app": f"http://127.0.0.1:{env['PAGERUNNER_PORT']}",
        "executor": f"http://127.0.0.1:{env['PAGERUNNER_EXECUTOR_PORT']}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pagerunner", "serve"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(origins["app"] + "/healthz", proc)
        # A query, so that the operations on one have something real to work on.
        httpx.post(
            origins["app"] + "/api/queries/run",
            json={"source": "demo", "params": {"q": "fuzz total:5"}},
        ).raise_for_status()
        yield origins
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert proc.poll() is None, "pagerunner serve exited"
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("pagerunner serve did not start")


def _fuzz(openapi_url: str, mode: GenerationMode) -> list[str]:
    """Run every operation's generated cases; the failures, one line each."""
    schema = schemathesis.openapi.from_url(openapi_url)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to negate (no parameters, or any string is valid)
            continue
        except (Exception, BaseExceptionGroup) as exc:  # failed checks: report them all
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
            for one in found:
                lines = [line.strip() for line in str(one).splitlines() if line.strip()][:6]
                failures.append(f"{operation.method.upper()} {operation.path}: {' | '.join(lines)}")
    return failures


@pytest.mark.parametrize("server", ["app", "executor"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_with_a_documented_non_5xx(
    served: dict[str, str], server: str, mode: GenerationMode
) -> None:
    failures = _fuzz(served[server] + "/openapi.json", mode)
    assert not failures, "\n".join(failures)


def test_the_documents_name_the_edge_answers(served: dict[str, str]) -> None:
    """413 and 422 (from the bounds on every request) are documented on every operation."""
    for origin in served.values():
        document = httpx.get(origin + "/openapi.json").json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                assert {"413", "422"} <= set(operation["responses"]), (origin, method, path)


def test_paths_are_not_leaked_in_answers(served: dict[str, str]) -> None:
    """The fuzzed server wrote no file path or traceback into an answer it gave (spot check)."""
    for url in (
        served["app"] + "/api/inngest?fnId=nope&stepId=step",
        served["executor"] + "/e/key",
    ):
        response = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
        assert response.status_code < 500
        assert "Traceback" not in response.text and ".py" not in response.text
