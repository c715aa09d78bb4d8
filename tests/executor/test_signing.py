from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import jcs
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from inngest._internal import net, server_lib, transforms

from pagerunner.executor.errors import SignatureError
from pagerunner.executor.signing import (
    bearer_token,
    canonical_json,
    check_bearer,
    normalize_key,
    sign,
    verify,
)

HEX = hashlib.sha256(b"pagerunner test key").hexdigest()
KEY = f"signkey-test-{HEX}"
OTHER_HEX = hashlib.sha256(b"another key").hexdigest()
OTHER_KEY = f"signkey-prod-{OTHER_HEX}"
T = 1_700_000_000
SIG_HEADER = server_lib.HeaderKey.SIGNATURE.value  # "x-inngest-signature"

BODY_OBJ: dict[str, Any] = {
    "event": {"name": "shop/order.created", "data": {"id": 7, "price": 1.0}, "ts": 17},
    "steps": {},
    "use_api": False,
}


# --- canonical_json / normalize_key -------------------------------------------------------


def test_canonical_json_is_jcs() -> None:
    assert canonical_json({"b": 1.0, "a": [1, "é", None], "c": {"z": 1, "y": 2}}) == (
        '{"a":[1,"é",null],"b":1,"c":{"y":2,"z":1}}'.encode()
    )
    # json.dumps(sort_keys=True) would write 1.0 here; JCS writes 1.
    assert canonical_json(1.0) == b"1"


def test_canonical_json_matches_sdk_canonicalize() -> None:
    raw = json.dumps(BODY_OBJ, indent=2).encode()
    assert canonical_json(json.loads(raw)) == transforms.canonicalize(raw)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_canonical_json_fast_path_writes_what_jcs_writes(value: Any) -> None:
    # Floats, integers beyond 2^53 and keys beyond ASCII take the jcs package's path;
    # the rest the C encoder's: the bytes, which the SDK signs and checks, are the same.
    assert canonical_json(value) == jcs.canonicalize(value)
    assert canonical_json(value) == transforms.canonicalize(json.dumps(value).encode())


def test_normalize_key() -> None:
    assert normalize_key(KEY) == HEX.encode()
    assert normalize_key(HEX) == HEX.encode()
    assert normalize_key(f"signkey-branch_1-{HEX}") == HEX.encode()
    assert normalize_key(KEY) == transforms.remove_signing_key_prefix(KEY).encode()


# --- sign / verify ------------------------------------------------------------------------


def test_sign_format_and_value() -> None:
    body = canonical_json(BODY_OBJ)
    expected = hmac.new(HEX.encode(), body + str(T).encode(), hashlib.sha256).hexdigest()
    assert sign(body, KEY, now=T) == f"t={T}&s={expected}"


def test_sign_uses_current_time_by_default() -> None:
    header = sign(b"{}", KEY)
    verify(header, b"{}", [KEY], max_age_s=5)


def test_prefix_does_not_change_signature() -> None:
    body = canonical_json(BODY_OBJ)
    assert sign(body, KEY, now=T) == sign(body, HEX, now=T)
    assert sign(body, KEY, now=T) == sign(body, f"signkey-prod-{HEX}", now=T)


def test_signature_roundtrip() -> None:
    body = canonical_json(BODY_OBJ)
    verify(sign(body, KEY, now=T), body, [KEY])
    verify(sign(body, KEY, now=T), body, [HEX])  # bare key verifies too
    verify(sign(b"", KEY, now=T), b"", [KEY])  # GET: empty body signed as "" + t


def test_parameter_order_does_not_matter() -> None:
    body = canonical_json(BODY_OBJ)
    t_part, s_part = sign(body, KEY, now=T).split("&")
    verify(f"{s_part}&{t_part}", body, [KEY])


def test_tampered_body_fails() -> None:
    body = canonical_json(BODY_OBJ)
    header = sign(body, KEY, now=T)
    tampered = canonical_json({**BODY_OBJ, "use_api": True})
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, tampered, [KEY])


def test_tampered_timestamp_fails() -> None:
    body = canonical_json(BODY_OBJ)
    header = sign(body, KEY, now=T).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, body, [KEY])


def test_wrong_key_fails_and_any_key_may_match() -> None:
    body = canonical_json(BODY_OBJ)
    header = sign(body, KEY, now=T)
    with pytest.raises(SignatureError, match="does not match any signing key"):
        verify(header, body, [OTHER_KEY])
    verify(header, body, [OTHER_KEY, KEY])  # fallback key
    verify(header, body, ["", KEY])


