"""Signed webhooks end to end: a receiving server over real HTTP, the app, the executor.

The receiver is a small FastAPI app on a free port. The app is allowed to call
private addresses (`webhook_allow_private`), except where a test checks that
it is refused without that setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from pagerunner.executor import serve_http
from pagerunner.simulator import Fault
from tests.conftest import free_port

from .conftest import App, fast_settings, process_env, running_app
from .test_processes import query_until, start

SECRET = "whsec-test"


def verify_signature(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """The verification snippet of docs/queries.md, as a receiver would write it."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance_s:
        return False  # too old (or from the future): a replayed call
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def signed(self) -> bool:
        return verify_signature(SECRET, self.body, self.headers["x-pagerunner-signature"])


@dataclass
class Receiver:
    """Records every call; answers with `answers` in order (then 200)."""

    url: str
    calls: list[Call] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    redirected: int = 0
    #: When set, a call waits for `release` before it answers.
    hold: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def until_calls(self, n: int, timeout_s: float = 20) -> list[Call]:
        deadline = time.monotonic() + timeout_s
        while len(self.calls) < n:
            assert time.monotonic() < deadline, f"{len(self.calls)} calls, expected {n}"
            await asyncio.sleep(0.05)
        return self.calls


def _receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        receiver.calls.append(Call(dict(request.headers), await request.body()))
        receiver.arrived.set()
        if receiver.hold:
            await receiver.release.wait()
        status = receiver.answers.pop(0) if receiver.answers else 200
        if 300 <= status < 400:
            return Response(status_code=status, headers={"location": "/other"})
        return Response(b"no thanks" if status >= 400 else b"ok", status_code=status)

    @app.post("/other")
    async def other() -> Response:
        receiver.redirected += 1
        return Response(b"ok")

    return app


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")
    async with serve_http(_receiver_app(receiver), host="127.0.0.1", port=port):
        try:
            yield receiver
        finally:
            receiver.release.set()


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[tuple[App, Receiver]]:
    settings = fast_settings(
        str(tmp_path / "p.db"), webhook_allow_private=True, webhook_secret=SECRET
    )
    async with running_app(settings) as app, receiving() as receiver:
        yield app, receiver


