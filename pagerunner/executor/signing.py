"""Inngest request signing and bearer authentication (protocol reference §5).

* Request and response signatures travel in ``X-Inngest-Signature: t=<unix s>&s=<hex>``,
  where ``s = HMAC-SHA256(key, body + str(t))``.
* The HMAC key is the signing key with its ``signkey-<env>-`` prefix removed, used as the
  UTF-8 bytes of the remaining hex *text* (not hex-decoded).
* Request bodies are sent as RFC 8785 (JCS) canonical JSON, and the signature covers exactly
  those bytes: the Python SDK canonicalizes what it receives before checking the HMAC.
* Apps authenticate to the executor with ``Authorization: Bearer <sha256 of the key bytes>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import jcs

from pagerunner.executor.errors import SignatureError

__all__ = [
    "bearer_token",
    "canonical_json",
    "check_bearer",
    "normalize_key",
    "sign",
    "verify",
]

_KEY_PREFIX_RE = re.compile(r"^signkey-\w+-")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}")
_BEARER_RE = re.compile(r"Bearer\s+(\S+)", re.IGNORECASE)


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` as RFC 8785 (JCS) canonical JSON bytes.

    Raises ``ValueError`` or ``TypeError`` if ``obj`` is not representable as JSON (for
    example NaN or a set).

    Without floats and big integers and with ASCII keys, JCS is what the standard
    library's C encoder writes with sorted keys and no spaces: the same escapes; JCS
    sorts keys by UTF-16 code units, which only differs from code points beyond ASCII;
    its numbers are ECMAScript's doubles, which only differs for floats and integers
    beyond 2^53. That is several times faster than the `jcs` package's Python encoder.
    """
    if _plain(obj):
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    out = jcs.canonicalize(obj)
    if not isinstance(out, bytes):  # pragma: no cover - jcs always returns bytes
        raise TypeError("jcs.canonicalize did not return bytes")
    return out


def _plain(obj: Any) -> bool:
    """No float or integer beyond 2^53 anywhere in `obj`, every key an ASCII string
    (see `canonical_json`)."""
    if isinstance(obj, dict):
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return all(_plain(v) for v in obj)
    if isinstance(obj, int):  # JCS writes integers beyond 2^53 as doubles
        return -_EXACT_INT <= obj <= _EXACT_INT
    return not isinstance(obj, float)


_EXACT_INT = 2**53


def _strip_prefix(signing_key: str) -> str:
    return _KEY_PREFIX_RE.sub("", signing_key, count=1)


def normalize_key(signing_key: str) -> bytes:
    """Return the HMAC key for ``signing_key``: prefix removed, hex text as UTF-8 bytes."""
    return _strip_prefix(signing_key).encode("utf-8")


def _mac(body: bytes, key: bytes, timestamp: int) -> str:
    mac = hmac.new(key, body, hashlib.sha256)
    mac.update(str(timestamp).encode("utf-8"))
    return mac.hexdigest()


def sign(body: bytes, signing_key: str, now: int | None = None) -> str:
    """Return the ``X-Inngest-Signature`` value for ``body``, signed at ``now`` (Unix seconds).

    ``body`` is signed exactly as given; for requests pass the ``canonical_json`` bytes that are
    also sent on the wire.
    """
    timestamp = int(time.time()) if now is None else now
    return f"t={timestamp}&s={_mac(body, normalize_key(signing_key), timestamp)}"


def _parse_header(header: str) -> tuple[int, str]:
    params = urllib.parse.parse_qs(header.strip())
    t_values = params.get("t", [])
    s_values = params.get("s", [])
    if len(t_values) != 1 or not _TIMESTAMP_RE.fullmatch(t_values[0]):
        raise SignatureError("X-Inngest-Signature header is malformed: bad or missing 't'")
    if len(s_values) != 1 or not _SIGNATURE_RE.fullmatch(s_values[0]):
        raise SignatureError("X-Inngest-Signature header is malformed: bad or missing 's'")
    return int(t_values[0]), s_values[0].lower()


def verify(
    header: str | None,
    body: bytes,
    signing_keys: Sequence[str],
    *,
    max_age_s: int | None = None,
    now: int | None = None,
) -> None:
    """Check an ``X-Inngest-Signature`` header against ``body`` and any of ``signing_keys``.

    ``body`` must be the exact signed bytes (the raw response body, or the canonical request
    body). The header's parameters may come in any order. When ``max_age_s`` is given, a
    timestamp more than that many seconds away from ``now`` (default: the current time) is
    rejected.

    Raises ``SignatureError`` if the header is missing or malformed, too old, no key is
    configured, or no key produces the signature.
    """
    if header is None or not header.strip():
        raise SignatureError("missing X-Inngest-Signature header")
    timestamp, signature = _parse_header(header)
    keys = [key for key in signing_keys if key]
    if not keys:
        raise SignatureError("cannot verify signature: no signing key configured")
    if max_age_s is not None:
        current = int(time.time()) if now is None else now
        age = abs(current - timestamp)
        if age > max_age_s:
            raise SignatureError(f"signature timestamp is {age}s away from now (max {max_age_s}s)")
    expected = signature.encode("ascii")
    matched = False
    for key in keys:
        computed = _mac(body, normalize_key(key), timestamp).encode("ascii")
        matched |= hmac.compare_digest(expected, computed)
    if not matched:
        raise SignatureError("signature does not match any signing key")


def bearer_token(signing_key: str) -> str:
    """Return the token the SDK sends as ``Authorization: Bearer <token>`` for ``signing_key``.

    That is the hex SHA-256 of the hex-decoded key (prefix removed). Raises ``SignatureError``
    if the key is not hex.
    """
    try:
        raw = bytes.fromhex(_strip_prefix(signing_key))
    except ValueError:
        raise SignatureError("signing key is not valid hex after its prefix") from None
    return hashlib.sha256(raw).hexdigest()


def check_bearer(authorization_header: str | None, signing_keys: Sequence[str]) -> bool:
    """Whether ``authorization_header`` carries the bearer token of one of ``signing_keys``.

    Accepts ``Bearer <hash>`` (Python SDK) and ``Bearer signkey-<env>-<hash>`` (JS SDK). Keys
    that are not valid hex are ignored.
    """
    if authorization_header is None:
        return False
    match = _BEARER_RE.fullmatch(authorization_header.strip())
    if match is None:
        return False
    presented = _strip_prefix(match.group(1)).lower().encode("utf-8")
    matched = False
    for key in signing_keys:
        try:
            expected = bearer_token(key).encode("ascii")
        except SignatureError:
            continue
        matched |= hmac.compare_digest(presented, expected)
    return matched