def test_uppercase_hex_signature_accepted() -> None:
    body = b"{}"
    t_part, s_part = sign(body, KEY, now=T).split("&")
    verify(f"{t_part}&{s_part.upper().replace('S=', 's=')}", body, [KEY])


def test_no_signing_key_configured() -> None:
    with pytest.raises(SignatureError, match="no signing key configured"):
        verify(sign(b"{}", KEY, now=T), b"{}", [])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing X-Inngest-Signature header"):
        verify(header, b"{}", [KEY])


@pytest.mark.parametrize(
    ("header", "part"),
    [
        ("garbage", "'t'"),
        (f"s={'a' * 64}", "'t'"),
        (f"t=abc&s={'a' * 64}", "'t'"),
        (f"t=-5&s={'a' * 64}", "'t'"),
        (f"t=1&t=2&s={'a' * 64}", "'t'"),
        (f"t={T}", "'s'"),
        (f"t={T}&s=", "'s'"),
        (f"t={T}&s=xyz", "'s'"),
        (f"t={T}&s={'a' * 63}", "'s'"),
        (f"t={T}&s={'é' * 64}", "'s'"),
        (f"t={T}&s={'a' * 64}&s={'b' * 64}", "'s'"),
    ],
)
def test_malformed_header(header: str, part: str) -> None:
    with pytest.raises(SignatureError, match=f"malformed: bad or missing {part}"):
        verify(header, b"{}", [KEY])


def test_max_age() -> None:
    body = b"{}"
    header = sign(body, KEY, now=T)
    verify(header, body, [KEY], max_age_s=300, now=T + 300)
    verify(header, body, [KEY], max_age_s=300, now=T - 300)
    with pytest.raises(SignatureError, match="301s away from now"):
        verify(header, body, [KEY], max_age_s=300, now=T + 301)
    with pytest.raises(SignatureError, match="301s away from now"):
        verify(header, body, [KEY], max_age_s=300, now=T - 301)
    verify(header, body, [KEY], now=T + 10**6)  # no max age: age is not checked


# --- interop with the inngest 0.5.19 SDK --------------------------------------------------


def test_sdk_accepts_our_request_signature() -> None:
    body = canonical_json(BODY_OBJ)
    result = net.validate_request_sig(
        body=body,
        headers={SIG_HEADER: sign(body, KEY, now=T)},
        mode=server_lib.ServerKind.CLOUD,
        signing_key=KEY,
        signing_key_fallback=None,
    )
    assert result == KEY


def test_sdk_canonicalizes_so_signing_the_canonical_form_of_any_raw_body_works() -> None:
    raw = json.dumps(BODY_OBJ, indent=2).encode()  # not canonical: spaces, 1.0
    header = sign(canonical_json(json.loads(raw)), KEY, now=T)
    result = net.validate_request_sig(
        body=raw,
        headers={SIG_HEADER: header},
        mode=server_lib.ServerKind.CLOUD,
        signing_key=KEY,
        signing_key_fallback=None,
    )
    assert result == KEY


def test_sdk_rejects_our_signature_with_wrong_key_or_tampered_body() -> None:
    body = canonical_json(BODY_OBJ)
    header = sign(body, OTHER_KEY, now=T)
    result = net.validate_request_sig(
        body=body,
        headers={SIG_HEADER: header},
        mode=server_lib.ServerKind.CLOUD,
        signing_key=KEY,
        signing_key_fallback=None,
    )
    assert isinstance(result, Exception)
    # ... and accepts it through the SDK's own fallback-key path.
    result = net.validate_request_sig(
        body=body,
        headers={SIG_HEADER: header},
        mode=server_lib.ServerKind.CLOUD,
        signing_key=KEY,
        signing_key_fallback=OTHER_KEY,
    )
    assert result == OTHER_KEY
    result = net.validate_request_sig(
        body=canonical_json({**BODY_OBJ, "steps": {"x": None}}),
        headers={SIG_HEADER: sign(body, KEY, now=T)},
        mode=server_lib.ServerKind.CLOUD,
        signing_key=KEY,
        signing_key_fallback=None,
    )
    assert isinstance(result, Exception)


def test_sdk_signatures_verify_with_ours() -> None:
    response_body = b'{"result": 1.0, "b": [1, 2]}'  # raw bytes, not canonicalized
    header = net.sign_response(response_body, KEY, unix_ms=T)
    assert isinstance(header, str)
    verify(header, response_body, [KEY])
    assert header == sign(response_body, KEY, now=T)

    # The SDK's server-side request signer (canonicalizes first) also verifies with ours.
    raw = json.dumps(BODY_OBJ).encode()
    request_header = net.sign_request(raw, KEY, unix_ms=T)
    assert isinstance(request_header, str)
    verify(request_header, canonical_json(json.loads(raw)), [KEY])


