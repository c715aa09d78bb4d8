"""`step.ai.infer` as Inngest's server runs it (issue 11, item 9).

A real Python SDK function calls `ctx.step.ai.infer` with the SDK's OpenAI and Anthropic
adapters pointed at a stand-in model (a FastAPI app over loopback HTTP): the executor
makes the request the op describes (the key where the format wants it), memoizes the
answer as the step's result, retries the call while the model fails and then hands the
function an `AIGatewayError` it can catch; the key is stored and shown nowhere.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest
from inngest.experimental.ai import anthropic, openai

from pagerunner.executor import serve_http
from tests.conftest import free_port

from .conftest import Harness, harness
from .sdk_app import Ledger, sdk_client

KEY = "sk-test-4f1d9c"


class Model:
    """A stand-in model: answers each request with the next status, and records it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures = 0  # how many requests answer 500 first

    def app(self) -> fastapi.FastAPI:
        app = fastapi.FastAPI()

        @app.post("/v1/{path:path}")
        async def infer(path: str, request: fastapi.Request) -> Any:
            body = json.loads(await request.body())
            self.requests.append({"path": path, "headers": dict(request.headers), "body": body})
            if self.failures > 0:
                self.failures -= 1
                return fastapi.responses.JSONResponse({"error": f"overloaded {KEY}"}, 500)
            question = body["messages"][-1]["content"]
            return {"choices": [{"message": {"content": f"echo: {question}"}}], "id": path}

        return app


def build(model_url: str) -> Any:
    def build_app(
        *, api_origin: str, signing_key: str | None = None
    ) -> tuple[fastapi.FastAPI, Ledger]:
        client = sdk_client(app_id="aiapp", api_origin=api_origin, signing_key=signing_key)
        ledger = Ledger()

        @client.create_function(
            fn_id="ask", trigger=inngest.TriggerEvent(event="ai/ask"), retries=2
        )
        async def ask(ctx: inngest.Context) -> Any:
            if ctx.event.data.get("format") == "anthropic":
                adapter: Any = anthropic.Adapter(
                    auth_key=KEY, base_url=f"{model_url}/v1", model="claude-test"
                )
            else:
                adapter = openai.Adapter(
                    auth_key=KEY, base_url=f"{model_url}/v1", model="gpt-test", headers={"x-t": "1"}
                )
            body = {"messages": [{"role": "user", "content": ctx.event.data["q"]}]}
            try:
                answer = await ctx.step.ai.infer("infer", adapter=adapter, body=body)
            except inngest.StepError as exc:
                return {"caught": exc.name, "message": exc.message}

            async def after() -> str:
                return "after"

            return {"answer": answer, "then": await ctx.step.run("after", after)}

        app = fastapi.FastAPI()
        inngest.fast_api.serve(app, client, [ask])
        return app, ledger

    return build_app


@pytest.fixture
async def ai(tmp_path: Path) -> AsyncIterator[tuple[Harness, Model]]:
    model = Model()
    port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serve_http(model.app(), host="127.0.0.1", port=port))
        h = await stack.enter_async_context(
            harness(tmp_path, "http", build=build(f"http://127.0.0.1:{port}"))
        )
        yield h, model


async def test_the_executor_makes_the_request_and_memoizes_the_answer(
    ai: tuple[Harness, Model],
) -> None:
    h, model = ai
    run = await h.finished(await h.send("ai/ask", {"q": "hi"}))
    assert run["status"] == "Completed", run
    answer = {"choices": [{"message": {"content": "echo: hi"}}], "id": "chat/completions"}
    assert run["output"] == {"answer": answer, "then": "after"}
    [request] = model.requests  # made once: the next call had it as a memo
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["headers"]["x-t"] == "1"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"]["model"] == "gpt-test"
    steps = await h.steps(run["id"])
    assert [s["name"] for s in steps] == ["infer", "after"]
    assert steps[0]["op"] == "AIGateway"
    assert KEY not in json.dumps(steps)


async def test_anthropic_gets_the_key_in_x_api_key(ai: tuple[Harness, Model]) -> None:
    h, model = ai
    run = await h.finished(await h.send("ai/ask", {"q": "yo", "format": "anthropic"}))
    assert run["status"] == "Completed", run
    [request] = model.requests
    assert request["path"] == "messages"
    assert request["headers"]["x-api-key"] == KEY
    assert "authorization" not in request["headers"]


async def test_a_failing_model_is_retried_then_the_function_catches_the_error(
    ai: tuple[Harness, Model],
) -> None:
    h, model = ai
    model.failures = 1
    run = await h.finished(await h.send("ai/ask", {"q": "again"}))
    assert run["status"] == "Completed", run
    assert run["output"]["answer"]["choices"][0]["message"]["content"] == "echo: again"
    assert len(model.requests) == 2  # the call was retried, and the app asked again

    model.requests.clear()
    model.failures = 10
    run = await h.finished(await h.send("ai/ask", {"q": "never"}))
    assert run["status"] == "Completed", run
    assert run["output"] == {
        "caught": "AIGatewayError",
        "message": "Error making AI request: unsuccessful status code: 500",
    }
    assert len(model.requests) == 3  # retries=2: three attempts
    steps = json.dumps(await h.steps(run["id"]))
    assert "overloaded [redacted]" in steps  # the model's answer, without the key
    assert KEY not in steps