async def _delivered(app: App, query_id: str, timeout_s: float = 20) -> dict[str, Any]:
    """The query once its latest delivery is delivered or failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        query = await app.query(query_id)
        found = query["webhook_deliveries"]
        if found and found[0]["status"] in ("delivered", "failed"):
            return query
        assert time.monotonic() < deadline, f"no delivery: {query}"
        await asyncio.sleep(0.05)


async def test_a_completed_query_calls_its_webhook_once_signed(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    query_id = await app.run("coffee total:45", "Austin", webhook=receiver.url)
    done = await app.until(query_id)
    assert done["status"] == "completed" and done["webhook"] == receiver.url
    (call,) = await receiver.until_calls(1)
    query = await _delivered(app, query_id)
    await asyncio.sleep(0.5)
    assert len(receiver.calls) == 1
    assert call.signed
    assert not verify_signature("another secret", call.body, call.headers["x-pagerunner-signature"])
    body = call.json
    assert body["type"] == "query.completed"
    assert body["id"] == call.headers["x-pagerunner-delivery"] == f"{query_id}.{done['run_id']}"
    assert call.headers["x-pagerunner-event"] == "query.completed"
    assert call.headers["content-type"] == "application/json"
    assert body["query"]["id"] == query_id and body["query"]["status"] == "completed"
    assert body["query"]["pages_fetched"] == 3
    assert body["query"]["records_fetched"] == body["query"]["records_inserted"] == 45
    origin = app.runtime.settings.public_origin
    assert body["links"]["page"] == f"{origin}/queries/{query_id}"
    results = (await app.api.get(body["links"]["results"].removeprefix(origin))).json()
    assert results["total"] == 45
    (delivery,) = query["webhook_deliveries"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["signed"] and delivery["response_status"] == 200
    page = (await app.api.get(f"/queries/{query_id}")).text
    assert receiver.url in page and "delivered" in page and "signed" in page


async def test_a_failed_query_calls_its_webhook_with_the_error(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    app.sim.add_fault(Fault(kind="invalid_key"))
    query_id = await app.run("pizza", webhook=receiver.url)
    assert (await app.until(query_id))["status"] == "failed"
    (call,) = await receiver.until_calls(1)
    await _delivered(app, query_id)
    assert call.signed
    body = call.json
    assert body["type"] == "query.failed"
    assert body["query"]["error_code"] == "invalid_credentials"
    assert "Invalid API key" in body["query"]["error_message"]


async def test_a_paused_query_calls_its_webhook_with_the_reason(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=2, retry_after_s=600))
    query_id = await app.run("bagels total:90", webhook=receiver.url)
    assert (await app.until(query_id))["status"] == "paused"
    (call,) = await receiver.until_calls(1)
    await _delivered(app, query_id)
    body = call.json
    assert call.signed and body["type"] == "query.paused"
    assert "rate limited" in body["query"]["pause_reason"]
    assert body["query"]["resume_hint"].startswith("automatically at ")
    assert body["query"]["pages_fetched"] == 2
    # Resumed by hand, it completes: a second call, with its own id.
    await app.api.post(f"/api/queries/{query_id}/resume")
    await app.until(query_id, {"completed"})
    first, second = await receiver.until_calls(2)
    assert second.json["type"] == "query.completed" and second.json["id"] != first.json["id"]


async def test_a_combo_calls_its_webhook_once_when_every_query_has_finished(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    body = {
        "source": "demo",
        "params": {"q": ["coffee total:30", "tea total:50", "cake total:10"]},
        "webhook": receiver.url,
    }
    created = (await app.api.post("/api/combos", json=body)).json()
    for query_id in created["query_ids"]:
        await app.until(query_id)
        assert (await app.query(query_id))["webhook_deliveries"] == []  # not per query
    (call,) = await receiver.until_calls(1)
    await asyncio.sleep(0.5)
    assert len(receiver.calls) == 1
    assert call.signed
    sent = call.json
    assert sent["type"] == "combo.finished"
    assert sent["combo"]["id"] == created["id"]
    assert sent["combo"]["status"] == "completed"
    assert sent["combo"]["by_status"] == {"completed": 3}
    assert sent["combo"]["records_fetched"] == 90
    assert sorted(q["id"] for q in sent["combo"]["queries"]) == sorted(created["query_ids"])
    assert sent["links"]["page"].endswith(f"/combos/{created['id']}")
    combo = (await app.api.get(f"/api/combos/{created['id']}")).json()
    assert combo["webhook"] == receiver.url
    assert [d["status"] for d in combo["webhook_deliveries"]] == ["delivered"]
    page = (await app.api.get(f"/combos/{created['id']}")).text
    assert receiver.url in page and "delivered" in page


async def test_a_combo_whose_last_query_is_cancelled_calls_its_webhook_once(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    body = {
        "source": "demo",
        "params": {"q": ["short total:20", "long total:100000"]},
        "webhook": receiver.url,
    }
    created = (await app.api.post("/api/combos", json=body)).json()
    short, long = created["query_ids"]
    await app.until(short, {"completed"})
    await app.until(long, {"running"})
    assert receiver.calls == []  # the combo has not finished
    assert (await app.api.post(f"/api/queries/{long}/cancel")).status_code == 202
    (call,) = await receiver.until_calls(1)
    assert call.signed and call.json["type"] == "combo.finished"
    assert call.json["combo"]["by_status"] == {"completed": 1, "cancelled": 1}
    await asyncio.sleep(0.5)
    assert len(receiver.calls) == 1


async def test_a_combo_whose_queries_are_all_cancelled_calls_no_webhook(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    body = {
        "source": "demo",
        "params": {"q": ["one total:100000", "two total:100000"]},
        "webhook": receiver.url,
    }
    created = (await app.api.post("/api/combos", json=body)).json()
    for query_id in created["query_ids"]:
        await app.until(query_id, {"running"})
        assert (await app.api.post(f"/api/queries/{query_id}/cancel")).status_code == 202
    for query_id in created["query_ids"]:
        await app.until(query_id, {"cancelled"})
    await asyncio.sleep(1.0)  # the cancel events' runs have had their time
    assert receiver.calls == []


async def test_a_failing_receiver_is_retried_and_the_query_page_shows_the_attempts(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    receiver.answers = [500]
    query_id = await app.run("retry total:20", webhook=receiver.url)
    await app.until(query_id)
    first, second = await receiver.until_calls(2)
    query = await _delivered(app, query_id)
    assert first.json["id"] == second.json["id"]  # one delivery, two attempts
    assert first.signed and second.signed
    (delivery,) = query["webhook_deliveries"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert delivery["response_status"] == 200
    page = (await app.api.get(f"/queries/{query_id}")).text
    assert "delivered</span> after 2 attempts" in page
    (run,) = await app.runs()
    steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
    (step,) = [s for s in steps if s["name"] == "webhook"]
    assert [a["status"] for a in step["attempts"]] == ["failed", "completed"]
    assert "answered 500" in json.dumps(step["attempts"][0]["error"])


async def test_a_receiver_that_always_fails_is_recorded_failed_after_the_retries(
    hooked: tuple[App, Receiver],
) -> None:
    app, receiver = hooked
    receiver.answers = [503] * 10
    query_id = await app.run("down total:20", webhook=receiver.url)
    assert (await app.until(query_id))["status"] == "completed"
    query = await _delivered(app, query_id)
    (delivery,) = query["webhook_deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 4  # 1 + 3 retries
    assert delivery["last_error"] == "answered 503: no thanks"
    assert len(receiver.calls) == 4
    assert (await app.query(query_id))["status"] == "completed"  # the query is unaffected


async def test_redirects_are_not_followed(hooked: tuple[App, Receiver]) -> None:
    app, receiver = hooked
    receiver.answers = [302]
    query_id = await app.run("moved total:20", webhook=receiver.url)
    await app.until(query_id)
    query = await _delivered(app, query_id)
    (delivery,) = query["webhook_deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1  # not retried either
    assert delivery["response_status"] == 302
    assert "redirects are not followed" in delivery["last_error"]
    await asyncio.sleep(0.3)
    assert len(receiver.calls) == 1 and receiver.redirected == 0


async def test_private_addresses_are_refused_without_the_setting(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"))) as app, receiving() as receiver:
        for url in (receiver.url, "http://localhost:8000/x", "http://[::1]/x", "http://10.0.0.8/"):
            for path in ("/api/queries/run", "/api/combos"):
                params: dict[str, Any] = {"q": "x"} if path.endswith("run") else {"q": ["x"]}
                body = {"source": "demo", "params": params, "webhook": url}
                response = await app.api.post(path, json=body)
                assert response.status_code == 422, (url, response.text)
                (error,) = response.json()["detail"]
                assert error["loc"] == ["body", "webhook"]
                assert "PAGERUNNER_WEBHOOK_ALLOW_PRIVATE" in error["msg"]
        for url, words in (
            ("ftp://example.com/x", "http:// or https://"),
            ("https://user:pw@example.com/x", "no user or password"),
            ("https://example.com/" + "a" * 2100, "2048"),
        ):
            body = {"source": "demo", "params": {"q": "x"}, "webhook": url}
            response = await app.api.post("/api/queries/run", json=body)
            assert response.status_code == 422 and words in response.text, response.text
            assert response.json()["detail"][0]["loc"] == ["body", "webhook"]
        # A name that resolves to a private address at send time (here: one stored before
        # the rule applied) is refused then, on the resolved address, and never called.
        services = app.runtime.services
        port = receiver.url.split(":")[2].split("/")[0]
        query = await services.store.create(
            "demo", {"q": "late total:20", "location": ""}, webhook=f"http://localhost:{port}/hook"
        )
        await services.schedule(query)
        await app.until(query.id)
        (delivery,) = (await _delivered(app, query.id))["webhook_deliveries"]
        assert delivery["status"] == "failed" and delivery["attempts"] == 1
        assert "127.0.0.1" in delivery["last_error"] and "non-public" in delivery["last_error"]
        assert receiver.calls == []


async def test_the_forms_take_and_check_a_webhook(hooked: tuple[App, Receiver]) -> None:
    app, receiver = hooked
    form = (await app.api.get("/queries/new")).text
    assert 'name="webhook"' in form and "X-Pagerunner-Signature" in form
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    fields = {"csrf_token": token, "source": "demo", "params.q": "form total:20"}
    bad = await app.api.post("/queries/new", data={**fields, "webhook": "gopher://x"})
    assert bad.status_code == 422 and "http:// or https://" in bad.text
    made = await app.api.post("/queries/new", data={**fields, "webhook": receiver.url})
    assert made.status_code == 303
    query_id = made.headers["location"].split("/")[2].split("?")[0]
    await app.until(query_id)
    (call,) = await receiver.until_calls(1)
    assert call.json["query"]["id"] == query_id
    combo_form = (await app.api.get("/combos/new")).text
    assert 'name="webhook"' in combo_form
    combo = await app.api.post(
        "/combos/new",
        data={
            "csrf_token": token,
            "source": "demo",
            "lines.q": "a total:5\nb total:5",
            "webhook": receiver.url,
            "action": "create",
        },
    )
    assert combo.status_code == 303
    _, second = await receiver.until_calls(2)
    assert second.json["type"] == "combo.finished"


async def test_without_a_secret_webhooks_are_sent_unsigned_and_say_so(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), webhook_allow_private=True)
    async with running_app(settings) as app, receiving() as receiver:
        query_id = await app.run("plain total:20", webhook=receiver.url)
        await app.until(query_id)
        (call,) = await receiver.until_calls(1)
        assert "x-pagerunner-signature" not in call.headers
        query = await _delivered(app, query_id)
        assert query["webhook_deliveries"][0]["signed"] is False
        assert "unsigned" in (await app.api.get(f"/queries/{query_id}")).text


async def test_serve_killed_during_a_delivery_still_delivers(tmp_path: Path) -> None:
    port = free_port()
    env = process_env(
        tmp_path / "pagerunner.db",
        port=port,
        page_delay_s="0",
        retry_base_s="0.05",
        log_level="warning",
        webhook_allow_private="true",
        webhook_secret=SECRET,
    )
    base = f"http://127.0.0.1:{port}"
    async with receiving() as receiver:
        receiver.hold = True
        proc = await start(["serve"], env, f"{base}/healthz")
        try:
            async with httpx.AsyncClient(base_url=base) as api:
                body = {"source": "demo", "params": {"q": "kill total:20"}, "webhook": receiver.url}
                query_id = (await api.post("/api/queries/run", json=body)).json()["id"]
                await asyncio.wait_for(receiver.arrived.wait(), timeout=20)
                proc.kill()  # SIGKILL while the receiver holds the first attempt
                await proc.wait()
                receiver.hold = False
                receiver.release.set()
                proc = await start(["serve"], env, f"{base}/healthz")
                calls = await receiver.until_calls(2, timeout_s=30)
                query = await query_until(api, query_id, {"completed"})
                for _ in range(200):
                    query = (await api.get(f"/api/queries/{query_id}")).json()
                    if query["webhook_deliveries"][0]["status"] == "delivered":
                        break
                    await asyncio.sleep(0.05)
        finally:
            proc.kill()
            await proc.wait()
    assert all(c.signed for c in calls)
    assert {c.json["id"] for c in calls} == {f"{query_id}.{query['run_id']}"}  # one delivery
    (delivery,) = query["webhook_deliveries"]
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 2