def test_sdk_response_signature_rejected_for_other_body() -> None:
    header = net.sign_response(b'{"a":1}', KEY, unix_ms=T)
    assert isinstance(header, str)
    with pytest.raises(SignatureError):
        verify(header, b'{"a":2}', [KEY])


def test_end_to_end_with_a_real_cloud_mode_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed call to a real FastAPI-served function; its signed response verifies."""
    for var in ("INNGEST_DEV", "INNGEST_SIGNING_KEY_FALLBACK", "INNGEST_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    client = inngest.Inngest(app_id="sig-app", is_production=True, signing_key=KEY)

    @client.create_function(fn_id="echo", trigger=inngest.TriggerEvent(event="t/echo"))
    async def echo(ctx: inngest.Context) -> Any:
        return {"got": ctx.event.data["n"]}

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [echo])
    event = {"name": "t/echo", "data": {"n": 1.0}, "id": "e1", "ts": 1, "user": {}}
    body = canonical_json(
        {
            "event": event,
            "events": [event],
            "steps": {},
            "ctx": {
                "run_id": "01HF7YAT00000G40R40M30E20A",
                "attempt": 0,
                "disable_immediate_execution": False,
                "use_api": False,
                "stack": {"stack": [], "current": 0},
            },
            "use_api": False,
            "version": 2,
        }
    )
    url = "/api/inngest?fnId=sig-app-echo&stepId=step"
    headers = {"content-type": "application/json"}
    with TestClient(app) as http:
        res = http.post(url, content=body, headers={**headers, SIG_HEADER: sign(body, KEY)})
        assert res.status_code == 200, res.text
        assert res.json() == {"got": 1}
        verify(res.headers.get(SIG_HEADER), res.content, [KEY], max_age_s=60)
        with pytest.raises(SignatureError):
            verify(res.headers.get(SIG_HEADER), res.content, [OTHER_KEY])

        bad = http.post(url, content=body, headers={**headers, SIG_HEADER: sign(body, OTHER_KEY)})
        assert bad.status_code == 401


# --- bearer -------------------------------------------------------------------------------


def test_bearer_token_matches_sdk() -> None:
    assert bearer_token(KEY) == transforms.hash_signing_key(KEY)
    assert bearer_token(HEX) == transforms.hash_signing_key(KEY)
    assert bearer_token(KEY) == hashlib.sha256(bytes.fromhex(HEX)).hexdigest()
    # Not the hash of the hex text:
    assert bearer_token(KEY) != hashlib.sha256(HEX.encode()).hexdigest()


def test_bearer_token_rejects_non_hex_key() -> None:
    with pytest.raises(SignatureError, match="not valid hex"):
        bearer_token("signkey-test-nothex")


def test_check_bearer() -> None:
    token = transforms.hash_signing_key(KEY)
    assert check_bearer(f"Bearer {token}", [KEY])  # Python SDK form
    assert check_bearer(f"Bearer signkey-test-{token}", [KEY])  # JS SDK form
    assert check_bearer(f"bearer {token.upper()}", [KEY])
    assert check_bearer(f"Bearer {token}", [OTHER_KEY, KEY])  # fallback key
    assert check_bearer(f"Bearer {token}", ["signkey-test-nothex", KEY])
    assert not check_bearer(None, [KEY])
    assert not check_bearer("", [KEY])
    assert not check_bearer(f"Bearer {token}", [])
    assert not check_bearer(f"Bearer {token}", [OTHER_KEY])
    assert not check_bearer(f"Basic {token}", [KEY])
    assert not check_bearer(token, [KEY])
    assert not check_bearer(f"Bearer {KEY}", [KEY])  # the raw key is not the token
    assert not check_bearer("Bearer é", [KEY])


def test_check_bearer_against_sdk_outbound_request() -> None:
    """The Authorization header the SDK really puts on its outbound requests is accepted."""
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with httpx.Client(transport=httpx.MockTransport(handler)) as sync_client:
        req = sync_client.build_request("POST", "http://executor.test/fn/register", json={})
        res = net.fetch_with_auth_fallback_sync(
            sync_client, req, signing_key=KEY, signing_key_fallback=None
        )
    assert not isinstance(res, Exception)
    assert check_bearer(seen[0].headers["authorization"], [KEY])
    assert not check_bearer(seen[0].headers["authorization"], [OTHER_KEY])
