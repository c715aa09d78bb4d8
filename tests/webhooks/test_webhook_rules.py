"""The webhook URL rule, the resolved-address check, the signature and one attempt's limits."""

from __future__ import annotations

import httpx
import pytest

from pagerunner.settings import Settings, webhook_secret_from_token
from pagerunner.webhooks import (
    DeliveryFailed,
    WebhookRefused,
    WebhookSender,
    check_url,
    sign,
    verify,
)
from pagerunner.webhooks.address import resolve
from pagerunner.webhooks.sender import MAX_ANSWER_BYTES


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://api.localhost/x",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata: link-local
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://0.0.0.0/",
        "http://100.64.0.1/",  # carrier-grade NAT
    ],
)
def test_private_literals_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(WebhookRefused, match="PAGERUNNER_WEBHOOK_ALLOW_PRIVATE"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://u:p@example.com/", "no user or password"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2048, "at most 2048"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url: str, words: str) -> None:
    with pytest.raises(WebhookRefused, match=words):
        check_url(url, allow_private=True)


def test_public_urls_pass() -> None:
    for url in ("https://hooks.example.com/a?b=c", "http://93.184.215.14:8080/x"):
        assert check_url(url, allow_private=False) == url


async def test_a_name_is_checked_on_every_address_it_resolves_to() -> None:
    with pytest.raises(WebhookRefused, match=r"localhost is 127\.0\.0\.1|localhost is ::1"):
        await resolve("http://localhost:9/x", allow_private=False)
    parts, address = await resolve("http://localhost:9/x", allow_private=True)
    assert parts.hostname == "localhost" and address in ("127.0.0.1", "::1")


def test_signatures_verify_only_with_the_secret_the_body_and_a_recent_time() -> None:
    body = b'{"id":"x"}'
    header = sign("s3cret", body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify("s3cret", body, header, now=1_700_000_100)
    assert not verify("other", body, header, now=1_700_000_100)
    assert not verify("s3cret", body + b" ", header, now=1_700_000_100)
    assert not verify("s3cret", body, header, now=1_700_000_000 + 301)  # replayed later
    assert not verify("s3cret", body, "v1=abc", now=1_700_000_000)


def test_the_secret_comes_from_the_environment_or_the_token_or_nothing() -> None:
    assert Settings(webhook_secret="w").webhook_signing_secret == "w"
    derived = Settings(api_token="tok").webhook_signing_secret
    assert derived == webhook_secret_from_token("tok") and "tok" not in derived
    assert Settings(webhook_secret="w", api_token="tok").webhook_signing_secret == "w"
    assert Settings().webhook_signing_secret is None


def _sender(handler: httpx.MockTransport) -> WebhookSender:
    return WebhookSender(timeout_s=2, allow_private=True, transport=handler)


async def test_an_attempt_goes_to_the_checked_address_with_the_original_host() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204, stream=httpx.ByteStream(b""))

    status = await _sender(httpx.MockTransport(answer)).send(
        "http://localhost:9/x?y=1", b"{}", {"X-A": "b"}
    )
    assert status == 204
    (request,) = seen
    assert request.url.host in ("127.0.0.1", "::1") and request.url.path == "/x"
    assert request.url.query == b"y=1"
    assert request.headers["host"] == "localhost:9" and request.headers["x-a"] == "b"


async def test_an_attempt_reads_a_few_kb_of_the_answer_at_most() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, stream=httpx.ByteStream(b"e" * (10 * MAX_ANSWER_BYTES)))

    with pytest.raises(DeliveryFailed) as failed:
        await _sender(httpx.MockTransport(answer)).send("http://127.0.0.1:9/", b"{}", {})
    assert failed.value.response_status == 500 and failed.value.retriable
    assert len(str(failed.value)) < 300


async def test_a_redirect_is_a_failure_that_is_not_retried() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        location = {"location": "http://169.254.169.254/"}
        return httpx.Response(307, headers=location, stream=httpx.ByteStream(b""))

    with pytest.raises(DeliveryFailed, match="redirects are not followed") as failed:
        await _sender(httpx.MockTransport(answer)).send("http://127.0.0.1:9/", b"{}", {})
    assert not failed.value.retriable


async def test_a_private_address_is_refused_at_send_time() -> None:
    sender = WebhookSender(timeout_s=2, allow_private=False)
    with pytest.raises(WebhookRefused):
        await sender.send("http://localhost:9/x", b"{}", {})
