"""The webhook signature: `X-Pagerunner-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is HMAC-SHA256 under the secret of `f"{t}.{body}"`, the body's exact
bytes, as Stripe signs its webhooks. Receivers recompute it, compare in constant
time and refuse an old `t` (a replayed call); docs/queries.md has the snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_S", "sign", "verify"]

SIGNATURE_HEADER = "X-Pagerunner-Signature"
TOLERANCE_S = 300


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` sent at `timestamp` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether `header` signs `body` under `secret`, within `tolerance_s` of `now`."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))
